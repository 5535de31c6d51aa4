"""A node process's life: rclpy initialised with our own SIGINT/SIGTERM handling, spin until asked to stop, then
clean up (the node's ``close``), with a FATAL line and exit status 1 for a node that cannot start."""
from __future__ import annotations

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

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum = None

    def __call__(self, signum, frame) -> None:
        self.signum = signum
        self.event.set()

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


def spin_until_stopped(node, stop: StopRequest, poll_s: float = 0.1) -> None:
    """Spin ``node`` until a stop is requested or the context shuts down (Humble and Jazzy API)."""
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
    stop = StopRequest()
    stop.install()
    node = None
    code = 0
    try:
        node = make_node(argv)
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
