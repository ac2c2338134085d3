"""What ``tracegen demo`` leaves in its output folder: the video, summary.png, summary.json.

ROS-free (numpy, OpenCV, matplotlib), so the outputs can be written and tested without a graph.

- ``demo.mp4`` (MPEG-4 Part 2 through OpenCV's bundled FFmpeg; ``demo.gif`` through Pillow when
  no MP4 encoder is available): the camera view with the latest predicted traces drawn;
- ``summary.png``: per episode, the first camera frame with its first prediction drawn, titled
  with the result;
- ``summary.json``: :func:`summary_dict` (per-episode success, steps, durations, closed-loop rate).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

VIDEO_NAME = "demo.mp4"
GIF_NAME = "demo.gif"
SUMMARY_PNG = "summary.png"
SUMMARY_JSON = "summary.json"
#: Why an episode ended.
END_REASONS = ("success", "max_steps", "timeout")


@dataclass
class EpisodeResult:
    """One closed-loop episode.

    Attributes:
        episode: index within this run (0-based); ``sim_episode`` is the world's own counter.
        steps: predictions (traces) made for this episode; each is one closed-loop step, whether
            or not the robot could execute it.
        commands: plans the IK controller started executing (robot commands issued).
        refused: plans the IK controller refused (reasons in ``refusal_reasons``).
        duration_s: wall time from the start of the closed loop to the end of the episode.
    """

    episode: int
    sim_episode: int
    seed: int
    task: str
    instruction: str
    success: bool
    end_reason: str
    steps: int
    commands: int
    refused: int
    duration_s: float
    refusal_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class LoopTimings:
    """Closed-loop latencies of one run, seconds per stage, in ROS time.

    ``frame_to_trace``: camera frame stamp -> TraceGrid received; ``trace_to_plan``: TraceGrid
    received -> EndEffectorPlan received (retargeting); ``plan_to_command``: the IK controller
    accepted the plan -> reports it executing (IK, timing, franky); ``frame_to_command``: the
    whole loop, camera frame stamp -> robot command issued (the EXECUTING status's stamp).
    """

    frame_to_trace_s: list[float] = field(default_factory=list)
    trace_to_plan_s: list[float] = field(default_factory=list)
    plan_to_command_s: list[float] = field(default_factory=list)
    frame_to_command_s: list[float] = field(default_factory=list)
    model_latency_s: list[float] = field(default_factory=list)

    def stats(self) -> dict[str, dict[str, float | int | None]]:
        return {name: describe(values) for name, values in asdict(self).items()}


def describe(values: list[float]) -> dict[str, float | int | None]:
    """Count, mean, median, p90 and max of a list of seconds (None when empty)."""
    if not values:
        return {"count": 0, "mean": None, "median": None, "p90": None, "max": None}
    array = np.asarray(values, dtype=np.float64)
    return {
        "count": len(values),
        "mean": float(array.mean()),
        "median": float(np.median(array)),
        "p90": float(np.percentile(array, 90)),
        "max": float(array.max()),
    }


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95 % for ``z`` = 1.96), as fractions.

    Closed-loop evaluations have 5-10 trials, where the normal approximation gives intervals
    outside [0, 1]; Wilson's stays inside and is what robot-learning papers usually report.
    """
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def success_percent(results: list[EpisodeResult]) -> int:
    """The success rate as a whole percentage (0 for no episodes)."""
    if not results:
        return 0
    return round(100 * sum(r.success for r in results) / len(results))


class VideoSink:
    """Frames ``[H, W, 3]`` uint8 RGB -> ``demo.mp4`` (or ``demo.gif``), written as they come.

    The MP4 is streamed to disk, so memory stays flat however long the run; the GIF fallback
    keeps its frames (downscaled to at most 320 px wide) until :meth:`close`.
    """

    def __init__(self, out_dir: Path, fps: float) -> None:
        self.out_dir = Path(out_dir)
        self.fps = float(fps)
        self.frames = 0
        self.path: Path | None = None
        self._writer: cv2.VideoWriter | None = None
        self._gif_frames: list[np.ndarray] = []
        self._size: tuple[int, int] | None = None

    def write(self, rgb: np.ndarray, repeat: int = 1) -> None:
        """Append ``rgb`` ``repeat`` times (a slow camera's frame held for as long as it lasted)."""
        for _ in range(max(1, repeat) - 1):
            self._write_one(rgb)
        self._write_one(rgb)

    def _write_one(self, rgb: np.ndarray) -> None:
        height, width = rgb.shape[:2]
        if self._size is None:
            self._open(width, height)
        elif (width, height) != self._size:
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        if self._writer is not None:
            self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        else:
            scale = min(1.0, 320 / self._size[0])
            if scale < 1:
                rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            self._gif_frames.append(rgb.copy())
        self.frames += 1

    def _open(self, width: int, height: int) -> None:
        self._size = (width, height)
        path = self.out_dir / VIDEO_NAME
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
        if writer.isOpened():
            self._writer, self.path = writer, path
        else:  # an OpenCV build without an MP4 encoder
            path.unlink(missing_ok=True)
            self.path = self.out_dir / GIF_NAME

    def close(self) -> Path | None:
        """Finish the file; returns its path (None when no frame was written)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        elif self._gif_frames:
            from PIL import Image

            images = [Image.fromarray(frame) for frame in self._gif_frames]
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            duration_ms = int(1000 / self.fps)
            images[0].save(
                tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0
            )
            os.replace(tmp, self.path)
            self._gif_frames = []
        return self.path if self.frames else None


def write_summary_png(path: Path, results: list[EpisodeResult], first_frames: dict[int, np.ndarray]) -> Path:
    """A grid of each episode's first frame (with its first prediction drawn), titled with the result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = max(len(results), 1)
    cols = min(count, 4)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, result in zip(axes.ravel(), results, strict=False):
        frame = first_frames.get(result.episode)
        if frame is not None:
            ax.imshow(frame)
        else:
            ax.text(0.5, 0.5, "no camera frame", ha="center", va="center", transform=ax.transAxes)
        verdict = "SUCCESS" if result.success else f"failed ({result.end_reason})"
        ax.set_title(
            f"episode {result.episode} (seed {result.seed}): {verdict}\n"
            f"{result.steps} steps, {result.commands} commands, {result.duration_s:.0f} s",
            fontsize=9,
            color="green" if result.success else "firebrick",
        )
    task = results[0].task if results else "?"
    fig.suptitle(f"tracegen demo: {task}, success {success_percent(results)}%", fontsize=11)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def summary_dict(
    results: list[EpisodeResult],
    timings: LoopTimings,
    *,
    loop_seconds: float,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """summary.json: the episodes, the success rate and the closed-loop rate and latencies.

    ``closed_loop.command_rate_hz``: robot commands issued per second of closed-loop time;
    ``prediction_rate_hz``: predictions per second of closed-loop time.
    """
    commands = sum(r.commands for r in results)
    steps = sum(r.steps for r in results)
    return {
        **extra,
        "episodes": [asdict(r) for r in results],
        "success_rate": (sum(r.success for r in results) / len(results)) if results else 0.0,
        "success_percent": success_percent(results),
        "successes": sum(r.success for r in results),
        "success_ci95": list(wilson_interval(sum(r.success for r in results), len(results))),
        "closed_loop": {
            "seconds": loop_seconds,
            "steps": steps,
            "commands": commands,
            "prediction_rate_hz": steps / loop_seconds if loop_seconds > 0 else 0.0,
            "command_rate_hz": commands / loop_seconds if loop_seconds > 0 else 0.0,
            "latency_s": timings.stats(),
        },
    }


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
