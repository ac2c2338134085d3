"""Scripted expert demos through the real path: sim world + IK controller + recorder -> bag -> forge."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tracegen.cli.main import main
from tracegen.demo_bags import KEY_STATUS, KEY_TASK
from tracegen.forge.readers.rosbag import bag_custom_data, open_bag
from tracegen.robot.ownership import LOCK_DIR_ENV
from tracegen.robot.plan import GripperAction
from tracegen.sim.tasks.base import ExpertWaypoint
from tracegen_ros.sim_demos import STEP_M, SimDemoConfig, SimDemoRunner, waypoint_plan, wrap_symmetric_yaw

from support.loopback import free_loopback_address
from support.processes import alive, child_pids, kill_with_children

# --- expert waypoints -> plans (no processes) ----------------------------------------------------


def test_a_waypoint_becomes_a_straight_evenly_timed_path_with_the_gripper_action_at_its_end():
    waypoint = ExpertWaypoint((0.5, 0.1, 0.1), 0.0, 0.0, max_speed_m_s=0.1)
    plan = waypoint_plan(waypoint, np.array([0.4, 0.1, 0.1]), 0.0, 0.08, stamp_ns=123)
    assert plan.num_waypoints == math.ceil(0.1 / STEP_M)
    assert np.allclose(plan.positions_m[-1], (0.5, 0.1, 0.1))
    assert np.allclose(np.diff(plan.positions_m[:, 0]), STEP_M)
    assert plan.duration_s == pytest.approx(1.0), "0.1 m at 0.1 m/s"
    assert list(plan.gripper[:-1]) == [GripperAction.HOLD] * (plan.num_waypoints - 1)
    assert plan.gripper[-1] == GripperAction.CLOSE and plan.gripper_width_m[-1] == 0.0
    assert np.allclose(plan.poses[-1, :3, 2], (0, 0, -1)), "the gripper points down"
    assert plan.stamp_ns == 123


def test_an_unchanged_width_leaves_the_gripper_alone_and_an_opening_is_an_open_action():
    start = np.array([0.45, 0.0, 0.22])
    hold = waypoint_plan(ExpertWaypoint((0.45, 0.0, 0.1), 0.0, 0.04), start, 0.0, 0.04, stamp_ns=1)
    assert set(hold.gripper) == {GripperAction.HOLD}
    opening = waypoint_plan(ExpertWaypoint((0.45, 0.0, 0.1), 0.0, 0.06), start, 0.0, 0.0, stamp_ns=1)
    assert opening.gripper[-1] == GripperAction.OPEN and opening.gripper_width_m[-1] == pytest.approx(0.06)


def test_yaw_is_folded_into_a_half_turn_because_the_parallel_gripper_is_symmetric():
    assert wrap_symmetric_yaw(math.pi) == pytest.approx(0.0, abs=1e-9)
    assert wrap_symmetric_yaw(2.5) == pytest.approx(2.5 - math.pi)
    assert -math.pi / 2 < wrap_symmetric_yaw(-1.8) <= math.pi / 2
    plan = waypoint_plan(
        ExpertWaypoint((0.45, 0.0, 0.22), 1.2, 0.08), np.array([0.45, 0.0, 0.22]), 0.0, 0.08, 1
    )
    assert plan.duration_s == pytest.approx(1.2 / 0.5), "a pure rotation is timed by the yaw speed"
    assert plan.num_waypoints >= 6, "rotations are interpolated too"


def test_bad_configurations_are_refused_with_what_to_do(tmp_path):
    from tracegen.errors import InputError

    with pytest.raises(InputError, match="unknown simulated task"):
        SimDemoConfig(task="laundry", episodes=1, out_dir=tmp_path)
    with pytest.raises(InputError, match="loopback"):
        SimDemoConfig(task="block", episodes=1, out_dir=tmp_path, robot_ip="172.16.0.2")


# --- one episode end to end ----------------------------------------------------------------------


def run_one_expert_episode(tmp_path, node_env, monkeypatch, task: str, fps: float):
    """The first episode (seed 1) of ``task`` through the real nodes into tmp_path/demos; returns
    its result and the end of every node's log (for failure messages)."""
    for name, value in node_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path))
    config = SimDemoConfig(
        task=task,
        episodes=1,
        out_dir=tmp_path / "demos",
        seed=0,
        robot_ip=free_loopback_address(),
        fps=fps,
        log_dir=tmp_path / "logs",
    )
    with SimDemoRunner(config, echo=lambda _line: None) as runner:
        result = runner.run_episode()
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in (tmp_path / "logs").glob("*.log"))
    return result, logs


