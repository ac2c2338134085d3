"""``tracegen forge show``: one triplet as a picture (PNG) or a short video (MP4) for a person.

Left: the reference frame with every trace drawn (:func:`tracegen.viz.draw_traces`, colour by
time); right: the same traces in a small 3D plot (:func:`tracegen.viz3d.render_traces_3d`);
below: the instructions and where the triplet came from. The MP4 grows the 2D traces step by
step over the reference frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tracegen.data import Triplet, read_triplets
from tracegen.errors import InputError
from tracegen.trace import Trace
from tracegen.viz import draw_traces
from tracegen.viz3d import render_traces_3d

PANEL_HEIGHT_PX = 480
VIDEO_FPS = 8


def triplet_at(dataset: str | Path, index: int) -> Triplet:
    """The ``index``-th triplet of a forge output directory (or any triplet dataset)."""
    if index < 0:
        raise InputError(f"triplet index must be >= 0, got {index}")
    count = 0
    for count, triplet in enumerate(read_triplets(dataset), start=1):
        if count - 1 == index:
            return triplet
    raise InputError(f"{dataset} holds {count} triplets; index {index} is out of range")


def _caption_strip(triplet: Triplet, width_px: int) -> np.ndarray:
    lines = [f"{triplet.instruction_source}: {text}" for text in triplet.instructions]
    lines.append(
        f"{Path(triplet.source).name} ep {triplet.episode_id} frame {triplet.frame_index} | "
        f"{'3D' if triplet.trace.is_3d else '2D-only'} | {triplet.trace.num_valid_steps} steps | "
        f"intrinsics {triplet.intrinsics_source} | {triplet.provenance.get('tracker', '')}"
    )
    strip = np.full((18 * len(lines) + 8, width_px, 3), 255, np.uint8)
    for row, line in enumerate(lines):
        cv2.putText(
            strip,
            line[:160],
            (6, 18 * (row + 1)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (20, 20, 20),
            1,
            cv2.LINE_AA,
        )
    return strip


def _left_panel(triplet: Triplet, trace: Trace) -> np.ndarray:
    scale = PANEL_HEIGHT_PX / triplet.rgb.shape[0]
    size = (max(2, round(triplet.rgb.shape[1] * scale)), PANEL_HEIGHT_PX)
    image = cv2.resize(triplet.rgb, size, interpolation=cv2.INTER_LINEAR)
    return draw_traces(image, trace, min_motion_px=1.0, thickness_px=2, point_radius_px=2)


def compose(triplet: Triplet, left: np.ndarray, plot: np.ndarray) -> np.ndarray:
    top = np.concatenate([left, plot], axis=1)
    frame = np.concatenate([top, _caption_strip(triplet, top.shape[1])], axis=0)
    # Even sizes for video encoders (yuv420p).
    return np.ascontiguousarray(frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2])


def _valid_part(trace: Trace) -> Trace:
    """The trace without its padding, so the colour ramp spans the steps that exist."""
    return trace.with_num_steps(max(trace.num_valid_steps, 2))


def render_png(triplet: Triplet, out: Path) -> Path:
    trace = _valid_part(triplet.trace)
    plot = render_traces_3d(trace, width_px=PANEL_HEIGHT_PX, height_px=PANEL_HEIGHT_PX)
    image = compose(triplet, _left_panel(triplet, trace), plot)
    if not cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise InputError(f"cannot write {out}")
    return out


def render_mp4(triplet: Triplet, out: Path) -> Path:
    import av

    trace = _valid_part(triplet.trace)
    plot = render_traces_3d(trace, width_px=PANEL_HEIGHT_PX, height_px=PANEL_HEIGHT_PX)
    # Step k shows steps 0..k in their final colours: hide later steps instead of cutting the ramp.
    frames = []
    for k in range(1, trace.num_steps + 1):
        shown = Trace(
            trace.uvz,
            trace.step_valid,
            trace.point_valid & (np.arange(trace.num_steps) < k),
            trace.is_3d,
            trace.intrinsics,
            trace.rows,
            trace.cols,
        )
        frames.append(compose(triplet, _left_panel(triplet, shown), plot))
    frames += [frames[-1]] * VIDEO_FPS  # hold the full trace for a second
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=VIDEO_FPS)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 4_000_000
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def show(dataset: str | Path, index: int, out: str | Path) -> Path:
    """Render triplet ``index`` of ``dataset`` to ``out`` (.png or .mp4)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".mp4"):
        raise InputError(f"--out must end in .png or .mp4, got {out.name!r}")
    triplet = triplet_at(dataset, index)
    out.parent.mkdir(parents=True, exist_ok=True)
    return render_png(triplet, out) if suffix == ".png" else render_mp4(triplet, out)
