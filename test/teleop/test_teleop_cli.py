"""``tracegen teleop`` without its devices: clear errors, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tracegen.teleop_devices import KeyboardTeleop, NoDeviceError, SpaceMouseTeleop, SpeedSettings


def run_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracegen.cli.main", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_spacemouse_without_a_device_fails_with_what_to_do(node_env):
    result = run_cli("teleop", "--spacemouse", env=node_env)
    assert result.returncode == 2, result.stderr
    assert "SpaceMouse" in result.stderr
    assert "libhidapi" in result.stderr or "plug" in result.stderr
    assert "Traceback" not in result.stderr


def test_opening_a_spacemouse_where_there_is_none_raises_no_device_error():
    with pytest.raises(NoDeviceError, match="SpaceMouse"):
        SpaceMouseTeleop()


@pytest.mark.ros
def test_keyboard_without_a_terminal_says_it_needs_one(node_env):
    result = run_cli("teleop", "--keyboard", env=node_env)
    assert result.returncode == 2, result.stderr
    assert "not one: run it in a terminal" in result.stderr


def test_choosing_no_device_is_a_usage_error(node_env):
    result = run_cli("teleop", env=node_env)
    assert result.returncode == 2
    assert "--keyboard or --spacemouse" in result.stderr


def test_a_held_key_moves_for_the_hold_time_and_space_stops_at_once():
    keys = KeyboardTeleop(SpeedSettings(max_linear_m_s=0.1, max_angular_rad_s=0.5, scale=0.5), hold_s=0.5)
    keys.handle("w", now_s=0.0)
    keys.handle("j", now_s=0.1)
    assert keys.twist(0.2).tolist() == [0.05, 0.0, 0.0, 0.0, 0.0, 0.25]
    assert keys.twist(0.55).tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 0.25]
    keys.handle(" ", now_s=0.56)
    assert not keys.twist(0.57).any()


def test_speed_keys_scale_within_bounds_and_t_switches_to_the_gripper_frame():
    keys = KeyboardTeleop(SpeedSettings(scale=1.0))
    keys.handle("+", 0.0)
    assert keys.scale == 1.0
    for _ in range(30):
        keys.handle("-", 0.0)
    assert keys.scale == pytest.approx(0.05)
    assert keys.handle("t", 0.0).frame == "fr3_hand_tcp"


class _FakePuck:
    """Stands in for the HID device only (no SpaceMouse can exist here)."""

    def __init__(self, states):
        self.states = iter(states)

    def read(self):
        return next(self.states)


def test_spacemouse_axes_scale_the_speeds_and_button_0_toggles_the_gripper():
    from types import SimpleNamespace as S

    idle = S(x=0.01, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0, buttons=[0, 0])
    push = S(x=0.5, y=-1.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.2, buttons=[1, 0])
    mouse = SpaceMouseTeleop(SpeedSettings(0.1, 0.5, 1.0), device=_FakePuck([idle, push, push]))
    assert not mouse.read().twist.any(), "inside the dead band"
    out = mouse.read()
    assert out.twist.tolist() == pytest.approx([0.05, -0.1, 0.0, 0.0, 0.0, 0.1])
    assert out.gripper_closed is True
    assert mouse.read().gripper_closed is None, "held, not pressed again"


@pytest.mark.ros
def test_config_teleop_yaml_lists_every_parameter_of_the_node_with_a_comment_and_a_valid_value():
    from tracegen.resources import share_dir
    from tracegen_ros.graph import read_params_file
    from tracegen_ros.nodes.teleop_node import PARAMS

    path = share_dir() / "config" / "teleop.yaml"
    values = read_params_file(path)
    specs = {s.name: s for s in PARAMS}
    assert set(values) == set(specs)
    lines = path.read_text().splitlines()
    for name, spec in specs.items():
        (index,) = [i for i, line in enumerate(lines) if line.strip().startswith(f"{name}:")]
        assert lines[index - 1].strip().startswith("#"), f"{name} has no comment above it"
        assert type(values[name]) is type(spec.default), name
        spec.validate(values[name])


def test_record_demos_in_the_simulator_needs_a_simulated_task(node_env, tmp_path):
    result = run_cli(
        "record-demos",
        "--sim",
        "--task",
        "wipe",
        "--instruction",
        "wipe it",
        "--out",
        str(tmp_path),
        env=node_env,
    )
    assert result.returncode == 2, result.stderr
    assert "--sim needs one of the simulated tasks" in result.stderr and "block" in result.stderr


def test_record_demos_refuses_an_empty_instruction(node_env, tmp_path):
    result = run_cli(
        "record-demos", "--task", "wipe", "--instruction", " ", "--out", str(tmp_path), env=node_env
    )
    assert result.returncode == 2
    assert "--instruction is empty" in result.stderr
