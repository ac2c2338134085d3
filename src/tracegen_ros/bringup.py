"""Start the node graph as supervised child processes (``tracegen bringup``), without ROS launch.

Each node of :func:`tracegen_ros.graph.resolve` runs as ``python -m tracegen_ros.nodes.<name>``
with its params file, a generated file of argument overrides, its remappings, and the
environment of :func:`tracegen.runtime_env.ros_environment` (generated messages importable
without sourcing anything). Output lines are prefixed with the node name, as ros2 launch does,
and optionally kept in ``<log_dir>/<node>.log``.

Supervision follows ros2 launch: a node that exits is reported with its status and the others
keep running (``stop_on_failure`` stops all instead); Ctrl-C or SIGTERM stops all of them with
SIGINT (their clean shutdown path), then SIGTERM and SIGKILL for any that hang.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tracegen.errors import InputError
from tracegen_ros.graph import ResolvedNode, format_command, node_command, overrides_yaml


@dataclass
class ChildProcess:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    reported: bool = False


def prepare_commands(nodes: Sequence[ResolvedNode], work_dir: Path) -> list[ChildProcess]:
    """One child per node; writes each node's argument overrides to ``work_dir/<node>.params.yaml``.

    External executables (rviz2) that are not on PATH are refused with what to install.
    """
    children = []
    for node in nodes:
        overrides = None
        if node.parameters:
            overrides = work_dir / f"{node.spec.name}.params.yaml"
            overrides.write_text(overrides_yaml(node), encoding="utf-8")
        command = node_command(node, overrides)
        if node.spec.package != "tracegen" and shutil.which(command[0]) is None:
            raise InputError(
                f"{node.spec.name} needs the executable {command[0]!r}, which is not on PATH: install "
                f"ROS 2's {node.spec.package} or leave it out (e.g. rviz:=false)"
            )
        children.append(ChildProcess(node.spec.name, command))
    return children


class Supervisor:
    """Runs children, forwards their output, reports exits, stops them all on request."""

    def __init__(
        self,
        children: list[ChildProcess],
        env: Mapping[str, str],
        *,
        echo: Callable[[str], None] = print,
        log_dir: Path | None = None,
        stop_on_failure: bool = False,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.children = children
        self.env = dict(env)
        self.echo = echo
        self.log_dir = log_dir
        self.stop_on_failure = stop_on_failure
        self.stop_timeout_s = stop_timeout_s
        self._stop = threading.Event()
        self._echo_lock = threading.Lock()

    def request_stop(self) -> None:
        self._stop.set()

    def start(self) -> None:
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children:
            self._say("bringup", f"starting {child.name}: {format_command(child.command)}")
            # A new session per child: Ctrl-C on the terminal reaches only the supervisor, which
            # then stops the children in order (no double SIGINT).
            child.process = subprocess.Popen(
                child.command,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            child.reader = threading.Thread(target=self._forward, args=(child,), daemon=True)
            child.reader.start()

    def _forward(self, child: ChildProcess) -> None:
        log = open(self.log_dir / f"{child.name}.log", "ab") if self.log_dir else None  # noqa: SIM115
        try:
            for raw in iter(child.process.stdout.readline, b""):
                if log is not None:
                    log.write(raw)
                    log.flush()
                self._say(child.name, raw.decode("utf-8", "replace").rstrip("\n"))
        finally:
            if log is not None:
                log.close()

    def _say(self, name: str, line: str) -> None:
        with self._echo_lock:
            self.echo(f"[{name}] {line}")

    def run(self, poll_s: float = 0.2) -> int:
        """Supervise until every child has exited or a stop is requested; returns an exit status.

        0 when stopped on request (or all children ended cleanly), 1 when any child failed.
        """
        failed = False
        while not self._stop.is_set():
            running = 0
            for child in self.children:
                code = child.process.poll()
                if code is None:
                    running += 1
                elif not child.reported:
                    child.reported = True
                    failed |= code != 0
                    self._report_exit(child, code)
                    if code != 0 and self.stop_on_failure:
                        self._say("bringup", f"{child.name} failed: stopping every node (stop_on_failure)")
                        self._stop.set()
            if running == 0:
                self._say("bringup", "every node has exited")
                break
            self._stop.wait(poll_s)
        failed |= self.stop_all()
        return 1 if failed else 0

    def _report_exit(self, child: ChildProcess, code: int) -> None:
        if code == 0:
            self._say("bringup", f"{child.name} exited cleanly")
        elif code < 0:
            self._say("bringup", f"{child.name} was killed by signal {signal.Signals(-code).name}")
        else:
            self._say("bringup", f"{child.name} exited with status {code} (see its log lines above)")

    def stop_all(self) -> bool:
        """SIGINT every running child, then SIGTERM / SIGKILL stragglers; True if any failed."""
        timeout_s = self.stop_timeout_s
        failed = False
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        if running:
            self._say("bringup", f"stopping {', '.join(c.name for c in running)}")
        for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            running = [c for c in running if c.process.poll() is None]
            for child in running:
                _signal_group(child.process, sig)
            deadline = time.monotonic() + wait_s
            while running and time.monotonic() < deadline and any(c.process.poll() is None for c in running):
                time.sleep(0.05)
            if sig != signal.SIGINT:
                for child in running:
                    if child.process.poll() is not None and not child.reported:
                        self._say("bringup", f"{child.name} did not stop on SIGINT; sent {sig.name}")
        for child in self.children:
            if child.process is None:
                continue
            code = child.process.wait()
            if child.reader is not None:
                child.reader.join(timeout=2.0)
            if not child.reported:
                child.reported = True
                # Exiting on the SIGINT we sent is a clean stop.
                if code not in (0, -signal.SIGINT):
                    failed = True
                    self._report_exit(child, code)
        return failed


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # exited meanwhile
        os.killpg(process.pid, sig)


def make_work_dir() -> Path:
    """A private directory for the generated override files of one bringup."""
    return Path(tempfile.mkdtemp(prefix="tracegen-bringup-"))
