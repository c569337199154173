"""The viewer: a viser server showing one clip at a time.

Scene (viser node names): ``/robot/<variant>/<body>`` (frames moved every
frame, each holding a mesh), ``/human/bones`` (line segments), ``/contacts/left``
and ``/contacts/right`` (discs under the raw robot's feet, shown while in
contact), ``/status`` (a label over the robot while the frame is cut or
flagged). GUI: clip picker (run folder), variant toggles, frame slider, play,
speed, and a text panel with the frame's time, contacts and verdict.

World frame Z-up, metres; viser's quaternions are w x y z.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.contacts import spans_of
from viz.preview.geometry import human_segments, robot_feet, robot_model
from viz.runs import ClipMotions, RunFolder, load_file, resolve_target
from viz.viewer.bodies import BodySet, robot_bodies

VARIANT_COLOURS = {"raw": (70, 105, 160), "adapted": (60, 150, 80), "simulated": (135, 80, 170)}
HUMAN_COLOUR = (25, 25, 25)
FOOT_COLOURS = ((31, 119, 180), (255, 127, 14))


@dataclass
class _Loaded:
    """A clip with everything precomputed for drawing."""

    clip: ClipMotions
    poses: dict[str, tuple[np.ndarray, np.ndarray]]      # variant -> (T, B, 3), (T, B, 4) wxyz
    bones: np.ndarray | None                              # (T, N, 2, 3)
    feet: np.ndarray | None                               # (T, 2, 3) raw robot feet
    contacts: np.ndarray | None                           # (T, 2)
    cut: np.ndarray                                       # (T,)
    codes: list[str]                                      # per frame


class Viewer:
    """A running viewer (``stop()`` ends it). ``target``: a run folder or a motion npz."""

    def __init__(self, target: str | Path, host: str = "127.0.0.1", port: int = 8080, clip: str | None = None,
                 meshes: str | Path | None = None, capsules: bool = False, verbose: bool = False):
        import viser

        self.run, self.file = resolve_target(target)
        self.clip_ids = self.run.viewable() if self.run is not None else []
        if self.run is not None and not self.clip_ids:
            raise ValueError(f"{target}: no clip of this run has a retargeted motion to show")
        self.meshes = meshes
        self.capsules = capsules
        self._bodies: dict[str, BodySet] = {}
        self._lock = threading.RLock()
        self.server = viser.ViserServer(host=host, port=port, verbose=verbose)
        self.server.scene.set_up_direction("+z")
        self.server.scene.add_grid("/ground", width=20.0, height=20.0, cell_size=0.5, position=(0.0, 0.0, 0.0))
        self._robot_nodes: dict[str, list] = {}
        self._human: Any = None
        self._contacts: list = []
        self._status: Any = None
        self.loaded: _Loaded | None = None
        self._followed: np.ndarray | None = None          # root position the cameras were last moved with
        self.frame = 0
        if clip is not None and self.run is not None and clip not in self.clip_ids:
            raise ValueError(f"clip {clip!r} is not a viewable clip of {target}; e.g. {', '.join(self.clip_ids[:5])}")
        self._first = clip if clip is not None else (self.clip_ids[0] if self.clip_ids else None)
        self._build_gui()
        self.show_clip(self._first)
        self._stop = threading.Event()
        self._player = threading.Thread(target=self._play_loop, name="viewer-play", daemon=True)
        self._player.start()

    # -- url ------------------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self.server.get_port())

    @property
    def url(self) -> str:
        return f"http://{self.server.get_host()}:{self.port}"

    # -- GUI ------------------------------------------------------------------------------------------------------
    def _build_gui(self) -> None:
        gui = self.server.gui
        self.gui_clip = None
        if self.run is not None:
            dropdown = gui.add_dropdown("clip", tuple(self.clip_ids), initial_value=self._first or self.clip_ids[0])
            dropdown.on_update(lambda _: self.show_clip(dropdown.value))
            self.gui_clip = dropdown
        self.gui_show = {name: gui.add_checkbox(name, initial_value=True) for name in ("human", "raw", "adapted", "simulated")}
        for box in self.gui_show.values():
            box.on_update(lambda _: self._apply_visibility())
        self.gui_offset = gui.add_slider("human offset (m)", min=-2.0, max=2.0, step=0.05, initial_value=1.0)
        self.gui_offset.on_update(lambda _: self.set_frame(self.frame))
        self.gui_frame = gui.add_slider("frame", min=0, max=1, step=1, initial_value=0)
        self.gui_frame.on_update(lambda _: self.set_frame(int(self.gui_frame.value)))
        self.gui_play = gui.add_checkbox("play", initial_value=False)
        self.gui_follow = gui.add_checkbox("camera follows", initial_value=True)
        self.gui_speed = gui.add_slider("speed", min=0.1, max=2.0, step=0.05, initial_value=1.0)
        self.gui_info = gui.add_markdown("")
        self.gui_spans = gui.add_markdown("")

    def _apply_visibility(self) -> None:
        with self._lock:
            for variant, nodes in self._robot_nodes.items():
                for node in nodes:
                    node.visible = bool(self.gui_show[variant].value)
            if self._human is not None:
                self._human.visible = bool(self.gui_show["human"].value)

    # -- clips ----------------------------------------------------------------------------------------------------
    def _bodies_for(self, robot_name: str) -> BodySet:
        if robot_name not in self._bodies:
            self._bodies[robot_name] = robot_bodies(robot_model(robot_name), self.meshes, self.capsules)
        return self._bodies[robot_name]

    def _load(self, clip_id: str | None) -> _Loaded:
        if self.run is not None:
            assert clip_id is not None
            clip = self.run.load(clip_id)
        else:
            assert self.file is not None
            clip = load_file(self.file)
        poses = {v: self._bodies_for(m.robot).poses(m) for v, m in clip.robots.items()}
        bones = None
        if clip.human is not None:
            seg = human_segments(clip.human)
            bones = np.stack([seg.a, seg.b], axis=2)
        raw = next(iter(clip.robots.values()), None)
        feet = robot_feet(raw) if raw is not None else None
        contacts = np.asarray(raw.contacts, bool) if raw is not None else None
        return _Loaded(clip, poses, bones, feet, contacts, clip.cut_mask(),
                       [", ".join(clip.reason_at(t)) for t in range(clip.num_frames)])

    def show_clip(self, clip_id: str | None) -> None:
        """Replace the scene's bodies with ``clip_id``'s (a run folder) or the file's."""
        with self._lock:
            loaded = self._load(clip_id)
            scene = self.server.scene
            for nodes in self._robot_nodes.values():
                for node in nodes:
                    node.remove()
            self._robot_nodes = {}
            for variant, motion in loaded.clip.robots.items():
                bodies = self._bodies_for(motion.robot)
                nodes = []
                for body in bodies.bodies:
                    frame = scene.add_frame(f"/robot/{variant}/{body.name}", show_axes=False)
                    scene.add_mesh_simple(f"/robot/{variant}/{body.name}/mesh", body.vertices, body.faces,
                                          color=VARIANT_COLOURS.get(variant, (180, 180, 180)),
                                          opacity=None if variant == "raw" else 0.75)
                    nodes.append(frame)
                self._robot_nodes[variant] = nodes
            for variant, box in self.gui_show.items():
                box.disabled = variant != "human" and variant not in loaded.clip.robots
                if variant == "human":
                    box.disabled = loaded.bones is None
            if self._human is not None:
                self._human.remove()
                self._human = None
            if loaded.bones is not None:
                self._human = scene.add_line_segments("/human/bones", self._human_points(loaded, 0), HUMAN_COLOUR, thickness=0.03)
            for node in self._contacts:
                node.remove()
            self._contacts = [scene.add_icosphere(f"/contacts/{side}", radius=0.06, color=FOOT_COLOURS[k], visible=False)
                              for k, side in enumerate(("left", "right"))]
            if self._status is None:
                self._status = scene.add_label("/status", "", visible=False)
            self.loaded = loaded
            T = loaded.clip.num_frames
            self.gui_frame.max = max(1, T - 1)
            self.frame = 0
            self.gui_spans.content = self._spans_text(loaded)
            self._apply_visibility()
            self.set_frame(0)
            self._aim_cameras(loaded)

    def _aim_cameras(self, loaded: _Loaded) -> None:
        """Point the initial camera (and every connected client's) at the clip's start, from the side."""
        raw = next(iter(loaded.poses.values()), None)
        if raw is None and loaded.bones is None:
            return
        if raw is not None:
            centre = raw[0][0].mean(axis=0)
        else:
            assert loaded.bones is not None
            centre = loaded.bones[0].reshape(-1, 3).mean(axis=0)
        look = np.array([centre[0], centre[1] + 0.5 * float(self.gui_offset.value), 0.7])
        eye = look + np.array([1.2, -3.2, 0.9])
        self.server.initial_camera.look_at = look
        self.server.initial_camera.position = eye
        self._followed = None
        self._follow(loaded, self.frame)                     # the cameras follow from here
        for client in self.server.get_clients().values():
            client.camera.look_at = look
            client.camera.position = eye

    # -- frames ---------------------------------------------------------------------------------------------------
    def _human_points(self, loaded: _Loaded, t: int) -> np.ndarray:
        assert loaded.bones is not None
        pts = loaded.bones[min(t, len(loaded.bones) - 1)].copy()
        pts[..., 1] += float(self.gui_offset.value)
        return pts.astype(np.float32)

    def _spans_text(self, loaded: _Loaded) -> str:
        clip, fps = loaded.clip, loaded.clip.fps
        lines = [f"**{clip.clip_id}** — {clip.num_frames} frames at {fps:g} Hz; variants: {', '.join(clip.robots) or 'none'}"]
        if clip.verdict is not None:
            lines.append(f"filter: **{clip.verdict.verdict}**")
            for r in clip.verdict.reasons:
                spans = ", ".join(f"{a / fps:.2f}–{b / fps:.2f} s" for a, b in r.spans[:6])
                lines.append(f"- `{r.code}`: {spans}{' …' if len(r.spans) > 6 else ''}")
            cut = spans_of(loaded.cut)
            if cut and clip.verdict.verdict == "trimmed":
                lines.append("cut: " + ", ".join(f"{a / fps:.2f}–{b / fps:.2f} s" for a, b in cut[:8]))
        if clip.sim_fallen is not None:
            falls = spans_of(np.asarray(clip.sim_fallen, bool))
            lines.append(f"simulation: {len(falls)} fall span(s)")
        return "\n\n".join(lines)

    def set_frame(self, t: int) -> None:
        """Pose everything at frame ``t``."""
        with self._lock:
            loaded = self.loaded
            if loaded is None:
                return
            T = loaded.clip.num_frames
            t = int(np.clip(t, 0, T - 1))
            self.frame = t
            with self.server.atomic():
                for variant, nodes in self._robot_nodes.items():
                    pos, wxyz = loaded.poses[variant]
                    k = min(t, len(pos) - 1)
                    for b, node in enumerate(nodes):
                        node.position = pos[k, b]
                        node.wxyz = wxyz[k, b]
                if self._human is not None:
                    self._human.points = self._human_points(loaded, t)
                if loaded.feet is not None and loaded.contacts is not None:
                    for side, node in enumerate(self._contacts):
                        node.position = (float(loaded.feet[t, side, 0]), float(loaded.feet[t, side, 1]), 0.01)
                        node.visible = bool(loaded.contacts[t, side])
                cut, codes = bool(loaded.cut[t]), loaded.codes[t]
                if self._status is not None:
                    raw = loaded.poses.get("raw") or next(iter(loaded.poses.values()), None)
                    if raw is not None:
                        root = raw[0][min(t, len(raw[0]) - 1)].mean(axis=0)
                        self._status.position = (float(root[0]), float(root[1]), float(root[2]) + 0.9)
                    self._status.text = ("CUT" if cut else "flagged") + (f": {codes}" if codes else "")
                    self._status.visible = cut or bool(codes)
            self._follow(loaded, t)
            fps = loaded.clip.fps
            contacts = "" if loaded.contacts is None else \
                f" · contacts L {'●' if loaded.contacts[t, 0] else '○'} R {'●' if loaded.contacts[t, 1] else '○'}"
            state = ("**CUT**" if cut else "kept") + (f" ({codes})" if codes else "")
            self.gui_info.content = f"t = {t / fps:.2f} s · frame {t + 1}/{T}{contacts} · {state}"
            if int(self.gui_frame.value) != t:
                self.gui_frame.value = t  # type: ignore[misc]  # viser's value setter

    def _follow(self, loaded: _Loaded, t: int) -> None:
        """Move every client's camera (position and target together) with the robot's root."""
        raw = loaded.poses.get("raw") or next(iter(loaded.poses.values()), None)
        if raw is None:
            return
        root = raw[0][min(t, len(raw[0]) - 1)].mean(axis=0)
        root = np.array([root[0], root[1], 0.0])
        if self._followed is not None and bool(self.gui_follow.value):
            delta = root - self._followed
            if np.linalg.norm(delta) > 1e-4:
                for client in self.server.get_clients().values():
                    with client.atomic():
                        client.camera.look_at = client.camera.look_at + delta
                        client.camera.position = client.camera.position + delta
        self._followed = root

    def _play_loop(self) -> None:
        last = time.perf_counter()
        position = 0.0
        while not self._stop.is_set():
            now = time.perf_counter()
            dt, last = now - last, now
            loaded = self.loaded
            if self.gui_play.value and loaded is not None:
                position = (max(position, float(self.frame)) + dt * loaded.clip.fps * float(self.gui_speed.value)) % loaded.clip.num_frames
                self.set_frame(int(position))
            else:
                position = float(self.frame)
            time.sleep(1.0 / 30.0)

    def stop(self) -> None:
        self._stop.set()
        self._player.join(timeout=2.0)
        self.server.stop()


def serve(target: str | Path, host: str = "127.0.0.1", port: int = 8080, clip: str | None = None,
          meshes: str | Path | None = None, capsules: bool = False) -> int:
    """Run the viewer until Ctrl-C."""
    viewer = Viewer(target, host=host, port=port, clip=clip, meshes=meshes, capsules=capsules)
    kind = next(iter(viewer._bodies.values())).kind if viewer._bodies else "capsules"
    print(f"viewer: {viewer.url}  (robot drawn with {kind}; Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        viewer.stop()
    return 0


__all__ = ["Viewer", "serve", "RunFolder"]
