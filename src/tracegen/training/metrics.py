"""Validation metrics of predicted traces against the ground truth.

- ``increment_mse``: the official metric, masked MSE of normalised increments ``[N, L, 3]``.
- ``ade_norm`` / ``fde_norm``: average / final displacement of (u / W, v / H) over valid steps
  1..L, averaged over points (normalised pixels: 0.01 = 1 % of the image side).
- ``ade_m`` / ``fde_m``: the same for camera-frame XYZ in metres (3D traces only; both traces
  back-projected with the reference intrinsics).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tracegen.trace import Trace, uvz_to_xyz_m


def increment_mse(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    weight = mask.astype(np.float64)
    return float(((pred - target) ** 2 * weight).sum() / max(weight.sum(), 1.0))


def _displacements(pred: np.ndarray, true: np.ndarray, valid: np.ndarray) -> tuple[float, float] | None:
    """Mean over points of the mean (ADE) and last-valid-step (FDE) distance; steps 1.. only."""
    dist = np.linalg.norm(pred[:, 1:] - true[:, 1:], axis=-1)
    valid = valid[:, 1:]
    counts = valid.sum(1)
    points = counts > 0
    if not points.any():
        return None
    ade = (dist * valid).sum(1)[points] / counts[points]
    last = valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
    fde = dist[np.arange(dist.shape[0]), last][points]
    return float(ade.mean()), float(fde.mean())


def trace_errors(pred_uvz: np.ndarray, truth: Trace) -> dict[str, float]:
    """Errors of predicted (u_px, v_px, z_m) ``[N, L+1, 3]`` against ``truth`` (same grid, L+1 steps)."""
    k = truth.intrinsics
    scale = np.array([k.width_px, k.height_px], np.float64)
    valid = truth.point_valid
    out: dict[str, float] = {}
    norm = _displacements(pred_uvz[..., :2] / scale, truth.uvz[..., :2] / scale, valid)
    if norm is not None:
        out["ade_norm"], out["fde_norm"] = norm
    if truth.is_3d:
        pred = np.asarray(pred_uvz, np.float64).copy()
        pred[..., 2] = np.maximum(pred[..., 2], 1e-3)
        metres = _displacements(uvz_to_xyz_m(pred, k), truth.to_xyz_m(), valid)
        if metres is not None:
            out["ade_m"], out["fde_m"] = metres
    return out


def mean_metrics(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    """Per-key mean over the rows that have the key."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            sums.setdefault(key, []).append(value)
    return {key: float(np.mean(values)) for key, values in sums.items()}
