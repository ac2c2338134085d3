"""Render the simulated camera in a child process, so the physics thread keeps its 1 kHz.

MuJoCo's ``Renderer.render`` holds Python's GIL while it rasterises (with osmesa on a CPU that is
0.2-0.6 s per pass). In the process that runs franky-sim's 1 kHz physics loop, every frame then
freezes the simulated robot, and libfranka clients time out ("UDP receive: Timeout"). Here a
child process holds a copy of the compiled model; per frame the parent sends the state that
moves things (``qpos``, mocap poses: a few kB), the child runs ``mj_forward`` and both render
passes and sends back ``rgb`` [H, W, 3] uint8 and ``depth_m`` [H, W] float32. The parent waits on
a pipe, which releases the GIL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path

import mujoco
import numpy as np

from tracegen.errors import TracegenError

#: Seconds to wait for one frame before the renderer counts as dead.
FRAME_TIMEOUT_S = 60.0


def _serve(model_path: str, camera: str, width_px: int, height_px: int, conn) -> None:
    os.environ.setdefault("MUJOCO_GL", "osmesa")
    model = mujoco.MjModel.from_binary_path(model_path)
    data = mujoco.MjData(model)
    renderer = mujoco.Renderer(model, height_px, width_px)
    conn.send("ready")
    while True:
        message = conn.recv()
        if message is None:
            break
        qpos, mocap_pos, mocap_quat = message
        data.qpos[:] = qpos
        data.mocap_pos[:] = mocap_pos
        data.mocap_quat[:] = mocap_quat
        mujoco.mj_forward(model, data)
        renderer.update_scene(data, camera=camera)
        rgb = renderer.render().copy()
        renderer.enable_depth_rendering()
        depth_m = renderer.render().copy()
        renderer.disable_depth_rendering()
        conn.send((rgb, depth_m))
    renderer.close()


class RenderProcess:
    """A child process rendering ``camera`` of ``model`` at ``width_px`` x ``height_px``."""

    def __init__(self, model: mujoco.MjModel, camera: str, width_px: int, height_px: int) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="tracegen-render-"))
        path = self._dir / "scene.mjb"
        mujoco.mj_saveModel(model, str(path), None)
        # A fresh interpreter (not fork: the parent has threads; not multiprocessing's spawn: it
        # would re-run the parent's __main__), talking over a socket pair.
        parent, child = socket.socketpair()
        arguments = [str(path), camera, str(width_px), str(height_px), str(child.fileno())]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tracegen.sim.render_process", *arguments],
            pass_fds=(child.fileno(),),
            env={**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "osmesa")},
        )
        child.close()
        self._conn = Connection(parent.detach())
        self._expect_ready()

    def _expect_ready(self) -> None:
        if not self._conn.poll(FRAME_TIMEOUT_S) or self._conn.recv() != "ready":
            self.close()
            raise TracegenError("the simulated camera's render process did not start")

    def render(
        self, qpos: np.ndarray, mocap_pos: np.ndarray, mocap_quat: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``rgb`` [H, W, 3] uint8 and raw z-depth ``depth_m`` [H, W] float32 of this state."""
        try:
            self._conn.send((qpos, mocap_pos, mocap_quat))
            if not self._conn.poll(FRAME_TIMEOUT_S):
                raise TracegenError(f"the render process sent no frame within {FRAME_TIMEOUT_S:g} s")
            return self._conn.recv()
        except (EOFError, BrokenPipeError, OSError) as exc:
            raise TracegenError(f"the simulated camera's render process died: {exc}") from None

    def close(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            try:
                self._process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5.0)
        self._conn.close()
        shutil.rmtree(self._dir, ignore_errors=True)


if __name__ == "__main__":
    # Ctrl-C in a terminal reaches the whole process group; this child is ended by its parent
    # (None on the pipe, or the pipe closing when the parent dies), not by a KeyboardInterrupt
    # traceback in the middle of a frame.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    model_arg, camera_arg, width_arg, height_arg, fd_arg = sys.argv[1:6]
    with contextlib.suppress(EOFError, ConnectionResetError):  # the parent is gone: nothing to serve
        _serve(model_arg, camera_arg, int(width_arg), int(height_arg), Connection(int(fd_arg)))
