"""The process environment that makes the generated messages importable without ``source``-ing.

A colcon install of the messages needs three variables (what ``source install/setup.bash``
would set): ``PYTHONPATH`` (the generated ``tracegen.msg``), ``LD_LIBRARY_PATH`` (its
typesupport libraries; read by the dynamic loader at process start, hence for *child*
processes) and ``AMENT_PREFIX_PATH`` (where rmw finds the typesupport by package name).

:func:`ros_environment` computes them for the install found by :func:`find_install_prefix`,
so ``tracegen bringup`` can start nodes as child processes from a plain pip environment, and
``scripts/env.sh`` exports the same (``python -m tracegen.runtime_env --shell``): one
implementation for both.

In a source checkout, ``src/`` stays first on ``PYTHONPATH`` so edits to the core are live;
``tracegen/__init__`` extends the package path to the install's ``tracegen/msg``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tracegen.resources import PACKAGE_NAME, source_checkout_root

#: Where scripts/setup.sh builds the colcon package of a checkout (isolated install layout).
CHECKOUT_INSTALL_BASE = Path(".colcon") / "install"


def _python_site_dir(prefix: Path) -> Path:
    return prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _has_messages(prefix: Path) -> bool:
    return (_python_site_dir(prefix) / PACKAGE_NAME / "msg" / "__init__.py").is_file()


def find_install_prefix(environ: Mapping[str, str] | None = None) -> Path | None:
    """The colcon install prefix holding the generated tracegen messages, or None.

    Looks at ``$TRACEGEN_INSTALL_PREFIX``, then the prefixes on ``$AMENT_PREFIX_PATH``, then the
    checkout's ``.colcon/install/tracegen``.
    """
    environ = os.environ if environ is None else environ
    candidates: list[Path] = []
    if environ.get("TRACEGEN_INSTALL_PREFIX"):
        candidates.append(Path(environ["TRACEGEN_INSTALL_PREFIX"]))
    candidates += [Path(p) for p in environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    checkout = source_checkout_root()
    if checkout is not None:
        candidates.append(checkout / CHECKOUT_INSTALL_BASE / PACKAGE_NAME)
    for candidate in candidates:
        if _has_messages(candidate):
            return candidate.resolve()
    return None


def _prepend(entries: list[str], current: str | None) -> str:
    """``entries`` then the current path list, without duplicates, order kept."""
    merged: list[str] = []
    for entry in entries + (current.split(os.pathsep) if current else []):
        if entry and entry not in merged:
            merged.append(entry)
    return os.pathsep.join(merged)


def ros_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``environ`` (default ``os.environ``) set up for nodes and message imports.

    Without a colcon install of the messages the copy only gains the checkout's ``src/``;
    importing ``tracegen.msg`` then fails with a message pointing at ``scripts/setup.sh``.
    """
    env = dict(os.environ if environ is None else environ)
    python_paths: list[str] = []
    checkout = source_checkout_root()
    if checkout is not None:
        python_paths.append(str(checkout / "src"))
    prefix = find_install_prefix(env)
    if prefix is not None:
        python_paths.append(str(_python_site_dir(prefix)))
        env["LD_LIBRARY_PATH"] = _prepend([str(prefix / "lib")], env.get("LD_LIBRARY_PATH"))
        env["AMENT_PREFIX_PATH"] = _prepend([str(prefix), sys.prefix], env.get("AMENT_PREFIX_PATH"))
        env["CMAKE_PREFIX_PATH"] = _prepend([str(prefix), sys.prefix], env.get("CMAKE_PREFIX_PATH"))
    env["PYTHONPATH"] = _prepend(python_paths, env.get("PYTHONPATH"))
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    # MuJoCo renders off-screen through OSMesa on machines without a display.
    if not env.get("DISPLAY"):
        env.setdefault("MUJOCO_GL", "osmesa")
        env.setdefault("PYOPENGL_PLATFORM", env["MUJOCO_GL"])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


#: Set in the environment of a command re-executed by :func:`reexec_in_ros_environment`.
REEXEC_MARKER = "TRACEGEN_ROS_REEXEC"


def reexec_in_ros_environment(command: str) -> None:
    """Re-execute ``tracegen <command> ...`` in :func:`ros_environment` when it is not set.

    A command whose own process is a ROS node using tracegen's messages needs their typesupport
    libraries, which the dynamic loader finds only through ``LD_LIBRARY_PATH`` at process start;
    ``scripts/in-env`` sets it, a bare ``tracegen`` from the virtualenv does not.
    """
    env = ros_environment()
    wanted = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    present = os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)
    if os.environ.get(REEXEC_MARKER) or all(p in present for p in wanted) or sys.argv[1:2] != [command]:
        return  # set up already, or called in-process (main(argv)) where argv is not ours to repeat
    env[REEXEC_MARKER] = "1"
    os.execve(sys.executable, [sys.executable, "-m", "tracegen.cli.main", *sys.argv[1:]], env)


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Inside the block, SIGTERM (``kill``, ``timeout``, a job scheduler) raises KeyboardInterrupt.

    Commands that run nodes as child processes stop them in order and keep what they finished
    on KeyboardInterrupt (Ctrl-C); Python's default for SIGTERM ends the process at once and
    leaves the nodes running (and a recorder's episode open). The previous handler is restored.
    """
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def restore_ctrl_c() -> None:
    """Make SIGINT raise KeyboardInterrupt again if this process was started ignoring it.

    A command sent to the background from a non-interactive shell (``cmd &`` in a script, some
    job runners) starts with SIGINT ignored, and Python then keeps ignoring it, as does every
    process it starts. Our commands and nodes stop cleanly on SIGINT (nodes shut down in order,
    episodes kept); ignored, a stop escalates to SIGTERM/SIGKILL after a timeout, or never comes.
    A handler (unlike SIG_IGN) is not inherited across exec, so the children get Python's default.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


EXPORTED_VARIABLES = (
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "AMENT_PREFIX_PATH",
    "CMAKE_PREFIX_PATH",
    "RMW_IMPLEMENTATION",
    "MUJOCO_GL",
    "PYOPENGL_PLATFORM",
    "PYTHONUNBUFFERED",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shell", action="store_true", help="print `export` lines for sh/bash")
    args = parser.parse_args(argv)
    env = ros_environment()
    for name in EXPORTED_VARIABLES:
        if name in env:
            print(f"export {name}={shlex.quote(env[name])}" if args.shell else f"{name}={env[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
