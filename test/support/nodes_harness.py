"""Running tracegen nodes as real child processes and talking to them from the test process.

:func:`start_node` builds the node's command with the node graph's own ``node_command`` (the
code ``tracegen bringup`` uses); :class:`RosProbe` is an rclpy node in the test process (its own
context, spun on a thread) that publishes, collects messages and calls services over DDS.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from tracegen.resources import share_dir
from tracegen_ros.graph import NodeSpec, ResolvedNode, node_command, overrides_yaml


class NodeProcess:
    """A node in a child process with its output in a log file."""

    def __init__(self, command: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, pattern: str, timeout_s: float = 30.0, *, count: int = 1) -> bool:
        """True once ``pattern`` (a regex) occurs ``count`` times in the output."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(regex.findall(self.log())) >= count:
                return True
            if self.process.poll() is not None:
                return len(regex.findall(self.log())) >= count
            time.sleep(0.1)
        return False

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGINT (the node's Ctrl-C path), then SIGKILL if it hangs; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def start_node(
    executable: str,
    tmp_path: Path,
    env: Mapping[str, str],
    *,
    name: str,
    namespace: str = "",
    parameters: Mapping[str, Any] | None = None,
    params_file: str | None = None,
    remappings: tuple[tuple[str, str], ...] = (),
) -> NodeProcess:
    """Start ``tracegen_ros.nodes.<executable>`` with config/<params_file> then ``parameters``."""
    spec = NodeSpec(
        name=name, executable=executable, namespace=namespace, params_file=params_file, remappings=remappings
    )
    config = share_dir() / "config" / params_file if params_file else None
    node = ResolvedNode(spec, config, dict(parameters or {}), ())
    overrides = None
    if node.parameters:
        overrides = tmp_path / f"{name}.overrides.yaml"
        overrides.write_text(overrides_yaml(node), encoding="utf-8")
    return NodeProcess(node_command(node, overrides), env, tmp_path / f"{name}.log")


class Collector:
    """Messages received on one topic, with a wait."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._condition = threading.Condition()

    def add(self, msg: Any) -> None:
        with self._condition:
            self.messages.append(msg)
            self._condition.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout_s: float = 30.0) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: predicate(self.messages), timeout_s)

    def wait_count(self, count: int, timeout_s: float = 30.0) -> bool:
        return self.wait_for(lambda msgs: len(msgs) >= count, timeout_s)

    def matching(self, predicate: Callable[[Any], bool]) -> list[Any]:
        with self._condition:
            return [m for m in self.messages if predicate(m)]

    def clear(self) -> None:
        with self._condition:
            self.messages.clear()


class RosProbe:
    """An rclpy node in the test process, in its own context, spinning on a background thread."""

    def __init__(self, name: str = "test_probe") -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        with contextlib.suppress(Exception):  # the context was shut down by close()
            self.executor.spin()

    def now(self):
        return self.node.get_clock().now()

    def publisher(self, msg_type: type, topic: str, qos) -> Any:
        return self.node.create_publisher(msg_type, topic, qos)

    def collect(self, msg_type: type, topic: str, qos) -> Collector:
        collector = Collector()
        self.node.create_subscription(msg_type, topic, collector.add, qos)
        return collector

    def wait_for_subscribers(self, publisher: Any, count: int = 1, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if publisher.get_subscription_count() >= count:
                return True
            time.sleep(0.05)
        return False

    def wait_for_publishers(self, topic: str, count: int = 1, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.node.count_publishers(topic) >= count:
                return True
            time.sleep(0.05)
        return False

    def call(self, srv_type: type, name: str, request: Any = None, timeout_s: float = 30.0) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                raise TimeoutError(f"service {name} did not appear within {timeout_s} s")
            future = client.call_async(request if request is not None else srv_type.Request())
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            if not done.wait(timeout_s):
                raise TimeoutError(f"service {name} did not answer within {timeout_s} s")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)
