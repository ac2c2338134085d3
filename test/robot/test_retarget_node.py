"""retarget_node in its own process, fed TraceGrids and joint states over DDS.

The traces come from :mod:`tracegen.ee_retarget.synthetic`: the shipped calibration's camera sees
the FR3's gripper at a known joint state (which the test publishes on /joint_states, as the IK
controller would), and grid points on the gripper move with a known TCP motion. A good trace must
become a nav_msgs/Path in fr3_link0 that follows that motion (and an EndEffectorPlan with the
gripper commands); a malformed one must be logged with its reason, publish nothing, and leave the
node working.
"""

from __future__ import annotations

import array
import itertools
import math
import re
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Path
from sensor_msgs.msg import JointState

from tracegen.ee_retarget.synthetic import ObjectBox, synthetic_trace, translation_motions
from tracegen.msg import EndEffectorPlan as EndEffectorPlanMsg
from tracegen.msg import TraceGrid
from tracegen.robot.plan import GripperAction
from tracegen.trace import CameraIntrinsics, Trace
from tracegen_ros.qos import COMMAND_QOS, SENSOR_QOS
from tracegen_ros.robot_msgs import joint_state_msg, pose_to_matrix
from tracegen_ros.trace_msg import TraceGridMeta, trace_to_msg

from support.nodes_harness import RosProbe
from support.robot_nodes import stamp_ns_to_time, start_graph_node
from support.sim_arm import VIEW_Q_RAD

pytestmark = pytest.mark.ros

INTRINSICS = CameraIntrinsics.from_fov(640, 480, 69.4)
FRAME = "camera_color_optical_frame"
WIDTH_M = 0.04
STEPS = 33
#: The gripper is found in the image by projecting its geometry at the joint state the test
#: publishes; the block sits under it on the table.
BLOCK = ObjectBox(center_m=(0.45, 0.0, 0.03), half_extent_m=(0.03, 0.03, 0.03))


def pick_and_place_motions() -> tuple[np.ndarray, int, int]:
    """Descend 19 cm, pause, lift 12 cm while moving 10 cm sideways, pause, rise 6 cm alone."""
    keys = [
        (0, [0, 0, 0]),
        (12, [0, 0, -0.19]),
        (15, [0, 0, -0.19]),
        (27, [0, 0.1, -0.07]),
        (29, [0, 0.1, -0.07]),
        (32, [0, 0.1, -0.01]),
    ]
    offsets = np.zeros((STEPS, 3))
    for (k0, p0), (k1, p1) in itertools.pairwise(keys):
        for k in range(k0, k1 + 1):
            offsets[k] = np.asarray(p0) + (np.asarray(p1) - p0) * (k - k0) / (k1 - k0)
    return translation_motions(offsets), 13, 28


class RetargetProbe:
    """Publishes joint states (20 Hz, the arm at VIEW_Q_RAD) and traces; collects the outputs."""

    def __init__(self) -> None:
        self.probe = RosProbe("retarget_probe")
        self.traces = self.probe.publisher(TraceGrid, "/tracegen/trace", COMMAND_QOS)
        self.joint_states = joint_states = self.probe.publisher(JointState, "/joint_states", SENSOR_QOS)
        self.paths = self.probe.collect(Path, "/tracegen/ee_path", COMMAND_QOS)
        self.plans = self.probe.collect(EndEffectorPlanMsg, "/tracegen/ee_plan", COMMAND_QOS)
        self.diagnostics = self.probe.collect(DiagnosticArray, "/diagnostics", COMMAND_QOS)
        q, dq = np.array(VIEW_Q_RAD), np.zeros(7)
        self.probe.node.create_timer(
            0.05, lambda: joint_states.publish(joint_state_msg(q, dq, WIDTH_M, self.probe.now().to_msg()))
        )

    def now_ns(self) -> int:
        return self.probe.now().nanoseconds

    def close(self) -> None:
        self.probe.close()


@pytest.fixture(scope="module")
def retarget(tmp_path_factory, node_env):
    node = start_graph_node("retarget_node", tmp_path_factory.mktemp("retarget"), node_env)
    probe = RetargetProbe()
    assert probe.probe.wait_for_subscribers(probe.traces, 1, 30.0), node.log()
    # A trace sent before the node holds a joint state is refused (by design): let a few of the
    # 20 Hz joint states reach it once it is subscribed.
    assert probe.probe.wait_for_subscribers(probe.joint_states, 1, 30.0), node.log()
    time.sleep(0.5)
    yield node, probe
    probe.close()
    assert node.stop() == 0, node.log()


def scene_msg(geometry, T_base_camera, probe: RetargetProbe, motions, **kwargs) -> TraceGrid:
    q = np.array(VIEW_Q_RAD)
    scene = synthetic_trace(geometry, T_base_camera, INTRINSICS, q, WIDTH_M, motions, **kwargs)
    return trace_to_msg(scene.trace, TraceGridMeta(stamp=stamp_ns_to_time(probe.now_ns()), frame_id=FRAME))


def line_msg(geometry, T_base_camera, probe: RetargetProbe, offset_m=(0.05, 0.03, -0.04)) -> TraceGrid:
    offsets = np.linspace(0.0, 1.0, STEPS)[:, None] * np.asarray(offset_m)
    return scene_msg(geometry, T_base_camera, probe, translation_motions(offsets))


def send_and_wait_for_path(node, probe: RetargetProbe, msg: TraceGrid, timeout_s: float = 30.0):
    """Publish a trace; return the (Path, EndEffectorPlan) it became."""
    paths, plans = len(probe.paths.messages), len(probe.plans.messages)
    probe.traces.publish(msg)
    assert probe.paths.wait_count(paths + 1, timeout_s), node.log()[-3000:]
    assert probe.plans.wait_count(plans + 1, timeout_s), node.log()[-3000:]
    return probe.paths.messages[paths], probe.plans.messages[plans]