@pytest.mark.ros
@pytest.mark.slow
def test_a_block_expert_episode_succeeds_is_recorded_and_forges_into_triplets(
    tmp_path, node_env, monkeypatch
):
    out = tmp_path / "demos"
    result, logs = run_one_expert_episode(tmp_path, node_env, monkeypatch, "block", fps=4.0)
    assert not result.success_at_reset, "the block starts outside the zone"
    assert result.success, f"{result}\n{logs}"
    assert not result.aborted and result.seed == 1

    bag = out / result.bag.rsplit("/", 1)[-1]
    reader = open_bag(bag)
    try:
        custom = bag_custom_data(reader)
        topics = {c.topic: c.msgcount for c in reader.connections}
    finally:
        reader.close()
    assert custom[KEY_TASK] == "block" and custom[KEY_STATUS] == "complete"
    assert topics["/camera/camera/color/image_raw"] > 5
    assert topics["/camera/camera/aligned_depth_to_color/image_raw"] > 5
    assert topics["/joint_states"] > 10

    forged = tmp_path / "forged"
    assert main(["forge", str(out), "--out", str(forged), "--local", "--no-progress"]) == 0
    manifest = json.loads((forged / "manifest.json").read_text())
    assert manifest["summary"]["done"] == 1 and manifest["summary"]["triplets"] > 0


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.parametrize("task", ["ball", "brush", "clothes"])
def test_each_tasks_expert_solves_it_through_the_ik_controller_and_franky(
    tmp_path, node_env, monkeypatch, task
):
    """Unsolved at reset, solved after the scripted expert's plans went through the real path."""
    result, logs = run_one_expert_episode(tmp_path, node_env, monkeypatch, task, fps=2.0)
    assert not result.success_at_reset, f"{task} starts solved"
    assert result.success, f"{result}\n{logs}"
    assert not result.aborted


def test_the_cli_refuses_an_unknown_task_before_starting_anything(tmp_path, capsys):
    assert main(["sim-demos", "--task", "laundry", "--episodes", "1", "--out", str(tmp_path)]) == 2
    assert "unknown simulated task 'laundry'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing was recorded"


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_while_a_plan_runs_stops_every_node_and_keeps_the_episode_as_aborted(
    tmp_path, node_env, stop_signal
):
    out, log_path = tmp_path / "demos", tmp_path / "sim_demos.log"
    env = {**node_env, LOCK_DIR_ENV: str(tmp_path)}
    args = ["sim-demos", "--task", "block", "--episodes", "3", "--fps", "2", "--out", str(out)]
    with open(log_path, "wb") as log:
        demos = subprocess.Popen(
            [sys.executable, "-m", "tracegen.cli.main", *args, "--log-dir", str(tmp_path / "logs")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 180
            plans = tmp_path / "logs" / "ik_controller_node.log"
            while "executing plan" not in (plans.read_text(errors="replace") if plans.exists() else ""):
                assert demos.poll() is None and time.monotonic() < deadline, log_path.read_text(
                    errors="replace"
                )
                time.sleep(0.2)
            nodes = child_pids(demos.pid)
            assert len(nodes) >= 3, "the camera, IK controller and recorder run as child processes"
            demos.send_signal(stop_signal)
            code = demos.wait(timeout=60)
        finally:
            if demos.poll() is None:  # it did not stop: neither must its nodes outlive the test
                kill_with_children(demos)
    output = log_path.read_text(errors="replace")
    assert code == 130 and "interrupted" in output, output
    assert not [pid for pid in nodes if alive(pid)], "every node stopped with the command"
    controller_log = (tmp_path / "logs" / "ik_controller_node.log").read_text(errors="replace")
    assert "internal error" not in controller_log, "a stop is not the controller's error"
    (episode,) = (out / "aborted").iterdir()
    assert episode.name.startswith("block_"), "the episode in progress is kept, marked aborted"
