"""Gripper open/close from the trace: are object points carried along with the gripper?

At each step k the decision looks ahead ``window_steps`` steps to step e:

1. If the TCP moves less than ``min_gripper_motion_m`` between k and e, nothing can be told
   (a static gripper beside a static object looks like a grasp): keep the previous state.
2. Candidates are the non-gripper points within ``grasp_radius_m`` of the TCP at step k.
   Without candidates there is no evidence either way: keep the previous state.
3. The gripper's rigid motion from k to e, ``M = D_e D_k^-1``, predicts where a carried point
   goes. At least ``min_object_points`` candidates within ``co_motion_tolerance_m`` of their
   prediction: **closed** (the object moves with the gripper). Otherwise **open** (the gripper
   moves and what is near it stays behind, or separates from it after a release).

The state before any evidence is unknown (``None``), i.e. leave the gripper as it is.

Shapes: ``points_m [N, S, 3]`` and ``valid [N, S]`` for the N grid points over S steps in the
base frame; ``motions [S, 4, 4]`` the gripper's rigid motion from step 0 to each step;
``tcp_m [S, 3]`` the TCP positions.
"""

from __future__ import annotations

import numpy as np

from tracegen.ee_retarget.config import RetargetConfig
from tracegen.robot.plan import GripperAction
from tracegen.trace import transform_points


def infer_gripper_states(
    points_m: np.ndarray,
    valid: np.ndarray,
    gripper_points: np.ndarray,
    motions: np.ndarray,
    tcp_m: np.ndarray,
    config: RetargetConfig,
) -> tuple[list[bool | None], np.ndarray]:
    """Per step: True (closed on an object), False (open) or None (unknown); and ``[S]`` carried counts."""
    num_steps = points_m.shape[1]
    states: list[bool | None] = []
    carried_counts = np.zeros(num_steps, dtype=int)
    state: bool | None = None
    for k in range(num_steps):
        end = min(k + config.window_steps, num_steps - 1)
        if end > k and np.linalg.norm(tcp_m[end] - tcp_m[k]) >= config.min_gripper_motion_m:
            near = np.linalg.norm(points_m[:, k] - tcp_m[k], axis=1) <= config.grasp_radius_m
            candidates = ~gripper_points & valid[:, k] & valid[:, end] & near
            if candidates.any():
                motion = motions[end] @ np.linalg.inv(motions[k])
                predicted = transform_points(motion, points_m[candidates, k])
                follows = (
                    np.linalg.norm(predicted - points_m[candidates, end], axis=1)
                    <= config.co_motion_tolerance_m
                )
                carried_counts[k] = int(follows.sum())
                state = bool(carried_counts[k] >= config.min_object_points)
        states.append(state)
    return states, carried_counts


def gripper_actions(states: list[bool | None], config: RetargetConfig) -> tuple[np.ndarray, np.ndarray]:
    """``[S]`` :class:`GripperAction` where the state changes (HOLD elsewhere) and ``[S]`` widths."""
    actions = np.full(len(states), GripperAction.HOLD, dtype=np.uint8)
    widths = np.zeros(len(states))
    previous: bool | None = None
    for k, state in enumerate(states):
        if state is not None and state != previous:
            actions[k] = GripperAction.CLOSE if state else GripperAction.OPEN
            widths[k] = config.grasp_width_m if state else config.open_width_m
        previous = state if state is not None else previous
    return actions, widths
