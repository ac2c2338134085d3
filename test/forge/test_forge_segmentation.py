"""Event segmentation: motion events are kept, still stretches dropped with a recorded reason."""

from __future__ import annotations

import numpy as np
import pytest

from tracegen.forge.config import ForgeConfig
from tracegen.forge.segmentation import Event, segment_events

from support.forge_media import box_episode


def clip(*pieces: tuple[str, int]) -> np.ndarray:
    """Rendered box-scene frames: ("still", n) repeats the current frame, ("move", n) plays n frames."""
    rgb = np.asarray(box_episode(num_frames=40, still_frames=0).rgb)
    frames, position = [], 0
    for kind, count in pieces:
        for _ in range(count):
            frames.append(rgb[position])
            if kind == "move":
                position += 1
    return np.stack(frames)


@pytest.mark.parametrize("method", ["frame_diff", "tracks"])
def test_a_motion_between_still_stretches_is_one_event(method):
    frames = clip(("still", 10), ("move", 16), ("still", 10))
    seg = segment_events(frames, ForgeConfig(segmentation=method, event_padding_frames=2))
    assert len(seg.events) == 1
    event = seg.events[0]
    assert 7 <= event.start <= 10 and 26 <= event.stop <= 29
    assert [d.reason.split(":")[0] for d in seg.dropped] == ["still", "still"]


@pytest.mark.parametrize("method", ["frame_diff", "tracks"])
def test_a_static_clip_has_no_event_and_says_so(method):
    frames = clip(("still", 20))
    seg = segment_events(frames, ForgeConfig(segmentation=method))
    assert seg.events == []
    assert len(seg.dropped) == 1 and seg.dropped[0].reason.startswith("static: peak motion score 0")


def test_a_short_pause_inside_a_motion_does_not_split_the_event():
    frames = clip(("still", 6), ("move", 8), ("still", 3), ("move", 8), ("still", 6))
    seg = segment_events(frames, ForgeConfig(merge_gap_frames=5, event_padding_frames=0))
    assert seg.events == [Event(6, 26)] or (len(seg.events) == 1 and seg.events[0].num_frames >= 18)


def test_a_long_pause_splits_two_events():
    frames = clip(("still", 6), ("move", 10), ("still", 14), ("move", 10), ("still", 6))
    seg = segment_events(frames, ForgeConfig(merge_gap_frames=5, event_padding_frames=1))
    assert len(seg.events) == 2 and seg.events[0].stop <= seg.events[1].start


def test_a_twitch_shorter_than_min_event_frames_is_dropped_with_its_length():
    frames = clip(("still", 10), ("move", 3), ("still", 10))
    seg = segment_events(frames, ForgeConfig(min_event_frames=10, event_padding_frames=1))
    assert seg.events == []
    short = [d for d in seg.dropped if "shorter than min_event_frames" in d.reason]
    assert len(short) == 1 and "(10)" in short[0].reason


def test_the_threshold_decides_what_counts_as_motion():
    frames = clip(("still", 5), ("move", 12), ("still", 5))
    assert segment_events(frames, ForgeConfig(frame_diff_threshold=0.5)).events == []
    assert len(segment_events(frames, ForgeConfig(frame_diff_threshold=0.001)).events) == 1
