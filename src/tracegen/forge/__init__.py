"""TraceForge: videos, RGB-D recordings, bags and datasets -> trace triplets (DESIGN.md, "Datasets").

The pieces, in the order data flows through them:

- :mod:`.readers` (one interface, :func:`read_episodes`, for every input kind) -> :class:`Episode`;
- :mod:`.segmentation` (motion events), :mod:`.instructions` / :mod:`.captioner`;
- :mod:`.tracking` (LK, CoTracker3, ground truth), :mod:`.depth`, :mod:`.camera_pose`,
  :mod:`.reference_frame` (world -> reference camera), :mod:`.triplets` (retargeting, triplets);
- :mod:`.engine` (one input -> shards), :mod:`.manifest`, :mod:`.pipeline` (Ray Data or in process);
- :mod:`.official` (the official TraceGen folder format), :mod:`.show`, :mod:`.sim_episode` and
  :mod:`.synthetic` (simulation episodes with ground truth).
"""

from tracegen.forge.config import ForgeConfig
from tracegen.forge.engine import InputResult, forge_input
from tracegen.forge.episode import Episode, Frame
from tracegen.forge.official import export_official, read_official_episode
from tracegen.forge.pipeline import ForgeSummary, run_forge
from tracegen.forge.readers import InputSpec, detect_kind, discover_inputs, read_episodes
from tracegen.forge.sim_episode import SimEpisode, ground_truth_tracks

__all__ = [
    "Episode",
    "ForgeConfig",
    "ForgeSummary",
    "Frame",
    "InputResult",
    "InputSpec",
    "SimEpisode",
    "detect_kind",
    "discover_inputs",
    "export_official",
    "forge_input",
    "ground_truth_tracks",
    "read_episodes",
    "read_official_episode",
    "run_forge",
]
