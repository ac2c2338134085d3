"""`tracegen bringup`: the node graph as supervised child processes, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tracegen_ros.bringup import ChildProcess, Supervisor
from tracegen_ros.graph import argument_values, resolve, tracegen_graph

from support.nodes_scenes import write_recording


class Bringup:
    """``tracegen bringup ...`` in its own process with its output collected."""

    def __init__(self, args: list[str], env, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracegen.cli.main", "bringup", *args],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if re.search(pattern, self.log()):
                return True
            if self.process.poll() is not None:
                return bool(re.search(pattern, self.log()))
            time.sleep(0.2)
        return False

    def interrupt(self, timeout_s: float = 60.0) -> int:
        """Ctrl-C, as on a terminal; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code


# --- the supervisor with plain processes ------------------------------------------------------------


def python_child(name: str, code: str) -> ChildProcess:
    return ChildProcess(name, [sys.executable, "-c", code])


#: 'up' is printed inside the try: the test sends SIGINT as soon as it reads 'up', and Python may
#: raise the KeyboardInterrupt before it reaches a try that follows the print (seen in CI).
SLEEPER = """
import time
try:
    print('up', flush=True)
    time.sleep(120)
except KeyboardInterrupt:
    print('clean stop', flush=True)
"""


def run_supervisor(children, **kwargs):
    lines: list[str] = []
    supervisor = Supervisor(children, {"PATH": "/usr/bin:/bin"}, echo=lines.append, **kwargs)
    supervisor.start()
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.setdefault("status", supervisor.run(poll_s=0.05)))
    thread.start()
    return supervisor, thread, lines, result


def wait_for_line(lines, text, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(text in line for line in lines):
            return True
        time.sleep(0.05)
    return False


def test_a_node_that_dies_is_reported_and_the_others_keep_running(tmp_path):
    children = [python_child("steady", SLEEPER), python_child("crasher", "import sys; sys.exit(3)")]
    supervisor, thread, lines, result = run_supervisor(children, log_dir=tmp_path)
    assert wait_for_line(lines, "[bringup] crasher exited with status 3")
    assert children[0].process.poll() is None, "the other node keeps running"
    assert wait_for_line(lines, "[steady] up")
    supervisor.request_stop()
    thread.join(30)
    assert result["status"] == 1, "a failed node makes the bringup fail"
    assert children[0].process.returncode == 0
    assert (tmp_path / "steady.log").read_text().split() == ["up", "clean", "stop"], "stopped with SIGINT"


def test_stop_on_failure_stops_every_node(tmp_path):
    children = [
        python_child("steady", SLEEPER),
        python_child("crasher", "import time, sys; time.sleep(0.5); sys.exit(1)"),
    ]
    _, thread, lines, result = run_supervisor(children, stop_on_failure=True)
    thread.join(30)
    assert result["status"] == 1
    assert any("stopping every node" in line for line in lines)
    assert children[0].process.returncode is not None


def test_a_node_ignoring_sigint_is_terminated():
    stubborn = "\n".join(
        [
            "import signal, time",
            "signal.signal(signal.SIGINT, signal.SIG_IGN)",
            "print('up', flush=True)",
            "time.sleep(120)",
        ]
    )
    children = [python_child("stubborn", stubborn)]
    supervisor, thread, lines, result = run_supervisor(children, stop_timeout_s=1.0)
    assert wait_for_line(lines, "[stubborn] up")
    started = time.monotonic()
    supervisor.request_stop()
    thread.join(60)
    assert children[0].process.returncode == -signal.SIGTERM
    assert time.monotonic() - started < 30
    assert result["status"] == 1


# --- tracegen bringup with the real nodes -------------------------------------------------------------

#: What each node says while it waits on a machine with no camera, no model and no robot.
WAITING = {
    "camera": r"waiting for the RealSense camera",
    "inference_node": r"no model: set model.checkpoint",
    "demo_recorder": r"ready: \d+ topics",
}


def test_dry_run_prints_one_command_per_node_of_the_graph(tmp_path, node_env):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracegen.cli.main",
            "bringup",
            "--dry-run",
            "--record-demos",
            "--instruction",
            "put the block in the bowl",
        ],
        env=node_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    graph = tracegen_graph()
    expected = [n.spec.name for n in resolve(graph, argument_values(graph, {"record_demos": "true"}))]
    printed = [line.split(":")[0] for line in out.stdout.splitlines() if not line.startswith(" ")]
    assert printed == expected
    assert "'instruction': 'put the block in the bowl'" in out.stdout


@pytest.mark.ros
@pytest.mark.slow
def test_every_node_starts_with_defaults_waits_and_stops_cleanly_on_ctrl_c(tmp_path, node_env):
    bringup = Bringup(
        [
            "--record-demos",
            "--set",
            f"demo_recorder:output_dir:={tmp_path / 'demos'}",
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        node_env,
        tmp_path / "bringup.log",
    )
    try:
        for name, pattern in WAITING.items():
            assert bringup.wait_for(rf"\[{name}\] .*{pattern}", 120.0), bringup.log()[-4000:]
        time.sleep(3.0)
        assert bringup.process.poll() is None
        assert "exited" not in bringup.log(), bringup.log()[-4000:]
        graph = tracegen_graph()
        for node in resolve(graph, argument_values(graph, {"record_demos": "true"})):
            assert (tmp_path / "logs" / f"{node.spec.name}.log").stat().st_size > 0, (
                f"{node.spec.name} said nothing"
            )
    finally:
        status = bringup.interrupt()
    assert status == 0, bringup.log()[-4000:]
    assert "[bringup] stopping" in bringup.log()


@pytest.mark.ros
@pytest.mark.slow
def test_a_recording_flows_from_camera_to_traces_and_a_failing_node_is_reported(tmp_path, node_env):
    recording = write_recording(tmp_path / "scene.db3", 30)
    bringup = Bringup(
        [
            "--only",
            "camera,inference_node",
            "--recording",
            str(recording),
            "--instruction",
            "push the block",
            "--set",
            "camera:playback.on_end:=loop",
            "--set",
            "inference_node:model.preset:=tiny",
            "--set",
            "inference_node:model.steps:=2",
            "--set",
            "inference_node:model.threads:=1",
        ],
        node_env,
        tmp_path / "bringup.log",
    )
    try:
        assert bringup.wait_for(r"\[inference_node\] .*trace 1: ", 180.0), bringup.log()[-4000:]
    finally:
        assert bringup.interrupt() == 0, bringup.log()[-4000:]

    failing = Bringup(
        ["--only", "camera,inference_node", "--set", "inference_node:model.device:=tpu"],
        node_env,
        tmp_path / "failing.log",
    )
    try:
        assert failing.wait_for(r"\[bringup\] inference_node exited with status 2", 60.0), failing.log()
        assert "model.device is 'tpu'" in failing.log()
        assert failing.wait_for(r"\[camera\] .*waiting for the RealSense camera", 60.0)
        assert failing.process.poll() is None, "the camera keeps running"
    finally:
        assert failing.interrupt() == 1, "the bringup reports that a node failed"