def path_positions_m(path: Path) -> np.ndarray:
    return np.array([pose_to_matrix(p.pose)[:3, 3] for p in path.poses])


def test_with_default_parameters_the_node_says_what_it_waits_for(retarget):
    node, _ = retarget
    assert node.wait_for_log(r"waiting for joint states on /joint_states and traces on /tracegen/trace"), (
        node.log()
    )
    assert node.running


def test_a_trace_whose_gripper_points_move_becomes_a_path_in_the_base_frame(
    retarget, geometry, T_base_camera, kinematics
):
    node, probe = retarget
    msg = line_msg(geometry, T_base_camera, probe, (0.05, 0.03, -0.04))
    path, plan = send_and_wait_for_path(node, probe, msg)
    assert path.header.frame_id == "fr3_link0" and path.header.stamp == msg.header.stamp
    assert len(path.poses) == STEPS
    expected = kinematics.fk(np.array(VIEW_Q_RAD))[:3, 3] + np.linspace(0.0, 1.0, STEPS)[:, None] * [
        0.05,
        0.03,
        -0.04,
    ]
    assert np.linalg.norm(path_positions_m(path) - expected, axis=1).max() < 0.002
    np.testing.assert_allclose(plan.positions_m, path_positions_m(path).ravel(), atol=1e-9)
    np.testing.assert_allclose(plan.time_from_start_s, np.arange(STEPS) * 0.25, atol=1e-9)


def test_an_object_carried_by_the_gripper_gives_close_and_open_commands(retarget, geometry, T_base_camera):
    node, probe = retarget
    motions, grasp_step, release_step = pick_and_place_motions()
    msg = scene_msg(
        geometry, T_base_camera, probe, motions, obj=BLOCK, grasp_step=grasp_step, release_step=release_step
    )
    _, plan = send_and_wait_for_path(node, probe, msg)
    actions = list(plan.gripper_action)
    assert actions.count(GripperAction.CLOSE) == 1, actions
    close = actions.index(GripperAction.CLOSE)
    assert close <= grasp_step + 1 and GripperAction.OPEN in actions[close:], actions


def malformed(msg: TraceGrid, case: str, probe: RetargetProbe) -> TraceGrid:
    """``msg`` broken in one way (see MALFORMED)."""
    if case == "2D trace":
        uv = np.frombuffer(msg.uvz, np.float32).reshape(400, STEPS, 3)[..., :2]
        trace = Trace.from_uvz(uv, INTRINSICS, is_3d=False)
        return trace_to_msg(trace, TraceGridMeta(stamp=msg.header.stamp, frame_id=FRAME))
    if case == "NaN positions":
        uvz = np.frombuffer(msg.uvz, np.float32).copy().reshape(400, STEPS, 3)
        uvz[:, 5, 2] = math.nan
        msg.uvz = array.array("f", uvz.tobytes())
    elif case == "empty trace":
        msg.rows, msg.cols, msg.horizon, msg.uvz, msg.step_valid = 0, 0, 0, array.array("f"), []
    elif case == "absurd intrinsics":
        msg.camera_info.k = [0.0, 0.0, 320.0, 0.0, 0.0, 240.0, 0.0, 0.0, 1.0]
    elif case == "wrong grid size":
        msg.rows, msg.cols = 10, 10
    elif case == "stale trace":
        msg.header.stamp = stamp_ns_to_time(probe.now_ns() - 120_000_000_000)
    elif case == "another camera frame":
        msg.header.frame_id = "wrist_camera_optical_frame"
    return msg


#: case -> what the log must say (a regex)
MALFORMED = {
    "2D trace": "2D-only",
    "NaN positions": r"400 valid entries with non-finite z",
    "empty trace": "0x0 grid: at least 2x2 is required",
    "absurd intrinsics": "focal|fx",
    "wrong grid size": "uvz has 39600 values but rows=10, cols=10",
    "stale trace": r"the trace is 1[12]\d\.\d s old \(max_trace_age_s 30\)",
    "another camera frame": "calibration is for 'camera_color_optical_frame'",
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_traces_are_refused_with_a_reason_and_publish_no_path(
    retarget, geometry, T_base_camera, case
):
    node, probe = retarget
    refusals = node.log().count("refused a trace")
    paths, plans = len(probe.paths.messages), len(probe.plans.messages)
    probe.traces.publish(malformed(line_msg(geometry, T_base_camera, probe), case, probe))
    assert node.wait_for_log("refused a trace", 30.0, count=refusals + 1), node.log()[-3000:]
    refusal = node.log().split("refused a trace")[refusals + 1].splitlines()[0]
    assert re.search(MALFORMED[case], refusal), refusal
    assert not probe.paths.wait_count(paths + 1, 0.5), "a refused trace published a path"
    assert len(probe.plans.messages) == plans
    assert node.running


def test_after_malformed_traces_a_good_one_still_becomes_a_path(retarget, geometry, T_base_camera):
    node, probe = retarget
    msg = line_msg(geometry, T_base_camera, probe, (0.0, -0.05, 0.03))
    path, _ = send_and_wait_for_path(node, probe, msg)
    assert len(path.poses) == STEPS
    assert probe.diagnostics.wait_for(
        lambda msgs: any(
            s.name == "retarget_node: trace retargeting" and s.level == b"\x00"
            for m in msgs
            for s in m.status
        ),
        10.0,
    )
