"""seld_ros: sound event localization and detection (SELD) for ROS 2.

Keep this file light: importing ``seld_ros.msg`` (the generated message
package) runs it, and so does every console entry point.

The package may live in two places at once: the source tree (or a pip
install of the ROS-free core) and a colcon install prefix, which also holds
the generated ``seld_ros.msg`` sub-package. ``extend_path`` merges every
``seld_ros`` directory on ``sys.path`` so that both halves import, whichever
one Python finds first.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)  # noqa: F821 (set by the import system)

__version__ = "0.1.0"
