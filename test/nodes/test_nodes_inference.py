"""inference_node in its own process with the real tiny TraceGen model, fed over DDS.

The node runs with the node graph's remappings (camera topics under /camera/camera/...), so the
test publishes where a RealSense driver would. Malformed input must be logged with its reason,
produce no TraceGrid, and leave the node working.
"""

from __future__ import annotations

import array
import time
from dataclasses import replace

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from tracegen.msg import TraceGrid
from tracegen_ros.camera_info import intrinsics_to_camera_info
from tracegen_ros.graph import CAMERA_TOPICS, tracegen_graph
from tracegen_ros.images import numpy_to_image
from tracegen_ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS
from tracegen_ros.trace_msg import msg_to_trace

from support.nodes_harness import RosProbe, start_node
from support.nodes_scenes import INTRINSICS, scene_depth_m, scene_rgb

pytestmark = [pytest.mark.ros, pytest.mark.slow]

INSTRUCTION = "push the red block to the right"
FRAME = "camera_color_optical_frame"


def inference_remappings():
    (spec,) = [n for n in tracegen_graph().nodes if n.name == "inference_node"]
    return spec.remappings


class Feeder:
    """Publishes synchronised colour + depth + camera_info frame sets like a RealSense driver."""

    def __init__(self, probe: RosProbe) -> None:
        self.probe = probe
        self.color = probe.publisher(Image, CAMERA_TOPICS["color/image_raw"], SENSOR_QOS)
        self.depth = probe.publisher(Image, CAMERA_TOPICS["aligned_depth_to_color/image_raw"], SENSOR_QOS)
        self.info = probe.publisher(CameraInfo, CAMERA_TOPICS["color/camera_info"], SENSOR_QOS)
        self.instruction = probe.publisher(String, "/tracegen/instruction", LATCHED_QOS)
        self.traces = probe.collect(TraceGrid, "/tracegen/trace", COMMAND_QOS)
        self.markers = probe.collect(MarkerArray, "/tracegen/trace_markers", COMMAND_QOS)
        self.diagnostics = probe.collect(DiagnosticArray, "/diagnostics", COMMAND_QOS)
        self._offset_ns = 0

    def latest_status(self):
        """The inference node's newest DiagnosticStatus (after giving the next one time to come)."""
        count = len(self.diagnostics.messages)
        self.diagnostics.wait_count(count + 2, 5.0)
        statuses = [
            s for m in self.diagnostics.messages for s in m.status if s.name.startswith("inference_node")
        ]
        return statuses[-1] if statuses else None

    def stamp(self, age_s: float = 0.0) -> Time:
        self._offset_ns += 1000  # distinct stamps even within one clock tick
        ns = self.probe.now().nanoseconds - int(age_s * 1e9) + self._offset_ns
        return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def publish(self, *, color=None, depth=None, info=None, age_s: float = 0.0) -> Time:
        """One frame set (defaults: a valid synthetic scene); returns its stamp."""
        stamp = self.stamp(age_s)
        color = color if color is not None else numpy_to_image(scene_rgb(0), "rgb8")
        depth = (
            depth
            if depth is not None
            else numpy_to_image(np.rint(scene_depth_m(0) * 1000).astype(np.uint16), "16UC1")
        )
        info = info if info is not None else intrinsics_to_camera_info(INTRINSICS, FRAME)
        for msg in (color, depth, info):
            msg.header.stamp = stamp
            msg.header.frame_id = FRAME
        self.color.publish(color)
        self.depth.publish(depth)
        self.info.publish(info)
        return stamp

    def trace_for(self, stamp: Time, timeout_s: float) -> TraceGrid | None:
        found = self.traces.wait_for(lambda msgs: any(m.header.stamp == stamp for m in msgs), timeout_s)
        return self.traces.matching(lambda m: m.header.stamp == stamp)[0] if found else None

    def predict(self, attempts: int = 3, timeout_s: float = 30.0) -> TraceGrid:
        """Publish a valid frame set until a trace for it arrives (sensor QoS is best effort)."""
        for _ in range(attempts):
            msg = self.trace_for(self.publish(), timeout_s)
            if msg is not None:
                return msg
        raise AssertionError("no TraceGrid for a valid frame set")


@pytest.fixture(scope="module")
def probe():
    probe = RosProbe("inference_test_probe")
    yield probe
    probe.close()


@pytest.fixture(scope="module")
def node(tmp_path_factory, node_env, probe):
    tmp_path = tmp_path_factory.mktemp("inference")
    process = start_node(
        "inference_node",
        tmp_path,
        node_env,
        name="inference_node",
        namespace="tracegen",
        params_file="inference.yaml",
        parameters={
            "model.preset": "tiny",
            "model.device": "cpu",
            "model.steps": 4,
            "model.threads": 1,
            "seed": 0,
            "instruction": INSTRUCTION,
            "max_frame_age_s": 60.0,
        },
        remappings=inference_remappings(),
    )
    assert process.wait_for_log(r"model random-weights/tiny ready", 120.0), process.log()
    yield process
    assert process.stop() == 0, process.log()


