"""The launch file: a user's params file wins over launch defaults, missing optional packages warn, no deprecated
conditions, and the docs quote every private topic remap."""
from __future__ import annotations

import ast
import importlib.util
import re
import sys
import types


from cli_helpers import REPO


# -- f05 / f06 / f13: the launch file ------------------------------------------------------------------------------
class _Ctx:
    def __init__(self, values):
        self.launch_configurations = dict(values)


def _stand_in_launch_modules(share_dirs: dict):
    """Minimal stand-ins for launch / launch_ros, ONLY to run the launch file's Python and look at the actions it
    builds (launch and launch_ros are not installable here; `ros2 launch` itself runs on real ROS installs)."""
    class Action:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context.launch_configurations[self.name]

    class PackageNotFoundError(KeyError):
        pass

    def get_package_share_directory(name):
        if name not in share_dirs:
            raise PackageNotFoundError(name)
        return share_dirs[name]

    mods = {
        "launch": types.SimpleNamespace(LaunchDescription=Action),
        "launch.actions": types.SimpleNamespace(**{n: type(n, (Action,), {}) for n in (
            "DeclareLaunchArgument", "GroupAction", "LogInfo", "OpaqueFunction")}),
        "launch.substitutions": types.SimpleNamespace(LaunchConfiguration=LaunchConfiguration),
        "launch_ros.actions": types.SimpleNamespace(Node=type("Node", (Action,), {}),
                                                    PushRosNamespace=type("PushRosNamespace", (Action,), {})),
        "ament_index_python.packages": types.SimpleNamespace(
            PackageNotFoundError=PackageNotFoundError, get_package_share_directory=get_package_share_directory),
    }
    return mods


def _launch(monkeypatch, given: dict, installed=("seld_ros",)):
    """Run generate_launch_description() + its OpaqueFunction with launch arguments ``given`` (as
    `ros2 launch seld_ros seld.launch.py k:=v` would); returns the actions it creates."""
    shares = {p: f"/opt/ros/share/{p}" for p in installed}
    for name, mod in _stand_in_launch_modules(shares).items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("seld_launch_under_test", REPO / "launch" / "seld.launch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ld = mod.generate_launch_description()
    entities = ld.args[0]
    declared = {e.args[0]: e.kwargs["default_value"] for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    unknown = set(given) - set(declared)
    assert not unknown, f"not launch arguments: {unknown}"
    opaque = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    assert len(opaque) == 1
    (group,) = opaque[0].kwargs["function"](_Ctx({**declared, **given}))
    return group.args[0]


def _nodes(actions, package=None):
    return [a for a in actions if type(a).__name__ == "Node" and (package is None or a.kwargs["package"] == package)]


# -- README quoting -------------------------------------------------------------------------------------------
def test_docs_quote_every_private_topic_remap():
    """bash expands an unquoted `~` in `-r ~/audio:=/mic/foa` to the home folder: the remap is silently ignored."""
    bad = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "scripts").glob("*.sh"))]:
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            for m in re.finditer(r"(-r|--remap|-p|--param)\s+(\S+)", line):
                arg = m.group(2)
                if arg.startswith("~") and ":=" in arg:
                    bad.append(f"{doc.name}:{n}: {line.strip()}")
    assert not bad, "unquoted ~ remaps (quote them: -r '~/audio:=/mic/foa'):\n" + "\n".join(bad)
    assert "-r '~/audio:=/mic/foa'" in (REPO / "README.md").read_text()


def test_users_params_file_wins_over_launch_defaults(monkeypatch):
    actions = _launch(monkeypatch, {"params_file": "/home/me/my_seld.yaml"})
    (node,) = _nodes(actions, "seld_ros")
    params = node.kwargs["parameters"]
    # package defaults, then the user's file, and NO launch-default dict overriding it
    assert params == ["/opt/ros/share/seld_ros/config/seld.yaml", "/home/me/my_seld.yaml"]
    # an argument the user sets explicitly still wins over both
    actions = _launch(monkeypatch, {"params_file": "/home/me/my_seld.yaml", "backend": "torch",
                                    "use_sim_time": "true"})
    params = _nodes(actions, "seld_ros")[0].kwargs["parameters"]
    assert params[1] == "/home/me/my_seld.yaml" and params[2] == {"backend": "torch", "use_sim_time": True}
    assert _nodes(actions, "seld_ros")[0].kwargs["remappings"] == [("~/audio", "audio")]


def test_missing_rviz2_or_tf2_ros_warns_and_the_node_still_starts(monkeypatch):
    actions = _launch(monkeypatch, {"rviz": "true", "parent_frame": "base_link"})
    assert len(_nodes(actions, "seld_ros")) == 1 and not _nodes(actions, "rviz2") and not _nodes(actions, "tf2_ros")
    logs = " ".join(a.kwargs["msg"] for a in actions if type(a).__name__ == "LogInfo")
    assert "rviz2" in logs and "tf2_ros" in logs and "starts anyway" in logs
    # installed: both started, TF child = the (default) array frame
    actions = _launch(monkeypatch, {"rviz": "true", "parent_frame": "base_link", "mic_z": "0.5"},
                      installed=("seld_ros", "rviz2", "tf2_ros"))
    (tf,) = _nodes(actions, "tf2_ros")
    a = tf.kwargs["arguments"]
    assert a[a.index("--frame-id") + 1] == "base_link" and a[a.index("--child-frame-id") + 1] == "mic_array"
    assert a[a.index("--z") + 1] == "0.5" and len(_nodes(actions, "rviz2")) == 1


def test_launch_file_uses_no_deprecated_conditions():
    """LaunchConfigurationEquals/NotEquals warn as deprecated on Jazzy; the file decides in Python instead."""
    tree = ast.parse((REPO / "launch" / "seld.launch.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not names & {"LaunchConfigurationEquals", "LaunchConfigurationNotEquals", "IfCondition"}

