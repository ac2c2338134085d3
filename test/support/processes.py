"""Start and stop real child processes (nodes, publishers) from tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def start_python(
    script: Path | str, args: Sequence[str], env: Mapping[str, str], log_path: Path
) -> subprocess.Popen:
    """Run ``python script args...`` with output to ``log_path`` (read it on failure)."""
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the process, closed in stop()
    return subprocess.Popen(
        [sys.executable, str(script), *args], env=dict(env), stdout=log, stderr=subprocess.STDOUT
    )


def wait_for_file(path: Path, timeout_s: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 0:
            return True
        if proc is not None and proc.poll() is not None:
            return path.exists() and path.stat().st_size > 0
        time.sleep(0.05)
    return False


def stop(proc: subprocess.Popen, timeout_s: float = 10.0) -> int:
    """SIGINT (a node's clean Ctrl-C path), then SIGKILL if it does not exit."""
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            kill_with_children(proc)
    return proc.returncode


def kill_with_children(proc: subprocess.Popen) -> None:
    """SIGKILL a process that did not stop and its direct children (the nodes a command started):
    killed alone, it leaves them running, and they answer the next tests' calls."""
    for pid in child_pids(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text`` (the nodes' params paths do)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                pids.append(int(proc.name))
    return pids


def child_pids(pid: int) -> list[int]:
    """Direct children of a live process (from /proc; [] once it is gone)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie awaiting its parent counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return False
