"""The 3-D viewer (viz/viewer): scene contents and timeline seen by a websocket client; a headless
Chromium screenshot shows the robot where Chromium is installed."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from tests.conftest import require_shared
from tests.viser_client import ViserClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _last(messages, kind: str, name: str, field: str):
    found = [m[field] for m in messages if m["type"] == kind and m.get("name") == name]
    return found[-1] if found else None


@pytest.fixture(scope="module")
def viewer(default_run):
    from viz.viewer.app import Viewer

    meshes = require_shared("robots", "g1_description", "g1_29dof_rev_1_0.urdf")
    v = Viewer(default_run, port=free_port(), clip="demo__walk_straight_s0", meshes=meshes)
    yield v
    v.stop()


def test_viewer_binds_loopback_and_serves_robot_and_human(viewer):
    assert viewer.server.get_host() == "127.0.0.1"
    client = ViserClient(viewer.port)
    try:
        msgs = client.receive(4.0)
        meshes = [m["name"] for m in msgs if m["type"] == "MeshMessage" and m["name"].startswith("/robot/raw/")]
        bodies = viewer._bodies["g1"]
        assert bodies.kind == "meshes" and len(meshes) == len(bodies.bodies) >= 30      # official G1 meshes
        total_faces = sum(len(m["props"]["faces"]) for m in msgs if m["type"] == "MeshMessage") // 3
        assert total_faces > 100_000
        bones = [m for m in msgs if m["type"] == "LineSegmentsMessage" and m["name"] == "/human/bones"]
        assert bones and bones[-1]["props"]["points"].size > 0
        slider = next(m for m in msgs if m["type"] == "GuiSliderMessage" and m["props"]["label"] == "frame")
        assert slider["props"]["max"] == 150                                            # 151 frames
        dropdown = next(m for m in msgs if m["type"] == "GuiDropdownMessage" and m["props"]["label"] == "clip")
        assert dropdown["value"] == "demo__walk_straight_s0" and len(dropdown["props"]["options"]) == 15
        pelvis = next(n for n in meshes if "/pelvis_" in n).rsplit("/", 1)[0]
        before = np.array(_last(msgs, "SetPositionMessage", pelvis, "position"))
        # move the timeline as a browser does: a GUI update of the slider
        client.send_gui_update(slider["uuid"], value=90)
        after_msgs = client.receive(3.0)
        after = np.array(_last(after_msgs, "SetPositionMessage", pelvis, "position"))
        assert viewer.frame == 90
        moved = np.linalg.norm(after[:2] - before[:2])
        clip = viewer.loaded.clip
        expected = np.linalg.norm(clip.robots["raw"].root_pos[90, :2] - clip.robots["raw"].root_pos[0, :2])
        assert moved == pytest.approx(expected, rel=0.05, abs=0.01) and moved > 0.3    # the walker advanced
        updates = [m for m in after_msgs if m["type"] == "SceneNodeUpdateMessage" and m["name"] == "/human/bones"]
        assert updates, "the human skeleton did not move"
        new_points = updates[-1]["updates"]["points"].reshape(-1, 2, 3)
        offset = viewer.gui_offset.value
        np.testing.assert_allclose(new_points[..., 0], viewer.loaded.bones[90][..., 0], atol=1e-5)
        np.testing.assert_allclose(new_points[..., 1], viewer.loaded.bones[90][..., 1] + offset, atol=1e-5)
    finally:
        client.close()


def test_viewer_switches_clip_and_marks_cut_frames(viewer):
    viewer.show_clip("demo__infeasible_floating_s0")
    try:
        assert viewer.loaded.clip.verdict.verdict == "reject"
        viewer.set_frame(60)                                            # inside the floating span [46, 108)
        assert viewer._status.visible and "CUT" in viewer._status.text and "floating" in viewer._status.text
        assert "CUT" in viewer.gui_info.content
        assert not viewer.gui_show["adapted"].value or viewer.gui_show["adapted"].disabled
    finally:
        viewer.show_clip("demo__walk_straight_s0")


def test_viewer_toggles_simulated_and_adapted(default_run, tmp_path):
    from tests.viz_synthetic import add_adapt_and_simulate
    from viz.viewer.app import Viewer

    run = add_adapt_and_simulate(default_run, tmp_path / "run", fall_clip="demo__walk_straight_s0")
    v = Viewer(run, port=free_port(), clip="demo__walk_straight_s0", capsules=True)
    try:
        assert set(v._robot_nodes) == {"raw", "adapted", "simulated"}
        assert v._bodies["g1"].kind == "capsules"
        v.gui_show["simulated"].value = False
        v._apply_visibility()
        assert not any(n.visible for n in v._robot_nodes["simulated"]) and all(n.visible for n in v._robot_nodes["raw"])
        assert "fall span" in v.gui_spans.content
    finally:
        v.stop()


def robot_pixels(png) -> int:
    """Pixels of the robot's raw colour family (blue-grey, lit) in the scene area of a screenshot."""
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    h, w, _ = img.shape
    scene = img[int(0.22 * h):int(0.9 * h), int(0.12 * w):int(0.7 * w)]         # clear of the GUI panel and toasts
    r, g, b = scene[..., 0], scene[..., 1], scene[..., 2]
    return int(np.sum((b - r > 12) & (b > 90) & (b < 250) & (g - r > 3)))


def test_chromium_screenshot_shows_the_robot(default_run, tmp_path):
    from viz.viewer.app import Viewer
    from viz.viewer.screenshot import find_chromium, screenshot

    if find_chromium() is None:
        message = "chromium is not installed (Debian: apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    v = Viewer(default_run, port=free_port(), clip="demo__walk_straight_s0", capsules=True)
    try:
        v.set_frame(40)
        shot = screenshot(v.url, tmp_path / "viewer.png", wait_s=10.0)
        for variant in v._robot_nodes:                          # raw, and adapted / simulated when they ran
            v.gui_show[variant].value = False
        v._apply_visibility()
        hidden = screenshot(v.url, tmp_path / "hidden.png", wait_s=10.0)
    finally:
        v.stop()
    drawn, without = robot_pixels(shot), robot_pixels(hidden)
    assert drawn > 400, f"robot not drawn ({drawn} robot-coloured pixels)"
    assert without < drawn / 4, (drawn, without)