@pytest.fixture(scope="module")
def feeder(probe, node):
    feeder = Feeder(probe)
    assert probe.wait_for_subscribers(feeder.color), node.log()
    feeder.predict()  # warm up: the first prediction pays for lazy initialisation
    return feeder


def test_a_frame_set_yields_a_trace_grid_stamped_like_its_image(feeder):
    stamp = feeder.publish()
    msg = feeder.trace_for(stamp, 30.0)
    assert msg is not None
    trace, meta = msg_to_trace(msg)
    assert (msg.rows, msg.cols, msg.horizon) == (20, 20, 32)
    assert meta.frame_id == FRAME and meta.instruction == INSTRUCTION
    assert meta.model_id == "random-weights/tiny"
    assert trace.intrinsics == INTRINSICS and trace.is_3d
    assert meta.inference_latency_s > 0.0
    query_depth_m = trace.uvz[:, 0, 2]
    assert np.all((query_depth_m > 0.6) & (query_depth_m < 0.85)), "step 0 sits on the scene's depth"


def test_markers_accompany_each_trace_as_line_strips_in_the_camera_frame(feeder):
    stamp = feeder.publish()
    assert feeder.trace_for(stamp, 30.0) is not None
    assert feeder.markers.wait_for(
        lambda msgs: any(m.markers and m.markers[0].header.stamp == stamp for m in msgs)
    )
    (markers,) = feeder.markers.matching(lambda m: m.markers and m.markers[0].header.stamp == stamp)
    strips = [m for m in markers.markers if m.action == Marker.ADD]
    assert strips and all(m.type == Marker.LINE_STRIP and m.header.frame_id == FRAME for m in strips)
    first, last = strips[0].colors[0], strips[0].colors[-1]
    assert (first.r, first.g, first.b) != (last.r, last.g, last.b), "colour changes with time"


def test_frames_arriving_while_the_model_is_busy_are_dropped_not_queued(feeder, node):
    feeder.traces.clear()
    skipped_before = _skipped(feeder)
    stamps = [feeder.publish() for _ in range(10)]
    assert feeder.traces.wait_count(1, 30.0), node.log()[-2000:]
    _wait_until_quiet(feeder.traces, quiet_s=1.5)
    predicted = [stamps.index(m.header.stamp) for m in feeder.traces.messages]
    assert 1 <= len(predicted) < len(stamps), f"predicted frames {predicted} of {len(stamps)}"
    assert predicted == sorted(predicted), "never an older frame after a newer one"
    assert _skipped(feeder) > skipped_before, "the diagnostics count the skipped frames"


def _skipped(feeder) -> int:
    """``dropped_superseded`` from the node's latest /diagnostics status."""
    status = feeder.latest_status()
    values = {kv.key: kv.value for kv in status.values} if status is not None else {}
    return int(values.get("dropped_superseded", 0))


def _wait_until_quiet(collector, quiet_s: float, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    count, since = len(collector.messages), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.1)
        if len(collector.messages) != count:
            count, since = len(collector.messages), time.monotonic()


def test_a_stale_frame_is_dropped_instead_of_predicted(feeder, node):
    stamp = feeder.publish(age_s=100.0)
    assert node.wait_for_log(r"dropped a frame 1\d\d\.\d\d s old", 20.0), node.log()
    assert feeder.trace_for(stamp, 0.5) is None
    feeder.predict()


def color_image(encoding="rgb8", size=(64, 48)):
    if encoding == "mono8":
        msg = Image(
            height=size[1], width=size[0], encoding="mono8", step=size[0], data=bytes(size[0] * size[1])
        )
        return msg
    return numpy_to_image(
        scene_rgb(0) if size == (64, 48) else np.zeros((size[1], size[0], 3), np.uint8), encoding
    )


def depth_metres(value: float, size=(64, 48)) -> Image:
    return numpy_to_image(np.full((size[1], size[0]), value, np.float32), "32FC1")


def truncated(msg: Image) -> Image:
    msg.data = bytes(msg.data)[:-10]
    return msg


def info_with(**changes) -> CameraInfo:
    info = intrinsics_to_camera_info(INTRINSICS, FRAME)
    for key, value in changes.items():
        setattr(info, key, value)
    return info


