"""Set-up products: the runtime environment, shipped resources and `tracegen doctor`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tracegen.resources import share_dir, source_checkout_root
from tracegen.runtime_env import find_install_prefix, ros_environment


def test_ros_environment_puts_the_checkout_first_and_adds_the_message_install():
    env = ros_environment({"PATH": os.environ["PATH"]})
    prefix = find_install_prefix(env)
    assert prefix is not None, "scripts/setup.sh builds the messages; run it first"
    python_path = env["PYTHONPATH"].split(os.pathsep)
    if source_checkout_root() is not None:
        assert python_path[0] == str(source_checkout_root() / "src")
    assert any(p.startswith(str(prefix)) for p in python_path)
    assert env["LD_LIBRARY_PATH"].split(os.pathsep)[0] == str(prefix / "lib")
    assert str(prefix) in env["AMENT_PREFIX_PATH"].split(os.pathsep)
    assert env["RMW_IMPLEMENTATION"] == "rmw_fastrtps_cpp"


def test_ros_environment_keeps_existing_entries_without_duplicates():
    env = ros_environment({"PYTHONPATH": "/somewhere", "LD_LIBRARY_PATH": "/lib/x"})
    assert env["PYTHONPATH"].split(os.pathsep)[-1] == "/somewhere"
    again = ros_environment(env)
    assert again["PYTHONPATH"] == env["PYTHONPATH"]
    assert again["LD_LIBRARY_PATH"] == env["LD_LIBRARY_PATH"]


def test_shipped_files_are_found():
    root = share_dir()
    assert (root / "package.xml").is_file()
    assert (root / "config").is_dir() and (root / "models").is_dir() and (root / "launch").is_dir()


@pytest.mark.slow
def test_doctor_reports_every_required_part_present(node_env):
    out = subprocess.run(
        [sys.executable, "-m", "tracegen.cli.main", "doctor", "--json"],
        env=node_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(out.stdout)
    missing = [c for c in report["checks"] if c["required"] and not c["ok"]]
    assert out.returncode == 0 and report["ok"], f"missing: {missing}"
    names = {c["name"] for c in report["checks"]}
    assert {
        "rclpy",
        "tracegen messages",
        "pinocchio",
        "franky",
        "franky-sim",
        "pyrealsense2",
        "mujoco rendering",
        "torch",
        "gpu",
    } <= names


def test_doctor_names_missing_messages_and_what_to_do(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH")}
    checkout = source_checkout_root()
    env["PYTHONPATH"] = str(checkout / "src") if checkout else ""
    env["TRACEGEN_INSTALL_PREFIX"] = str(tmp_path)
    code = (
        "import sys; sys.path = [p for p in sys.path if '.colcon' not in p];"
        "from tracegen.doctor import check_messages, PartMissingError\n"
        "try:\n    check_messages()\nexcept PartMissingError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "scripts/setup.sh" in out.stdout, out.stdout + out.stderr
