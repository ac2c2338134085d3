"""Running a terminal program (``tracegen teleop --keyboard``) on a pseudo-terminal in tests."""

from __future__ import annotations

import os
import pty
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

from support.processes import stop


def start_in_pty(command: Sequence[str], env: Mapping[str, str]) -> tuple[subprocess.Popen, int]:
    """Run ``command`` with a pseudo-terminal as stdin/stdout/stderr; returns (process, master fd)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(list(command), stdin=slave, stdout=slave, stderr=slave, env=dict(env))
    os.close(slave)
    return process, master


class PtyOutput:
    """Everything the program wrote to its terminal, collected on a thread."""

    def __init__(self, master: int, process: subprocess.Popen | None = None) -> None:
        self.master = master
        self.process = process
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self._chunks.append(data)

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def wait_for(self, needle: str, timeout_s: float = 30.0, *, count: int = 1) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.text.count(needle) >= count:
                return True
            if self.process is not None and self.process.poll() is not None:
                time.sleep(0.2)  # the last output
                return self.text.count(needle) >= count
            time.sleep(0.05)
        return False


def stop_terminal_program(process: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Ctrl-C (SIGINT) so the program stops what it started, SIGKILL (with its nodes) only if it hangs."""
    stop(process, timeout_s)