MALFORMED = {
    "colour encoding": ({"color": color_image("mono8")}, "colour image has encoding 'mono8'"),
    "depth encoding": (
        {"depth": numpy_to_image(np.zeros((48, 64, 3), np.uint8), "rgb8")},
        "depth image has encoding 'rgb8'",
    ),
    "truncated colour data": ({"color": truncated(color_image())}, "image data has 9206 bytes"),
    "depth size differs from colour": (
        {"depth": depth_metres(0.8, size=(32, 24))},
        "depth image 32x24 does not match colour 64x48",
    ),
    "colour size differs from camera_info": (
        {
            "info": intrinsics_to_camera_info(
                replace(INTRINSICS, width_px=640, height_px=480, cx_px=320.0, cy_px=240.0), FRAME
            )
        },
        "rgb is 64x48 but the intrinsics describe a 640x480 image",
    ),
    "NaN depth": ({"depth": depth_metres(float("nan"))}, "depth image has no valid pixel"),
    "infinite depth": ({"depth": depth_metres(float("inf"))}, "depth image has no valid pixel"),
    "zero depth": (
        {"depth": numpy_to_image(np.zeros((48, 64), np.uint16), "16UC1")},
        "depth image has no valid pixel",
    ),
    "millimetres sent as metres": ({"depth": depth_metres(800.0)}, "depth median 800.0 m is implausible"),
    "empty intrinsics": ({"info": info_with(k=array.array("d", [0.0] * 9))}, "camera_info is empty"),
    "absurd focal length": (
        {"info": info_with(k=array.array("d", [0.5, 0, 31.5, 0, 0.5, 23.5, 0, 0, 1]))},
        "field of view",
    ),
    "distorted image": (
        {"info": info_with(d=[0.1, 0.0, 0.0, 0.0, 0.0])},
        "tracegen expects rectified images",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_input_is_logged_produces_no_trace_and_the_node_keeps_working(feeder, node, case):
    fields, reason = MALFORMED[case]
    before = node.log().count(reason)
    stamp = feeder.publish(**fields)
    assert node.wait_for_log(f"refused a frame: .*{_escape(reason)}", 20.0, count=before + 1), node.log()[
        -3000:
    ]
    assert feeder.trace_for(stamp, 0.5) is None, "no trace may come from malformed input"
    assert node.running
    feeder.predict()


def _escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    "garbage",
    ["", "   ", "\x00\x07 beep", "x" * 600, "?!?! 12345"],
    ids=["empty", "blank", "control", "long", "noletter"],
)
def test_garbage_instructions_are_ignored_and_the_previous_one_is_kept(feeder, node, garbage):
    before = node.log().count("ignored the instruction")
    feeder.instruction.publish(String(data=garbage))
    assert node.wait_for_log("ignored the instruction", 20.0, count=before + 1), node.log()[-3000:]
    assert f"keeping {INSTRUCTION!r}" in node.log()
    _, meta = msg_to_trace(feeder.predict())
    assert meta.instruction == INSTRUCTION


def test_an_instruction_on_the_topic_replaces_the_parameter(feeder, node):
    try:
        feeder.instruction.publish(String(data="  lift the   cup "))
        assert node.wait_for_log(r"instruction: 'lift the cup'", 20.0), node.log()[-3000:]
        _, meta = msg_to_trace(feeder.predict())
        assert meta.instruction == "lift the cup"
    finally:
        feeder.instruction.publish(String(data=INSTRUCTION))
        assert node.wait_for_log(f"instruction: {INSTRUCTION!r}", 20.0)


def test_without_a_model_the_node_stays_up_and_says_what_to_set(tmp_path, node_env):
    process = start_node(
        "inference_node",
        tmp_path,
        node_env,
        name="inference_node",
        namespace="tracegen",
        params_file="inference.yaml",
    )
    try:
        assert process.wait_for_log(r"no model: set model.checkpoint", 30.0), process.log()
        time.sleep(1.0)
        assert process.running
    finally:
        assert process.stop() == 0


def test_a_saved_checkpoint_is_loaded_through_load_predictor(tmp_path, node_env, probe):
    import torch

    from tracegen.model.checkpoint import save_checkpoint
    from tracegen.model.config import load_preset
    from tracegen.model.model import build_model

    torch.manual_seed(0)
    checkpoint = save_checkpoint(build_model(load_preset("tiny")), tmp_path / "tiny-ckpt")
    process = start_node(
        "inference_node",
        tmp_path,
        node_env,
        name="inference_ckpt",
        namespace="ckpt_test",
        params_file="inference.yaml",
        parameters={
            "model.checkpoint": str(checkpoint),
            "model.steps": 2,
            "model.device": "cpu",
            "model.threads": 1,
            "instruction": INSTRUCTION,
        },
    )
    try:
        assert process.wait_for_log(r"model tiny-ckpt\S* ready", 120.0), process.log()
        assert process.running
    finally:
        assert process.stop() == 0


def test_a_bad_instruction_parameter_stops_the_node_at_start(tmp_path, node_env):
    process = start_node(
        "inference_node",
        tmp_path,
        node_env,
        name="inference_bad",
        namespace="bad",
        params_file="inference.yaml",
        parameters={"instruction": "\x01\x02"},
    )
    assert process.wait(30.0) == 2, process.log()
    process.stop()
    assert "configuration error: instruction" in process.log()
