"""Clip previews (viz/preview): one video frame per clip frame, panels per body, contact and cut marks."""

from __future__ import annotations

import numpy as np
import pytest

from tests.viz_synthetic import add_adapt_and_simulate


@pytest.fixture(scope="module")
def run(default_run):
    from viz.runs import RunFolder

    return RunFolder(default_run)


def decode(path) -> list[np.ndarray]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]


def test_mp4_preview_has_a_frame_per_clip_frame(run, tmp_path):
    from viz.preview.api import render_preview
    from viz.preview.render import BACKGROUND

    clip = run.load("demo__walk_straight_s0")
    result = render_preview(clip, tmp_path / "walk.mp4")
    frames = decode(result.path)
    assert len(frames) == clip.num_frames == result.frames == 151
    panels = (clip.human is not None) + len(clip.robots)      # human | raw [| adapted] [| simulated]
    assert frames[0].shape == (432, 320 * panels, 3) and result.size == (320 * panels, 432)   # timeline below
    # every panel holds a body: many pixels far from the background colour
    for k in range(panels):
        panel = frames[75][40:360, 320 * k:320 * (k + 1)].astype(int)
        assert np.sum(np.abs(panel - np.array(BACKGROUND)).sum(axis=2) > 120) > 1500
    # the picture changes over time (the walker moves; the cursor advances)
    assert np.abs(frames[0].astype(int) - frames[100].astype(int)).mean() > 1.0


def test_preview_marks_cut_frames_and_contacts(run):
    from viz.preview.render import CONTACT_MARK, CUT, FrameRenderer

    rejected = FrameRenderer(run.load("demo__infeasible_floating_s0"))
    frame = rejected.render(60)
    assert tuple(frame[1, 100]) == CUT and tuple(frame[200, 1]) == CUT          # red frame around the panels
    kept = FrameRenderer(run.load("demo__walk_straight_s0"))
    contacts = kept.clip.robots["raw"].contacts
    t = int(np.flatnonzero(contacts.all(axis=1))[0])
    frame = kept.render(t)
    assert tuple(frame[1, 100]) != CUT
    assert np.sum(np.all(frame[:368] == CONTACT_MARK, axis=2)) > 50            # the green discs under the feet
    # the cursor: a black line whose column follows the frame
    strip = kept.render(0)[380:400].astype(int), kept.render(150)[380:400].astype(int)
    cols = [np.flatnonzero((s == 0).all(axis=2).any(axis=0)) for s in strip]
    assert cols[0].max() < 110 and cols[1].min() > 600


def test_preview_of_a_file_and_gif_through_the_cli(run, tmp_path, capsys):
    from pipeline.cli import main
    from viz.preview.video import count_frames

    npz = run.artifact("demo__kick_left_s0", "retarget")
    assert main(["preview", str(npz), "--out", str(tmp_path / "kick.gif")]) == 0
    assert count_frames(tmp_path / "kick.gif") == 121
    assert main(["preview", str(run.out / "demo__squat_s0"), "--out", str(tmp_path / "squat.mp4")]) == 0
    assert count_frames(tmp_path / "squat.mp4") == run.load("demo__squat_s0").num_frames
    assert "frames/s" in capsys.readouterr().out
    assert main(["preview", str(run.out), "--out", str(tmp_path / "x.mp4")]) == 2          # which clip?
    assert "--clip" in capsys.readouterr().err


def test_preview_shows_adapted_and_simulated_panels(default_run, tmp_path):
    from viz.preview.render import FALL, FrameRenderer
    from viz.runs import RunFolder

    folder = add_adapt_and_simulate(default_run, tmp_path / "run", fall_clip="demo__walk_straight_s0")
    clip = RunFolder(folder).load("demo__walk_straight_s0")
    assert list(clip.robots) == ["raw", "adapted", "simulated"] and clip.sim_fallen.sum() == 20
    r = FrameRenderer(clip)
    assert [p.kind for p in r.panels] == ["human", "raw", "adapted", "simulated"] and r.width == 1280
    falling, standing = r.render(30), r.render(100)
    sim_panel = slice(960, 1280)
    assert np.sum(np.all(falling[:60, sim_panel] == FALL, axis=2)) > 20           # "FALLEN" caption
    assert np.sum(np.all(standing[:60, sim_panel] == FALL, axis=2)) == 0
