"""A node process's life: rclpy initialised with our own SIGINT/SIGTERM handling, spin until asked to stop, then
clean up (the node's ``close``), with a FATAL line and exit status 1 for a node that cannot start."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import rclpy
from rclpy.executors import SingleThreadedExecutor

from seld_ros.ros.params import StartupError

try:  # rclpy >= Humble
    from rclpy.executors import ExternalShutdownException
except ImportError:  # pragma: no cover
    class ExternalShutdownException(Exception):
        pass


def init_rclpy(argv) -> None:
    """Our own SIGINT/SIGTERM handling where rclpy allows it, so the node can clean up (clear its
    RViz markers) before the context goes away."""
    try:
        from rclpy.signals import SignalHandlerOptions
    except ImportError:  # pragma: no cover - older rclpy: default handlers
        rclpy.init(args=argv)
        return
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)


class StopRequest:
    """SIGINT / SIGTERM only set a flag that the spin loop polls.

    Python's default SIGINT handling raises KeyboardInterrupt in whatever the main thread runs at that moment;
    when that is a ``__del__`` (rclpy's ``Task.__del__`` runs often during spinning) Python prints "Exception
    ignored" and drops it, and the node keeps spinning forever. Setting a flag cannot be lost that way."""

    def __init__(self, name: str = "seld_node") -> None:
        self.name = name
        self.event = threading.Event()
        self.signum = None
        self.spinning = False  # before the spin loop, a stop ends the start-up (model load, ONNX export) at once

    def __call__(self, signum, frame) -> None:
        first = not self.event.is_set()
        self.signum = signum
        self.event.set()
        if not self.spinning and first:
            # Start-up can take seconds (a first-start ONNX export: ~20 s) and polls nothing, and an exception
            # raised into it can land in any constructor or __del__ (a traceback): nothing is published yet.
            os.write(2, f"[{self.name}] stopped during start-up\n".encode())
            os._exit(0)

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


def spin_until_stopped(node, stop: StopRequest, poll_s: float = 0.1) -> None:
    """Spin ``node`` until a stop is requested or the context shuts down (Humble and Jazzy API)."""
    stop.spinning = True  # from here a stop only sets the flag this loop polls
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.event.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=poll_s)
    finally:
        executor.remove_node(node)
        executor.shutdown()


def run(make_node, argv, name: str):
    """Initialise, build the node (``make_node(argv)``), spin, close and shut down; returns (exit status, node)."""
    try:
        init_rclpy(argv)
    except Exception as exc:  # e.g. a params file that is not valid YAML: rcl refuses the arguments
        print(f"[{name}] FATAL: cannot initialise ROS with the given arguments: {exc}", file=sys.stderr, flush=True)
        return 1, None
    stop = StopRequest(name)
    stop.install()
    node = None
    code = 0
    try:
        node = make_node(argv)
        if not stop.event.is_set():
            spin_until_stopped(node, stop)
    except StartupError as exc:
        print(f"[{name}] FATAL: {exc}", file=sys.stderr, flush=True)
        code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return code, node


class _RosLogHandler(logging.Handler):
    """seld_ros's ROS-free modules log with Python logging; inside a node their lines go to its ROS logger (its name,
    level and time, like every other line), not bare to stderr (issue 25: the onnxscript fallback)."""

    def __init__(self, ros_logger):
        super().__init__(logging.INFO)
        self.ros_logger = ros_logger

    def emit(self, record) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.ERROR:
                self.ros_logger.error(text)
            elif record.levelno >= logging.WARNING:
                self.ros_logger.warning(text)
            else:
                self.ros_logger.info(text)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def route_python_logging(ros_logger) -> logging.Handler:
    """Send the ``seld_ros`` Python loggers (INFO and up: e.g. the first-start ONNX export line) to ``ros_logger``;
    returns the handler, for ``logging.getLogger("seld_ros").removeHandler`` at the end."""
    handler = _RosLogHandler(ros_logger)
    own = logging.getLogger("seld_ros")
    own.addHandler(handler)
    own.setLevel(logging.INFO)
    own.propagate = False  # not twice (Python's last-resort handler prints WARNING lines bare to stderr)
    return handler
