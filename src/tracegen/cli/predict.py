"""``tracegen predict``: one prediction from an image (+ depth) and an instruction, drawn over the image."""

from __future__ import annotations

from pathlib import Path

import typer


def _read_depth_m(path: Path, depth_scale_m: float):
    """``.npy`` in metres, or a 16-bit PNG/TIFF in units of ``depth_scale_m`` (RealSense: 1 mm)."""
    import cv2
    import numpy as np

    from tracegen.errors import InputError

    if path.suffix == ".npy":
        return np.load(path).astype(np.float32)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim != 2:
        raise InputError(f"depth {path} must be a single-channel 16-bit image or a .npy of metres")
    return raw.astype(np.float32) * depth_scale_m


def predict(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="checkpoint directory (or official .pth)"),
    rgb: Path = typer.Option(..., "--rgb", help="reference colour image (PNG/JPEG)"),
    instruction: str = typer.Option(..., "--instruction", help="what the robot should do"),
    depth: Path | None = typer.Option(
        None, "--depth", help="aligned depth: 16-bit PNG (see --depth-scale) or .npy metres"
    ),
    depth_scale: float = typer.Option(0.001, help="metres per depth PNG unit (RealSense 16UC1: 0.001)"),
    out: Path | None = typer.Option(None, "--out", help="write the image with the traces drawn (PNG)"),
    save_uvz: Path | None = typer.Option(
        None, "--save-uvz", help="write predicted traces [N, L+1, 3] (.npy)"
    ),
    fx: float | None = typer.Option(None, help="focal length px (default: 60 deg horizontal field of view)"),
    fy: float | None = typer.Option(None, help="focal length px (default: fx)"),
    cx: float | None = typer.Option(None, help="principal point px (default: image centre)"),
    cy: float | None = typer.Option(None, help="principal point px (default: image centre)"),
    solver: str | None = typer.Option(
        None, help="euler, midpoint, heun, rk4, dopri5, official (default: checkpoint's)"
    ),
    steps: int | None = typer.Option(None, help="solver steps (default: checkpoint's)"),
    guidance: float | None = typer.Option(
        None, help="classifier-free guidance scale (default: checkpoint's)"
    ),
    seed: int | None = typer.Option(0, help="noise seed (reproducible predictions)"),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N"),
    tokenizer: str | None = typer.Option(None, help="tokenizer directory (official .pth files carry none)"),
) -> None:
    """Predict the 20x20 grid of traces for an image and instruction; draw them (colour by time)."""
    import cv2
    import numpy as np

    from tracegen.errors import InputError
    from tracegen.model.predictor import load_predictor
    from tracegen.observation import Observation
    from tracegen.trace import CameraIntrinsics
    from tracegen.viz import draw_traces

    try:
        bgr = cv2.imread(str(rgb), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"cannot read the image {rgb}")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        height, width = image.shape[:2]
        default = CameraIntrinsics.from_fov(width, height, 60.0)
        focal = fx if fx is not None else default.fx_px
        intrinsics = CameraIntrinsics(
            width,
            height,
            focal,
            fy if fy is not None else focal,
            cx if cx is not None else default.cx_px,
            cy if cy is not None else default.cy_px,
        )
        depth_m = None if depth is None else _read_depth_m(depth, depth_scale)
        observation = Observation(rgb=image, depth_m=depth_m, intrinsics=intrinsics, instruction=instruction)
        predictor = load_predictor(
            checkpoint, device=device, solver=solver, steps=steps, guidance=guidance, tokenizer=tokenizer
        )
        prediction = predictor.predict(observation, seed=seed)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    trace = prediction.trace
    if out is not None:
        drawn = draw_traces(image, trace, min_motion_px=1.0)
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    if save_uvz is not None:
        np.save(save_uvz, trace.uvz)
    motion_px = np.linalg.norm(trace.uvz[:, -1, :2] - trace.uvz[:, 0, :2], axis=-1)
    typer.echo(
        f"model {prediction.model_id}: {trace.num_points} traces x {trace.num_steps} steps "
        f"({'3D' if trace.is_3d else '2D'}), {predictor.solver.solver} x {predictor.solver.steps} "
        f"({predictor.last_evaluations} decoder evaluations), {prediction.latency_s:.2f} s; "
        f"median end displacement {float(np.median(motion_px)):.1f} px, max {float(motion_px.max()):.1f} px"
        + (f"; drawn to {out}" if out is not None else "")
    )


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
