"""The cross-embodiment corpus: every embodiment renders, episodes are reproducible and forge
tracks them with LK (3D for the arms' RGB-D episodes, 2D-only for the hand's videos)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "osmesa")

from tracegen.cli.main import main
from tracegen.data import read_triplets
from tracegen.forge.readers.base import read_sidecar
from tracegen.forge.readers.video import decode_rgb_frames
from tracegen.forge.sim_episode import SimEpisode
from tracegen.sim.corpus import EMBODIMENTS, INDEX_FILE, render_corpus
from tracegen.sim.corpus.episode import HAND_VIDEO, render_episode
from tracegen.sim.corpus.scene import COLOURS

WIDTH, HEIGHT, FPS = 96, 72, 8.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """One small episode of every embodiment (about 15 s on a loaded 2-core machine)."""
    out = tmp_path_factory.mktemp("corpus")
    entries = render_corpus(out, list(EMBODIMENTS), 1, seed=7, width_px=WIDTH, height_px=HEIGHT, fps=FPS)
    return out, entries


def _entry(entries, embodiment):
    return next(e for e in entries if e["embodiment"] == embodiment)


@pytest.mark.slow
def test_every_embodiment_renders_frames_that_show_motion(corpus):
    out, entries = corpus
    assert [e["embodiment"] for e in entries] == list(EMBODIMENTS)
    for entry in entries:
        path = out / entry["path"]
        if entry["embodiment"] == "hand":
            rgb = np.stack([frame for _, frame, _ in decode_rgb_frames(path / HAND_VIDEO)])
        else:
            rgb = np.asarray(SimEpisode.load(path).rgb)
        assert rgb.shape[1:] == (HEIGHT, WIDTH, 3)
        assert rgb.std() > 20, f"{entry['embodiment']}: frames look blank"
        middle = rgb[len(rgb) // 2].astype(float)
        assert np.abs(middle - rgb[0]).mean() > 1.0, f"{entry['embodiment']}: nothing moves"
        assert 2.0 <= entry["frames"] / FPS <= 6.5


@pytest.mark.slow
def test_arm_episode_is_a_sim_episode_whose_instruction_names_its_objects(corpus):
    out, entries = corpus
    entry = _entry(entries, "ur5e")
    episode = SimEpisode.load(out / entry["path"])
    assert episode.embodiment == "ur5e"
    assert episode.task == entry["motion"]
    assert episode.instructions[0] == entry["instruction"]
    assert any(colour in entry["instruction"] for colour in COLOURS) or entry["motion"] == "wave"
    assert episode.num_frames == entry["frames"]
    # The arm's bodies are segmented and have depth where they are seen.
    arm_bodies = [i for i, name in enumerate(episode.body_names) if name.startswith("arm_")]
    seen = np.isin(np.asarray(episode.segmentation), arm_bodies)
    assert seen.any()
    assert (np.asarray(episode.depth_m)[seen] > 0.2).all()


@pytest.mark.slow
def test_hand_episode_is_an_rgb_video_with_a_sidecar(corpus):
    out, entries = corpus
    entry = _entry(entries, "hand")
    path = out / entry["path"]
    frames = list(decode_rgb_frames(path / HAND_VIDEO))
    assert len(frames) == entry["frames"]
    sidecar = read_sidecar(path / HAND_VIDEO)
    assert sidecar.embodiment == "hand"
    assert sidecar.task == entry["motion"]
    assert sidecar.instructions[0] == entry["instruction"]
    assert sidecar.camera_fixed is True
    assert (sidecar.intrinsics["width_px"], sidecar.intrinsics["height_px"]) == (WIDTH, HEIGHT)
    assert not (path / "depth_m.npy").exists()


@pytest.mark.slow
def test_forge_with_lk_gives_3d_traces_for_an_arm_and_2d_only_for_the_hand(corpus, tmp_path):
    out, entries = corpus
    arm, hand = out / _entry(entries, "xarm7")["path"], out / _entry(entries, "hand")["path"]
    forged = tmp_path / "triplets"
    args = ["forge", str(arm), str(hand), "--out", str(forged), "--local", "--tracker", "lk", "--no-progress"]
    assert main(args) == 0
    triplets = list(read_triplets(forged))
    by_embodiment = {t.embodiment: t for t in triplets}
    assert set(by_embodiment) == {"xarm7", "hand"}
    assert all(t.provenance["tracker"] == "lk" for t in triplets)
    assert all(t.trace.is_3d for t in triplets if t.embodiment == "xarm7")
    assert not any(t.trace.is_3d for t in triplets if t.embodiment == "hand")


@pytest.mark.slow
def test_a_second_run_writes_nothing_new(corpus):
    out, entries = corpus
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != INDEX_FILE}
    again = render_corpus(out, list(EMBODIMENTS), 1, seed=7, width_px=WIDTH, height_px=HEIGHT, fps=FPS)
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != INDEX_FILE}
    assert again == entries
    assert after == before
    assert json.loads((out / INDEX_FILE).read_text())["episodes"] == entries


def test_an_episode_is_the_same_for_a_seed_and_differs_across_seeds():
    first = render_episode("hand", 3, 0, WIDTH, HEIGHT, FPS)
    again = render_episode("hand", 3, 0, WIDTH, HEIGHT, FPS)
    other = render_episode("hand", 4, 0, WIDTH, HEIGHT, FPS)
    assert np.array_equal(first.rgb, again.rgb)
    assert first.plan.instructions == again.plan.instructions
    assert first.scene.camera.position_m != other.scene.camera.position_m
    first_look = (first.scene.objects[0].colour, first.scene.table_rgb)
    assert first_look != (other.scene.objects[0].colour, other.scene.table_rgb)


@pytest.mark.slow
def test_an_arm_episode_is_reproducible(tmp_path):
    first = render_episode("xarm7", 5, 2, 64, 48, 5.0, motion="reach")
    again = render_episode("xarm7", 5, 2, 64, 48, 5.0, motion="reach")
    assert np.array_equal(first.rgb, again.rgb)
    assert np.array_equal(first.depth_m, again.depth_m)
    assert first.max_ik_error_m < 0.005
