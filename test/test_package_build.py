"""The colcon package builds from a clean build directory and installs a working robot-PC layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracegen.resources import source_checkout_root

ROOT = source_checkout_root()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(ROOT is None, reason="needs the source checkout")]
WHEEL_NUMPY_INCLUDE = "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory) -> Path:
    """``colcon build`` of the checkout into a new build and install base; returns the install prefix."""
    base = tmp_path_factory.mktemp("colcon")
    env = dict(os.environ)
    env["CMAKE_PREFIX_PATH"] = sys.prefix
    env["AMENT_PREFIX_PATH"] = sys.prefix
    result = subprocess.run(
        [
            Path(sys.executable).parent / "colcon",
            "--log-base",
            str(base / "log"),
            "build",
            "--base-paths",
            str(ROOT),
            "--build-base",
            str(base / "build"),
            "--install-base",
            str(base / "install"),
            "--cmake-args",
            f"-DPython3_EXECUTABLE={sys.executable}",
            f"-DPython3_NumPy_INCLUDE_DIR={WHEEL_NUMPY_INCLUDE}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    stderr_log = base / "log" / "latest_build" / "tracegen" / "stderr.log"
    details = stderr_log.read_text() if stderr_log.exists() else result.stderr
    assert result.returncode == 0, f"colcon build failed:\n{result.stdout}\n{details}"
    return base / "install" / "tracegen"


def installed_env(prefix: Path) -> dict[str, str]:
    """What `source install/setup.bash` sets, and nothing of the checkout."""
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TRACEGEN_SHARE_DIR")}
    env["PYTHONPATH"] = str(site)
    env["LD_LIBRARY_PATH"] = f"{prefix / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}"
    env["AMENT_PREFIX_PATH"] = f"{prefix}:{sys.prefix}"
    env["PATH"] = f"{prefix / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    return env


def test_install_holds_the_messages_and_the_core_in_one_python_package(fresh_install, tmp_path):
    code = (
        "import tracegen, tracegen.trace, tracegen_ros;"
        "from tracegen.msg import TraceGrid;"
        "m = TraceGrid(); m.rows = 20;"
        "print(tracegen.trace.__file__); print(tracegen_ros.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=installed_env(fresh_install),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    core_file, ros_file = out.stdout.split()
    assert core_file.startswith(str(fresh_install)), "the core must come from the install, not the checkout"
    assert ros_file.startswith(str(fresh_install))


def test_install_has_one_ros2_run_executable_per_node_module(fresh_install):
    node_modules = sorted(p.stem for p in (ROOT / "src" / "tracegen_ros" / "nodes").glob("*_node.py"))
    executables = sorted(p.name for p in (fresh_install / "lib" / "tracegen").glob("*_node"))
    assert executables == node_modules
    for name in executables:
        assert os.access(fresh_install / "lib" / "tracegen" / name, os.X_OK)


def test_install_shares_launch_config_and_models(fresh_install):
    share = fresh_install / "share" / "tracegen"
    assert (share / "package.xml").is_file()
    for folder in ("launch", "config", "models"):
        shipped = sorted(p.relative_to(ROOT / folder) for p in (ROOT / folder).rglob("*") if p.is_file())
        installed = sorted(p.relative_to(share / folder) for p in (share / folder).rglob("*") if p.is_file())
        assert installed == shipped, folder


def test_installed_tracegen_command_runs_from_the_install(fresh_install, tmp_path):
    out = subprocess.run(
        [str(fresh_install / "bin" / "tracegen"), "--help"],
        env=installed_env(fresh_install),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "doctor" in out.stdout
