"""Rigid transforms between corresponding 3D point sets: Kabsch, and Kabsch inside RANSAC.

``kabsch(P, Q)`` returns ``R, t`` minimising ``sum_i w_i |R p_i + t - q_i|^2`` (Kabsch 1976,
with the determinant correction that excludes reflections). :func:`ransac_rigid` fits it to
minimal triples, keeps the hypothesis with the most points within ``threshold_m`` and refits
on those inliers, so a few points that do not move rigidly with the others (a mis-tracked point,
background at the gripper's edge) do not bend the estimate.

Shapes: ``P``, ``Q`` are ``[M, 3]`` in one frame (here the robot base frame), row i of both the
same physical point at two times.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from tracegen.errors import InputError

#: Triangles with a smaller area (m^2) are too thin to fix a rotation.
MIN_TRIANGLE_AREA_M2 = 1e-6


def kabsch(
    p_m: np.ndarray, q_m: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``R [3, 3], t [3]`` with ``q ~ R p + t`` in the least-squares sense (at least 3 points)."""
    p = np.asarray(p_m, dtype=np.float64)
    q = np.asarray(q_m, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 2 or p.shape[1] != 3 or p.shape[0] < 3:
        raise InputError(f"kabsch needs two [M >= 3, 3] point sets of one shape, got {p.shape} and {q.shape}")
    w = np.ones(p.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    p_mean, q_mean = w @ p, w @ q
    covariance = (p - p_mean).T @ ((q - q_mean) * w[:, None])
    u, _, vt = np.linalg.svd(covariance)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rotation, q_mean - rotation @ p_mean


@dataclass(frozen=True)
class RigidFit:
    """A rigid motion ``q = R p + t`` fitted to the inliers; residuals are per input point."""

    rotation: np.ndarray
    translation_m: np.ndarray
    inliers: np.ndarray
    residuals_m: np.ndarray

    @property
    def num_inliers(self) -> int:
        return int(self.inliers.sum())

    def matrix(self) -> np.ndarray:
        """The motion as a 4x4 homogeneous transform."""
        t = np.eye(4)
        t[:3, :3] = self.rotation
        t[:3, 3] = self.translation_m
        return t


def _triples(num_points: int, iterations: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Every triple when there are few enough, else ``iterations`` random ones."""
    all_triples = list(itertools.combinations(range(num_points), 3))
    if len(all_triples) <= iterations:
        return all_triples
    return [tuple(rng.choice(num_points, size=3, replace=False)) for _ in range(iterations)]


def ransac_rigid(
    p_m: np.ndarray,
    q_m: np.ndarray,
    *,
    threshold_m: float,
    iterations: int = 64,
    rng: np.random.Generator | None = None,
) -> RigidFit | None:
    """Best rigid fit by RANSAC over point triples, refitted on its inliers; None if no triple works.

    A point is an inlier when ``|R p + t - q| <= threshold_m``. Degenerate triples (nearly
    collinear) are skipped. Ties go to the smaller total residual.
    """
    p = np.asarray(p_m, dtype=np.float64)
    q = np.asarray(q_m, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 2 or p.shape[1] != 3:
        raise InputError(
            f"ransac_rigid needs two [M, 3] point sets of one shape, got {p.shape} and {q.shape}"
        )
    if p.shape[0] < 3:
        return None
    rng = rng or np.random.default_rng(0)
    triples = np.array(_triples(p.shape[0], iterations, rng))
    sample_p, sample_q = p[triples], q[triples]  # [T, 3, 3]: triple, point, xyz
    areas = 0.5 * np.linalg.norm(
        np.cross(sample_p[:, 1] - sample_p[:, 0], sample_p[:, 2] - sample_p[:, 0]), axis=1
    )
    keep = areas >= MIN_TRIANGLE_AREA_M2
    if not keep.any():
        return None
    sample_p, sample_q = sample_p[keep], sample_q[keep]
    # Kabsch for every triple at once (batched SVD), then residuals of all points per hypothesis.
    p_mean, q_mean = sample_p.mean(axis=1), sample_q.mean(axis=1)
    covariance = np.einsum("tni,tnj->tij", sample_p - p_mean[:, None], sample_q - q_mean[:, None])
    u, _, vt = np.linalg.svd(covariance)
    v_ut = np.einsum("tji,tkj->tik", vt, u)  # V U^T per triple
    signs = np.where(np.linalg.det(v_ut) < 0.0, -1.0, 1.0)
    correction = np.repeat(np.eye(3)[None], len(signs), axis=0)
    correction[:, 2, 2] = signs
    rotations = np.einsum("tji,tjk,tlk->til", vt, correction, u)  # V diag(1, 1, d) U^T
    translations = q_mean - np.einsum("tij,tj->ti", rotations, p_mean)
    predicted = np.einsum("tij,mj->tmi", rotations, p) + translations[:, None]
    residuals = np.linalg.norm(predicted - q[None], axis=2)  # [T, M]
    inlier_sets = residuals <= threshold_m
    counts = inlier_sets.sum(axis=1)
    spent = np.where(inlier_sets, residuals, 0.0).sum(axis=1)
    best_index = int(np.lexsort((spent, -counts))[0])  # most inliers, then smallest residual sum
    best = (int(counts[best_index]), inlier_sets[best_index])
    if best[0] < 3:
        return None
    inliers = best[1]
    rotation, translation = kabsch(p[inliers], q[inliers])
    residuals = np.linalg.norm(p @ rotation.T + translation - q, axis=1)
    return RigidFit(rotation, translation, residuals <= threshold_m, residuals)
