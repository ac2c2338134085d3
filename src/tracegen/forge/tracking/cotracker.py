"""CoTracker3 (facebookresearch/co-tracker) from a local clone and a local checkpoint (optional, torch).

CoTracker is not on PyPI, and weights cannot be downloaded here: the backend loads the model
code with ``torch.hub.load(repo_dir, "cotracker3_offline", source="local", pretrained=False)``
from a user-provided clone and the weights (e.g. ``scaled_offline.pth``) with
``torch.load`` into the predictor's ``model``. The predictor takes the video ``[B, T, 3, H, W]``
(float, 0..255) and queries ``[B, N, 3]`` as (frame, x, y) in pixels, and returns tracks
``[B, T, N, 2]`` and visibility ``[B, T, N]`` over the whole video; all query sets of a window
go in one call (each query carries its own start frame), and each set's answer is cut from its
reference frame on. Unlike LK, CoTracker re-finds points after occlusion.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tracegen.errors import InputError
from tracegen.forge.episode import Window
from tracegen.forge.tracking.base import QuerySet, Tracks, check_queries

HUB_ENTRY_POINT = "cotracker3_offline"


class CoTrackerTracker:
    """CoTracker3 offline predictor (see the module docstring)."""

    name = "cotracker3"

    def __init__(self, repo_dir: str | Path, checkpoint: str | Path, *, device: str = "cpu") -> None:
        repo_dir, checkpoint = Path(repo_dir), Path(checkpoint)
        if not (repo_dir / "hubconf.py").is_file():
            raise InputError(
                f"CoTracker code not found: {repo_dir}/hubconf.py is missing; clone "
                "https://github.com/facebookresearch/co-tracker and pass its directory (--cotracker-repo)"
            )
        if not checkpoint.is_file():
            raise InputError(
                f"CoTracker checkpoint {checkpoint} does not exist; download scaled_offline.pth from "
                "huggingface.co/facebook/cotracker3 on a machine with internet and pass its path"
            )
        import torch

        self._torch = torch
        try:
            predictor = torch.hub.load(str(repo_dir), HUB_ENTRY_POINT, source="local", pretrained=False)
        except Exception as exc:  # hubconf import errors surface as anything
            raise InputError(f"cannot build {HUB_ENTRY_POINT} from {repo_dir}: {exc}") from None
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
                state = state["model"]
            predictor.model.load_state_dict(state)
        except Exception as exc:
            raise InputError(
                f"{checkpoint} is not a CoTracker3 checkpoint for {HUB_ENTRY_POINT}: {exc}"
            ) from None
        self.predictor = predictor.to(device).eval()
        self.device = device

    def track(self, window: Window, queries: Sequence[QuerySet]) -> list[Tracks]:
        check_queries(window, queries)
        if not queries:
            return []
        torch = self._torch
        first = min(q.start for q in queries)
        last = max(q.stop for q in queries)
        video = (
            torch.from_numpy(np.ascontiguousarray(window.rgb[first:last])).permute(0, 3, 1, 2)[None].float()
        )
        rows = [
            np.concatenate([np.full((q.uv_px.shape[0], 1), q.start - first, np.float32), q.uv_px], axis=1)
            for q in queries
        ]
        query_tensor = torch.from_numpy(np.concatenate(rows))[None]
        with torch.no_grad():
            tracks, visibility = self.predictor(video.to(self.device), queries=query_tensor.to(self.device))
        tracks = tracks[0].cpu().numpy()  # [T, N, 2]
        visibility = visibility[0].cpu().numpy().astype(bool)  # [T, N]
        results, offset = [], 0
        for q in queries:
            count = q.uv_px.shape[0]
            span = slice(q.start - first, q.stop - first)
            uv = np.transpose(tracks[span, offset : offset + count], (1, 0, 2)).copy()
            vis = visibility[span, offset : offset + count].T.copy()
            uv[:, 0], vis[:, 0] = q.uv_px, True
            results.append(Tracks(uv_px=uv, visible=vis))
            offset += count
        return results
