"""``tracegen forge``: both spellings of a run, show (PNG and MP4), export to the official format."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tracegen.cli.main import main

from support.forge_media import box_episode, write_video_pyav


@pytest.fixture(scope="module")
def forged(tmp_path_factory):
    """A forge output directory made through the CLI's short spelling (``forge INPUTS --out``)."""
    root = tmp_path_factory.mktemp("cli")
    episode = box_episode().save(root / "episode")
    assert main(["forge", str(episode), "--out", str(root / "out"), "--local", "--no-progress"]) == 0
    return root


def test_forge_inputs_out_writes_shards_and_a_manifest(forged):
    manifest = json.loads((forged / "out" / "manifest.json").read_text())
    assert manifest["summary"]["done"] == 1 and manifest["summary"]["triplets"] > 0
    assert list((forged / "out" / "shards").glob("*.parquet"))


def test_forge_run_spelling_resumes_the_same_directory(forged, capsys):
    assert (
        main(
            [
                "forge",
                "run",
                str(forged / "episode"),
                "--out",
                str(forged / "out"),
                "--local",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "1 already finished, 0 processed" in capsys.readouterr().out


def test_bad_inputs_are_summarised_and_the_run_still_succeeds(tmp_path, capsys):
    video = write_video_pyav(tmp_path / "clip.mp4", np.asarray(box_episode().rgb))
    (tmp_path / "junk.mp4").write_bytes(b"nope")
    code = main(
        [
            "forge",
            str(video),
            str(tmp_path / "junk.mp4"),
            "--out",
            str(tmp_path / "out"),
            "--local",
            "--no-progress",
        ]
    )
    output = capsys.readouterr().out
    assert code == 0
    assert "done / skipped / failed | 1 / 1 / 0" in output and "junk.mp4" in output


def test_show_draws_a_png_with_traces_and_a_3d_plot(forged, tmp_path):
    from tracegen.data import read_triplets

    out = tmp_path / "triplet.png"
    assert main(["forge", "show", str(forged / "out"), "--index", "0", "--out", str(out)]) == 0
    image = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    reference = next(read_triplets(forged / "out")).rgb
    plain = cv2.resize(reference, (640, 480), interpolation=cv2.INTER_LINEAR)
    drawn = np.abs(image[:480, :640].astype(int) - plain.astype(int)).max(axis=-1) > 0
    assert 0.001 < drawn.mean() < 0.3  # the traces and query dots, not the whole frame
    plot = image[:480, 640:]
    assert plot.shape[1] >= 400 and (plot < 200).any()  # a 3D plot with axes and traces


def test_show_writes_an_mp4_with_one_frame_per_trace_step(forged, tmp_path):
    import av

    out = tmp_path / "triplet.mp4"
    assert main(["forge", "show", str(forged / "out"), "--index", "1", "--out", str(out)]) == 0
    from tracegen.data import read_triplets

    steps = list(read_triplets(forged / "out"))[1].trace.num_valid_steps
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == steps + 8  # plus one second held at 8 fps


def test_show_out_of_range_index_is_a_usage_error(forged, tmp_path, capsys):
    assert (
        main(["forge", "show", str(forged / "out"), "--index", "999", "--out", str(tmp_path / "x.png")]) == 2
    )
    assert "index 999 is out of range" in capsys.readouterr().err


def test_export_official_writes_episode_folders(forged, tmp_path):
    assert main(["forge", "export-official", str(forged / "out"), "--out", str(tmp_path / "official")]) == 0
    (episode,) = list((tmp_path / "official").iterdir())
    assert (episode / "three_instructions.json").is_file() and list((episode / "samples").glob("*.npz"))
