"""Message helpers of the nodes: images without cv_bridge, the approximate-time sync, markers,
instruction checks."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker

from tracegen.errors import InputError
from tracegen.instruction import MAX_INSTRUCTION_CHARS, clean_instruction
from tracegen.viz import time_colors_rgb
from tracegen_ros.images import ImageError, color_to_rgb, depth_to_metres, image_to_numpy, numpy_to_image
from tracegen_ros.markers import trace_markers
from tracegen_ros.sync import ApproximateTimeSynchronizer

from support.traces import random_trace

pytestmark = pytest.mark.ros


# --- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "array"),
    [
        ("rgb8", np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)),
        ("bgr8", np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)),
        ("16UC1", np.arange(20, dtype=np.uint16).reshape(4, 5) * 1000),
        ("32FC1", np.linspace(0.1, 2.0, 20, dtype=np.float32).reshape(4, 5)),
    ],
)
def test_images_round_trip_through_messages_exactly(encoding, array):
    msg = numpy_to_image(array, encoding, frame_id="camera_color_optical_frame")
    assert (msg.width, msg.height, msg.encoding) == (5, 4, encoding)
    back = image_to_numpy(msg)
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_row_padding_and_big_endian_data_are_honoured():
    depth = np.array([[1, 2, 3], [400, 500, 60000]], dtype=np.uint16)
    padded = np.zeros((2, 8), dtype=np.uint8)  # step 8 bytes for 6 bytes of pixels
    padded[:, :6] = depth.astype(">u2").view(np.uint8)
    msg = Image(height=2, width=3, encoding="16UC1", is_bigendian=1, step=8, data=padded.tobytes())
    assert np.array_equal(image_to_numpy(msg), depth)


def test_bgr8_colour_is_converted_to_rgb():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    rgb = color_to_rgb(numpy_to_image(bgr, "bgr8"))
    assert (rgb[..., 2] == 255).all() and (rgb[..., 0] == 0).all()


def test_depth_in_millimetres_becomes_metres_and_non_finite_becomes_no_reading():
    assert np.allclose(
        depth_to_metres(numpy_to_image(np.array([[650, 0]], np.uint16), "16UC1")), [[0.65, 0.0]]
    )
    metres = np.array([[0.5, np.nan, np.inf, -1.0]], np.float32)
    assert np.array_equal(depth_to_metres(numpy_to_image(metres, "32FC1")), [[0.5, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (
            Image(height=2, width=2, encoding="mono8", step=2, data=bytes(4)),
            "encoding 'mono8' is not supported",
        ),
        (Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(10)), "data has 10 bytes"),
        (Image(height=2, width=2, encoding="rgb8", step=4, data=bytes(8)), "step 4 is shorter"),
        (Image(height=0, width=2, encoding="rgb8", step=6, data=b""), "empty or absurd"),
    ],
)
def test_inconsistent_images_are_refused_naming_the_field(msg, message):
    with pytest.raises(ImageError, match=message):
        image_to_numpy(msg)


def test_colour_and_depth_helpers_refuse_each_others_encodings():
    with pytest.raises(ImageError, match="colour image has encoding '16UC1'"):
        color_to_rgb(numpy_to_image(np.zeros((2, 2), np.uint16), "16UC1"))
    with pytest.raises(ImageError, match="depth image has encoding 'rgb8'"):
        depth_to_metres(numpy_to_image(np.zeros((2, 2, 3), np.uint8), "rgb8"))


# --- approximate-time synchroniser ------------------------------------------------------------


def stamped(sec: float, label: str = "") -> Image:
    msg = Image(encoding=label)
    msg.header.stamp = Time(sec=int(sec), nanosec=round((sec % 1) * 1e9))
    return msg


def make_sync(slop_s: float = 0.01, queue_size: int = 10):
    sync = ApproximateTimeSynchronizer(3, queue_size, slop_s)
    sets = []
    sync.register_callback(lambda *msgs: sets.append([m.encoding for m in msgs]))
    return sync, sets


def test_messages_within_slop_are_emitted_as_one_set_in_input_order():
    sync, sets = make_sync()
    sync.add(1, stamped(10.003, "depth"))
    sync.add(0, stamped(10.000, "color"))
    assert sets == []
    sync.add(2, stamped(10.001, "info"))
    assert sets == [["color", "depth", "info"]]


def test_messages_further_apart_than_slop_are_never_paired():
    sync, sets = make_sync(slop_s=0.01)
    sync.add(0, stamped(10.0, "color"))
    sync.add(1, stamped(10.05, "depth"))
    sync.add(2, stamped(10.0, "info"))
    assert sets == []


def test_the_nearest_candidate_is_chosen_and_older_messages_are_discarded():
    sync, sets = make_sync(slop_s=0.02)
    for t, label in ((1.00, "c1"), (1.10, "c2")):
        sync.add(0, stamped(t, label))
    sync.add(2, stamped(1.105, "i2"))
    sync.add(1, stamped(1.101, "d2"))
    assert sets == [["c2", "d2", "i2"]]
    sync.add(1, stamped(1.001, "d1-late"))  # c1 was discarded when the later set was emitted
    sync.add(2, stamped(1.0, "i1-late"))
    assert sets == [["c2", "d2", "i2"]]


def test_each_input_keeps_at_most_queue_size_messages():
    sync, sets = make_sync(queue_size=2)
    for t in (1.0, 2.0, 3.0):
        sync.add(0, stamped(t, f"c{t}"))
    sync.add(1, stamped(1.0, "d1"))
    sync.add(2, stamped(1.0, "i1"))
    assert sets == [], "the colour message at t=1 was pushed out of the queue"
    sync.add(1, stamped(3.0, "d3"))
    sync.add(2, stamped(3.0, "i3"))
    assert sets == [["c3.0", "d3", "i3"]]


@pytest.mark.parametrize(("inputs", "queue", "slop"), [(1, 10, 0.1), (3, 0, 0.1), (3, 10, -1.0)])
def test_the_synchroniser_refuses_meaningless_settings(inputs, queue, slop):
    with pytest.raises(InputError):
        ApproximateTimeSynchronizer(inputs, queue, slop)


# --- markers ------------------------------------------------------------------------------------


def test_markers_are_one_line_strip_per_trace_in_the_camera_frame_coloured_by_time():
    trace = random_trace(3, with_holes=True)
    stamp = Time(sec=5, nanosec=7)
    markers = trace_markers(trace, stamp=stamp, frame_id="camera_color_optical_frame").markers
    assert markers[0].action == Marker.DELETEALL
    strips = markers[1:]
    assert len(strips) == trace.num_points
    colors = time_colors_rgb(trace.num_steps) / 255.0
    xyz = trace.to_xyz_m()
    for strip in strips:
        steps = np.flatnonzero(trace.point_valid[strip.id])
        assert strip.type == Marker.LINE_STRIP and strip.header.frame_id == "camera_color_optical_frame"
        assert strip.header.stamp == stamp
        assert np.allclose([[p.x, p.y, p.z] for p in strip.points], xyz[strip.id, steps], atol=1e-6)
        assert np.allclose([[c.r, c.g, c.b] for c in strip.colors], colors[steps], atol=1e-6)


def test_two_dimensional_traces_have_no_metric_markers_only_the_clear():
    markers = trace_markers(random_trace(4, is_3d=False), stamp=Time(), frame_id="cam").markers
    assert [m.action for m in markers] == [Marker.DELETEALL]


def test_marker_stride_and_motion_threshold_thin_out_the_grid():
    trace = random_trace(5)
    assert len(trace_markers(trace, stamp=Time(), frame_id="c", stride=4).markers) == 1 + 100
    assert len(trace_markers(trace, stamp=Time(), frame_id="c", min_motion_m=1e6).markers) == 1


# --- instructions -------------------------------------------------------------------------------


def test_instructions_are_cleaned_of_surrounding_and_repeated_whitespace():
    assert clean_instruction("  put the  red block\tin the bowl \n") == "put the red block in the bowl"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * (MAX_INSTRUCTION_CHARS + 1), "at most"),
        ("pick \x00\x01 up", "control"),
        ("1234 !!! ???", "no letter"),
    ],
)
def test_garbage_instructions_are_refused_with_the_reason(text, message):
    with pytest.raises(InputError, match=message):
        clean_instruction(text)
