"""Robot ownership: at most one tracegen process commands an arm (IK controller XOR teleoperation).

The FR3's control interface (FCI) runs on one robot PC, so both commanding nodes run there too.
Each holds an exclusive lock on a file named after the robot's address (``fcntl.flock`` in
``$TRACEGEN_LOCK_DIR``, default the system temporary directory) for as long as it is connected;
the kernel releases it when the process ends, even on a crash, so a stale owner cannot exist.
The file names the owner (node name, pid, since when), so the refused one can say who has the
robot.

:class:`OwnedRobot` wraps any :class:`~tracegen.robot.interface.RobotInterface`: its
:meth:`connect` takes the lease first and raises ``RobotUnavailableError`` naming the owner when
another process holds it (the controller logs it and retries, so the second node takes over
once the first one stops); :meth:`close` releases it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
import time
from pathlib import Path

from tracegen.robot.errors import RobotUnavailableError
from tracegen.robot.interface import RobotInterface

#: Environment variable naming the directory of the lock files.
LOCK_DIR_ENV = "TRACEGEN_LOCK_DIR"


def lock_path(robot_ip: str, lock_dir: Path | str | None = None) -> Path:
    directory = Path(lock_dir or os.environ.get(LOCK_DIR_ENV) or tempfile.gettempdir())
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", robot_ip)
    return directory / f"tracegen-robot-{safe}.lock"


class RobotLease:
    """An exclusive, crash-safe claim on one robot (see the module docstring)."""

    def __init__(self, robot_ip: str, owner: str, lock_dir: Path | str | None = None) -> None:
        self.robot_ip = robot_ip
        self.owner = owner
        self.path = lock_path(robot_ip, lock_dir)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lease or raise ``RobotUnavailableError`` naming the current owner."""
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise RobotUnavailableError(
                f"cannot open the robot lease {self.path} ({exc}): make it writable for every user of "
                f"the robot, or point {LOCK_DIR_ENV} at a shared writable directory"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RobotUnavailableError(
                f"the robot at {self.robot_ip} is commanded by {self.current_owner()}; {self.owner} "
                "refuses to command it at the same time (stop the other node to hand the arm over)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.owner} (pid {os.getpid()}, since {time.strftime('%H:%M:%S')})".encode())
        self._fd = fd

    def current_owner(self) -> str:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        return text or "another process"

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock


class OwnedRobot:
    """A robot whose connection is guarded by a :class:`RobotLease` (delegates everything else)."""

    def __init__(self, robot: RobotInterface, lease: RobotLease) -> None:
        self._robot = robot
        self.lease = lease

    def connect(self) -> None:
        self.lease.acquire()
        try:
            self._robot.connect()
        except BaseException:
            if getattr(self._robot, "_connect_thread", None) is None:  # no attempt still under way
                self.lease.release()
            raise

    def close(self) -> None:
        try:
            self._robot.close()
        finally:
            self.lease.release()

    @property
    def connected(self) -> bool:
        return self._robot.connected

    @property
    def description(self) -> str:
        return self._robot.description

    def __getattr__(self, name: str):
        return getattr(self._robot, name)
