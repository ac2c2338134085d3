"""The controller core with the dry-run robot: plans in, checked motion out, e-stop and stale plans.

The dry run replays commanded trajectories in wall time, so these tests run at the speed of the
plans (kept to a second or two). The same controller against franky-sim: test_robot_franky.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tracegen.robot.controller import Controller, ControllerConfig, PlanCompiler, PlanState
from tracegen.robot.dry_run import DryRunRobot
from tracegen.robot.franky_robot import FrankyRobot
from tracegen.robot.plan import EndEffectorPlan, GripperAction
from tracegen.robot.safety import SafetyEnvelope

from support.loopback import free_loopback_address
from support.robot_events import EventLog
from support.sim_arm import VIEW_Q_RAD


class Rig:
    """A started controller on a dry-run robot, its events and a clock for plan stamps."""

    def __init__(self, kinematics, config: ControllerConfig | None = None, robot=None) -> None:
        self.kinematics = kinematics
        self.robot = robot or DryRunRobot(initial_q_rad=VIEW_Q_RAD)
        self.events = EventLog()
        self.controller = Controller(
            self.robot,
            PlanCompiler(kinematics, SafetyEnvelope(), config or ControllerConfig()),
            on_event=self.events,
        ).start()
        deadline = time.monotonic() + 10.0
        while self.controller.state is None and time.monotonic() < deadline and robot is None:
            time.sleep(0.01)

    def tcp(self) -> np.ndarray:
        return self.kinematics.fk(self.controller.state.q_rad)

    def plan(
        self, offsets_m, *, duration_s: float = 1.0, gripper=None, age_s: float = 0.0
    ) -> EndEffectorPlan:
        """TCP waypoints at the current pose plus ``offsets_m [N, 3]``, evenly timed."""
        offsets = np.asarray(offsets_m, dtype=np.float64)
        poses = np.repeat(self.tcp()[None], len(offsets), axis=0)
        poses[:, :3, 3] += offsets
        gripper = np.zeros(len(offsets), dtype=int) if gripper is None else np.asarray(gripper)
        return EndEffectorPlan(
            poses=poses,
            times_s=np.linspace(duration_s / len(offsets), duration_s, len(offsets)),
            gripper=gripper,
            gripper_width_m=np.where(gripper == GripperAction.OPEN, 0.08, 0.0),
            stamp_ns=time.time_ns() - int(age_s * 1e9),
        )


@pytest.fixture
def rig(kinematics):
    rig = Rig(kinematics)
    yield rig
    rig.controller.shutdown()


def line(offset_m, count: int = 5) -> np.ndarray:
    return np.linspace(0.0, 1.0, count + 1)[1:, None] * np.asarray(offset_m)


def test_a_plan_is_executed_to_its_last_pose(rig):
    plan = rig.plan(line([0.05, 0.03, -0.04]), duration_s=0.8)
    accepted = rig.controller.submit(plan)
    assert accepted.state is PlanState.ACCEPTED
    assert rig.events.final(accepted.plan_id).state is PlanState.DONE
    assert rig.events.states(accepted.plan_id) == [PlanState.ACCEPTED, PlanState.EXECUTING, PlanState.DONE]
    assert np.linalg.norm(rig.tcp()[:3, 3] - plan.positions_m[-1]) < 1e-4
    (command,) = rig.robot.commands("execute")
    assert command.trajectory.duration_s >= plan.duration_s - 1e-9


def test_gripper_actions_split_the_motion_and_run_in_order(rig):
    gripper = [GripperAction.HOLD, GripperAction.CLOSE, GripperAction.HOLD, GripperAction.OPEN]
    plan = rig.plan(line([0.0, 0.0, -0.04], count=4), duration_s=0.6, gripper=gripper)
    plan_id = rig.controller.submit(plan).plan_id
    assert rig.events.final(plan_id).state is PlanState.DONE
    kinds = [c.kind for c in rig.robot.sent]
    assert kinds == ["execute", "gripper_grasp", "execute", "gripper_move"]
    assert rig.robot.commands("gripper_move")[0].width_m == pytest.approx(0.08)


def test_a_plan_leaving_the_workspace_is_refused_and_nothing_moves(rig):
    event = rig.controller.submit(rig.plan(line([0.0, 0.0, -0.3])))
    assert event.state is PlanState.REFUSED and "leave the workspace box" in event.reason
    assert rig.robot.sent == []


def test_an_unreachable_plan_is_refused_with_the_ik_residual(rig):
    plan = rig.plan([[0.0, 0.0, 0.0]])
    plan.poses[0, :3, 3] = [0.8, 0.55, 0.02]  # inside the box, beyond what the arm reaches pointing down
    event = rig.controller.submit(plan)
    assert event.state is PlanState.REFUSED
    assert "not reachable within the joint limits" in event.reason and "mm and" in event.reason
    assert rig.robot.sent == []


def test_a_plan_for_another_tcp_frame_is_refused(rig):
    plan = rig.plan(line([0.02, 0.0, 0.0]))
    other = EndEffectorPlan(
        plan.poses, plan.times_s, plan.gripper, plan.gripper_width_m, plan.stamp_ns, tcp_frame="fr3_link8"
    )
    event = rig.controller.submit(other)
    assert event.state is PlanState.REFUSED and "configure both nodes with the same tcp_frame" in event.reason


def test_the_e_stop_stops_the_plan_and_refuses_plans_until_reset(rig):
    plan_id = rig.controller.submit(rig.plan(line([0.1, 0.0, 0.0]), duration_s=3.0)).plan_id
    assert rig.events.wait_for(lambda e: e.state is PlanState.EXECUTING, 5.0)
    time.sleep(0.3)
    rig.controller.estop("test")
    stopped = rig.events.final(plan_id)
    assert stopped.state is PlanState.STOPPED and "e-stop: test" in stopped.reason
    assert rig.robot.sent[-1].kind == "stop"
    assert np.linalg.norm(rig.tcp()[:3, 3] - rig.plan([[0, 0, 0]]).positions_m[0]) < 1e-9, "the arm stays put"
    refused = rig.controller.submit(rig.plan(line([0.02, 0.0, 0.0])))
    assert refused.state is PlanState.REFUSED and "e-stop active (test)" in refused.reason
    assert rig.controller.reset_estop() == (True, "e-stop released")
    again = rig.controller.submit(rig.plan(line([0.02, 0.0, 0.0]), duration_s=0.3))
    assert rig.events.final(again.plan_id).state is PlanState.DONE


def test_a_plan_made_from_an_old_observation_is_refused(rig):
    event = rig.controller.submit(rig.plan(line([0.02, 0.0, 0.0]), age_s=6.0))
    assert event.state is PlanState.REFUSED and "stale plan: its observation is 6.0" in event.reason


def test_a_running_plan_that_becomes_stale_is_stopped(kinematics):
    rig = Rig(kinematics, ControllerConfig(stale_plan_timeout_s=0.6))
    try:
        plan_id = rig.controller.submit(rig.plan(line([0.1, 0.0, 0.0]), duration_s=3.0)).plan_id
        event = rig.events.final(plan_id)
        assert event.state is PlanState.STOPPED and "stale plan" in event.reason
        assert rig.robot.sent[-1].kind == "stop"
        assert rig.tcp()[0, 3] < rig.plan([[0, 0, 0]]).positions_m[0, 0] + 0.1 - 0.02, "it did not get there"
    finally:
        rig.controller.shutdown()


def test_a_newer_plan_replaces_the_running_one(rig):
    first = rig.controller.submit(rig.plan(line([0.1, 0.0, 0.0]), duration_s=3.0)).plan_id
    assert rig.events.wait_for(lambda e: e.plan_id == first and e.state is PlanState.EXECUTING, 5.0)
    second_plan = rig.plan(line([0.0, 0.05, 0.0]), duration_s=0.5)
    second = rig.controller.submit(second_plan).plan_id
    replaced = rig.events.final(first)
    assert replaced.state is PlanState.STOPPED and f"replaced by plan {second}" in replaced.reason
    assert rig.events.final(second).state is PlanState.DONE
    assert np.linalg.norm(rig.tcp()[:3, 3] - second_plan.positions_m[-1]) < 1e-4


def test_without_a_robot_plans_are_refused_saying_what_the_controller_waits_for(kinematics):
    robot = FrankyRobot(free_loopback_address())  # nothing listens there: connection refused
    rig = Rig(kinematics, ControllerConfig(reconnect_period_s=0.2), robot=robot)
    try:
        deadline = time.monotonic() + 10.0
        while "waiting for the robot" not in rig.controller.status[1] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "cannot connect to the robot at" in rig.controller.status[1]
        plan = EndEffectorPlan.single_target(
            kinematics.fk(np.array(VIEW_Q_RAD)), 1.0, stamp_ns=time.time_ns()
        )
        event = rig.controller.submit(plan)
        assert (
            event.state is PlanState.REFUSED
            and "the robot is not connected (waiting for the robot" in event.reason
        )
    finally:
        rig.controller.shutdown()
