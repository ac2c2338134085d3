"""A franky-sim server (MuJoCo FR3 speaking libfranka's protocol) in a child process, for tests.

Run as a script: ``python franky_sim.py --hostname 127.a.b.c [--q q1 ... q7]`` serves one
simulated FR3 (with gripper) starting at joint positions ``q`` until SIGINT/SIGTERM. From tests,
:func:`start_franky_sim` starts it on a free loopback address and waits until franky can
connect; :func:`stop` (support.processes) ends it.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

#: A posture with the gripper in view of the default calibration's camera: the TCP 22 cm above
#: the table at (0.45, 0), pointing down (tracegen.sim.world's READY_Q_RAD).
VIEW_Q_RAD = (0.0, -0.1289, 0.0, -2.5263, 0.0, 2.3974, 0.785)


def start_franky_sim(
    hostname: str,
    log_path: Path,
    *,
    q_rad: Sequence[float] = VIEW_Q_RAD,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
) -> subprocess.Popen:
    """Start the server and return once a franky client could connect (raises on timeout)."""
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [sys.executable, __file__, "--hostname", hostname, "--q", *(f"{v:.9f}" for v in q_rad)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else None,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"franky-sim exited with {proc.returncode}: {log_path.read_text(errors='replace')}"
            )
        if b"serving" in log_path.read_bytes():
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(
        f"franky-sim did not start within {timeout_s} s: {log_path.read_text(errors='replace')}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hostname", required=True)
    parser.add_argument("--q", type=float, nargs=7, default=VIEW_Q_RAD)
    args = parser.parse_args(argv)
    import franky_sim
    from franky_sim.mujoco_simulator import MujocoSimulator

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    with MujocoSimulator() as sim:
        sim.add_robot(initial_q=tuple(args.q))
        with franky_sim.SimulationServer(sim, hostname_candidates=[args.hostname]) as server:
            print(f"serving a simulated FR3 at {args.hostname}", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                server.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
