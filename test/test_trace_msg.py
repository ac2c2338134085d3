"""tracegen/msg/TraceGrid: conversions with the core and a real DDS round trip between processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message

from tracegen.errors import TraceError
from tracegen.msg import TraceGrid
from tracegen_ros.trace_msg import TraceGridMeta, msg_to_trace, trace_to_msg

from support.processes import start_python, stop, wait_for_file
from support.ros_messages import assert_messages_identical
from support.traces import random_trace

pytestmark = pytest.mark.ros
SCRIPTS = Path(__file__).parent / "ros_scripts"


def make_meta(num_points: int = 400) -> TraceGridMeta:
    return TraceGridMeta(
        stamp=Time(sec=1_700_000_000, nanosec=123_456_789),
        frame_id="camera_color_optical_frame",
        instruction="put the red block in the bowl",
        model_id="tracegen-tiny@0123abcd",
        inference_latency_s=0.0421,
        confidence=np.linspace(0.0, 1.0, num_points, dtype=np.float32),
    )


@pytest.mark.parametrize(
    ("is_3d", "with_holes"), [(True, False), (True, True), (False, False), (False, True)]
)
def test_trace_survives_message_conversion_bit_for_bit(is_3d, with_holes):
    trace = random_trace(11, is_3d=is_3d, with_holes=with_holes)
    back, meta = msg_to_trace(trace_to_msg(trace, make_meta()))
    assert back.same_as(trace)
    assert meta.instruction == "put the red block in the bowl"
    assert meta.frame_id == "camera_color_optical_frame"
    assert np.array_equal(meta.confidence, make_meta().confidence)


def test_message_layout_is_point_step_channel_in_c_order():
    trace = random_trace(12)
    msg = trace_to_msg(trace, make_meta())
    flat = np.frombuffer(msg.uvz, dtype=np.float32)
    assert flat.size == 400 * 33 * 3
    assert flat[(5 * 33 + 7) * 3 + 2] == trace.uvz[5, 7, 2]
    assert (msg.rows, msg.cols, msg.horizon) == (20, 20, 32)
    assert msg.camera_info.k[0] == trace.intrinsics.fx_px
    assert len(msg.point_valid) == 0, "all-valid points are sent as an empty list"


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda m: setattr(m, "uvz", m.uvz[:-3]), "uvz has"),
        (lambda m: setattr(m, "step_valid", m.step_valid[:-1]), "step_valid has"),
        (lambda m: setattr(m, "point_valid", [True] * 5), "point_valid has"),
        (lambda m: setattr(m, "confidence", [0.5] * 3), "confidence has"),
        (lambda m: setattr(m.camera_info, "k", [0.0] * 9), "camera_info is empty"),
        (lambda m: setattr(m, "rows", 1), "grid"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(corrupt, message):
    msg = trace_to_msg(random_trace(13), make_meta())
    corrupt(msg)
    with pytest.raises(TraceError, match=message):
        msg_to_trace(msg)


@pytest.mark.slow
def test_trace_grid_crosses_dds_between_processes_bit_for_bit(tmp_path, node_env):
    trace = random_trace(14, with_holes=True)
    sent = trace_to_msg(trace, make_meta())
    sent_bytes = serialize_message(sent)
    (tmp_path / "sent.bin").write_bytes(sent_bytes)
    received_path = tmp_path / "received.bin"
    recorder = start_python(
        SCRIPTS / "record_first.py",
        ["tracegen/msg/TraceGrid", "/test/trace", str(received_path)],
        node_env,
        tmp_path / "recorder.log",
    )
    publisher = start_python(
        SCRIPTS / "publish_serialized.py",
        ["tracegen/msg/TraceGrid", "/test/trace", str(tmp_path / "sent.bin")],
        node_env,
        tmp_path / "publisher.log",
    )
    try:
        arrived = wait_for_file(received_path, 60.0, recorder)
    finally:
        stop(publisher)
        stop(recorder)
    logs = (tmp_path / "recorder.log").read_text() + (tmp_path / "publisher.log").read_text()
    assert arrived, f"no TraceGrid arrived over DDS; logs:\n{logs}"
    received_msg = deserialize_message(received_path.read_bytes(), TraceGrid)
    # What went on the wire (float32 fields rounded) equals what came back, bit for bit.
    assert_messages_identical(received_msg, deserialize_message(sent_bytes, TraceGrid))
    received, _ = msg_to_trace(received_msg)
    assert received.same_as(trace)
