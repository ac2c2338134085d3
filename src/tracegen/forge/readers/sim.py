"""Simulation episodes (:mod:`tracegen.forge.sim_episode`): frames, depth, poses and ground truth.

The episode carries its camera poses (so moving simulated cameras still give exact 3D traces)
and its ground truth, which the ``ground_truth`` tracker (or ``auto``) uses.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tracegen.forge.config import ForgeConfig
from tracegen.forge.episode import Episode, Frame, downscale
from tracegen.forge.readers.base import InputSpec, check_readable_path, episode_intrinsics
from tracegen.forge.sim_episode import SimEpisode


def read_sim_episode(spec: InputSpec, config: ForgeConfig) -> Iterator[Episode]:
    path = check_readable_path(spec.path, "simulation episode")
    sim = SimEpisode.load(path)
    k = sim.intrinsics
    intrinsics, _ = episode_intrinsics(k, k.width_px, k.height_px, config)

    def frames() -> Iterator[Frame]:
        for index in range(0, sim.num_frames, config.frame_stride):
            rgb, depth_m = downscale(
                np.asarray(sim.rgb[index]), np.asarray(sim.depth_m[index]), config.max_image_side_px
            )
            yield Frame(index=index, rgb=rgb, depth_m=depth_m, time_s=index / sim.fps)

    yield Episode(
        source=str(path),
        episode_id="0",
        intrinsics=intrinsics,
        intrinsics_source="source",
        frames=frames,
        fps=sim.fps,
        instructions=sim.instructions,
        instruction_origin="sim episode.json",
        task=sim.task or None,
        embodiment=sim.embodiment,
        camera_fixed=sim.camera_fixed,
        camera_poses=np.asarray(sim.camera_poses),
        ground_truth=sim,
        has_depth=True,
        notes={"reader": "sim episode", "bodies": list(sim.body_names)},
    )
