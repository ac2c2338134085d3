"""The controller core driving franky-sim's FR3 through franky (libfranka's protocol on loopback).

Accuracy is judged by the pose the simulated robot reports itself (libfranka's O_T_EE), not by
our own forward kinematics. The simulator runs in real time, so each motion takes a second or two.
"""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest

from tracegen.robot.controller import Controller, ControllerConfig, PlanCompiler, PlanState, StatusLevel
from tracegen.robot.errors import GripperError
from tracegen.robot.franky_robot import GRIPPER_CLOSE_WAIT_S, FrankyRobot
from tracegen.robot.plan import EndEffectorPlan, GripperAction
from tracegen.robot.safety import SafetyEnvelope

from support.loopback import free_loopback_address
from support.processes import stop
from support.robot_events import EventLog
from support.sim_arm import start_franky_sim

pytestmark = pytest.mark.slow


class SimRig:
    def __init__(self, kinematics, address: str) -> None:
        self.kinematics = kinematics
        self.events = EventLog()
        self.statuses: list[tuple[StatusLevel, str]] = []
        self.robot = FrankyRobot(address)
        self.controller = Controller(
            self.robot,
            # The plans here are scripted, not made from a camera frame: a busy machine slows the
            # simulated gripper's grasp-and-open past the default 5 s observation age.
            PlanCompiler(
                kinematics,
                SafetyEnvelope(),
                ControllerConfig(reconnect_period_s=0.5, stale_plan_timeout_s=60.0),
            ),
            on_event=self.events,
            on_status=lambda level, message: self.statuses.append((level, message)),
        ).start()
        self.wait_until(lambda: self.controller.state is not None, 30.0, "the robot state")

    def wait_until(self, condition, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; statuses {self.statuses[-3:]}"
            time.sleep(0.02)

    def reported_tcp(self) -> np.ndarray:
        return self.controller.state.T_base_ee_reported

    def target(self, offset_m, rotation_z_rad: float = 0.0) -> np.ndarray:
        pose = self.kinematics.fk(self.controller.state.q_rad)
        pose[:3, 3] += offset_m
        c, s = np.cos(rotation_z_rad), np.sin(rotation_z_rad)
        pose[:3, :3] = pose[:3, :3] @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        return pose


@pytest.fixture(scope="module")
def sim(tmp_path_factory, kinematics):
    address = free_loopback_address()
    server = start_franky_sim(address, tmp_path_factory.mktemp("franky_sim") / "sim.log")
    rig = SimRig(kinematics, address)
    yield rig
    rig.controller.shutdown()
    stop(server)


@pytest.mark.parametrize(
    ("offset_m", "rotation_z_rad"),
    [([0.06, 0.0, 0.0], 0.0), ([0.0, -0.08, 0.05], 0.0), ([-0.05, 0.06, -0.08], 0.4)],
)
def test_cartesian_targets_are_reached_within_5_mm(sim, offset_m, rotation_z_rad):
    target = sim.target(offset_m, rotation_z_rad)
    event = sim.controller.submit_target(target, stamp_ns=time.time_ns())
    assert event.state is PlanState.ACCEPTED, event.reason
    done = sim.events.final(event.plan_id, timeout_s=20.0)
    assert done.state is PlanState.DONE, done.reason
    reported = sim.reported_tcp()
    assert np.linalg.norm(reported[:3, 3] - target[:3, 3]) < 0.005
    angle = np.arccos(np.clip((np.trace(reported[:3, :3].T @ target[:3, :3]) - 1) / 2, -1, 1))
    assert np.degrees(angle) < 1.0


def test_the_e_stop_stops_the_arm_short_of_its_target(sim):
    start = sim.reported_tcp()[:3, 3].copy()
    target = sim.target([0.0, 0.2, 0.0])
    plan_id = sim.controller.submit_target(target, stamp_ns=time.time_ns()).plan_id
    assert sim.events.wait_for(lambda e: e.plan_id == plan_id and e.state is PlanState.EXECUTING, 5.0)
    time.sleep(0.6)
    sim.controller.estop("test e-stop")
    assert sim.events.final(plan_id).state is PlanState.STOPPED
    time.sleep(0.5)  # the stop motion decelerates within the limits
    stopped_at = sim.reported_tcp()[:3, 3].copy()
    time.sleep(0.5)
    assert np.linalg.norm(sim.reported_tcp()[:3, 3] - stopped_at) < 0.002, "the arm is at rest"
    assert np.linalg.norm(stopped_at - start) > 0.005, "it had started moving"
    assert np.linalg.norm(stopped_at - target[:3, 3]) > 0.05, "it stopped well short of the target"
    refused = sim.controller.submit_target(target, stamp_ns=time.time_ns())
    assert refused.state is PlanState.REFUSED and "e-stop active" in refused.reason
    assert sim.controller.reset_estop()[0]


def test_gripper_actions_of_a_plan_close_and_open_the_simulated_hand(sim):
    here = sim.target([0.0, 0.0, 0.0])
    poses = np.stack([here, sim.target([0.0, 0.0, -0.03]), sim.target([0.0, 0.0, 0.0])])
    plan = EndEffectorPlan(
        poses=poses,
        times_s=np.array([0.2, 0.8, 1.4]),
        gripper=np.array([GripperAction.HOLD, GripperAction.CLOSE, GripperAction.OPEN]),
        gripper_width_m=np.array([0.0, 0.0, 0.08]),
        stamp_ns=time.time_ns(),
    )
    widths = []
    plan_id = sim.controller.submit(plan).plan_id
    while (event := sim.events.final(plan_id, timeout_s=0.05)) is None:
        widths.append(sim.controller.state.gripper_width_m)
    assert event.state is PlanState.DONE, event.reason
    assert min(widths) < 0.01, "closed on nothing: the fingers met"
    assert sim.controller.state.gripper_width_m > 0.075, "and opened again"


def test_a_lost_connection_fails_the_plan_and_the_controller_reconnects(tmp_path, kinematics):
    address = free_loopback_address()
    server = start_franky_sim(address, tmp_path / "sim1.log")
    rig = SimRig(kinematics, address)
    try:
        start = rig.reported_tcp()[:3, 3].copy()
        target = rig.target([0.0, 0.15, 0.0])
        plan_id = rig.controller.submit_target(target, stamp_ns=time.time_ns()).plan_id
        rig.wait_until(
            lambda: np.linalg.norm(rig.reported_tcp()[:3, 3] - start) > 0.005, 5.0, "the arm to move"
        )
        server.kill()
        server.wait()
        failed = rig.events.final(plan_id, timeout_s=10.0)
        assert failed.state is PlanState.FAILED and "connection lost" in failed.reason
        refused = rig.controller.submit_target(target, stamp_ns=time.time_ns())
        assert refused.state is PlanState.REFUSED and "the robot is not connected" in refused.reason
        server = start_franky_sim(address, tmp_path / "sim2.log")
        rig.wait_until(lambda: rig.statuses[-1][1].startswith("connected to"), 30.0, "the reconnection")
        again = rig.controller.submit_target(rig.target([0.03, 0.0, 0.0]), stamp_ns=time.time_ns())
        assert rig.events.final(again.plan_id).state is PlanState.DONE
    finally:
        rig.controller.shutdown()
        stop(server)


def test_closing_while_the_gripper_does_not_answer_neither_blocks_nor_hangs(tmp_path):
    """franky's gripper futures join their thread when destroyed, and that thread waits for the
    gripper's answer without a timeout: forgetting an unanswered action once froze the test run."""
    address = free_loopback_address()
    server = start_franky_sim(address, tmp_path / "sim.log")
    robot = FrankyRobot(address)
    try:
        deadline = time.monotonic() + 30.0
        while not robot.connected:
            assert time.monotonic() < deadline, "franky never connected to franky-sim"
            robot.connect()
            time.sleep(0.1)
        server.send_signal(signal.SIGSTOP)  # the simulated gripper (and arm) stop answering
        robot.gripper_grasp(0.0, 0.05, 20.0)
        assert not robot.gripper_finished()
        stopping = threading.Thread(target=robot.stop, daemon=True)  # the controller's stop path
        stopping.start()
        stopping.join(10.0)
        assert not stopping.is_alive(), "stop() waited for the gripper"
        with pytest.raises(GripperError, match="has not ended its previous action"):
            robot.gripper_move(0.08, 0.05)
        closing = threading.Thread(target=robot.close, daemon=True)
        closing.start()
        closing.join(GRIPPER_CLOSE_WAIT_S + 10.0)
        assert not closing.is_alive(), "close() hung on the unanswered gripper action"
        assert not robot.connected
    finally:
        server.send_signal(signal.SIGCONT)
        stop(server)
