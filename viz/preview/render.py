"""Compose preview frames: one panel per body (human, robot raw / adapted / simulated)
and a timeline strip with foot contacts, cut spans, simulated falls and a cursor.

Everything that does not change over time (panel titles, the timeline bars) is
drawn once into a background image; each frame copies it and draws the grid,
the contact marks, the capsules (back to front) and the cursor with Pillow's
``ImageDraw``. Projections of every frame are computed up front with numpy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.contacts import spans_of
from viz.preview.camera import Camera, CameraSettings, smooth_path
from viz.preview.geometry import LEFT, RIGHT, Segments, human_feet, human_segments, robot_feet, robot_segments
from viz.runs import ClipMotions

RGB = tuple[int, int, int]

BACKGROUND: RGB = (247, 247, 245)
GRID: RGB = (214, 214, 210)
TEXT: RGB = (40, 40, 40)
CUT: RGB = (200, 40, 40)
KEPT: RGB = (80, 160, 90)
FLAGGED: RGB = (200, 140, 20)
FALL: RGB = (120, 40, 160)
CONTACT_MARK: RGB = (60, 170, 90)
FOOT_COLOURS: tuple[RGB, RGB] = ((31, 119, 180), (255, 127, 14))          # left, right (as the --plot figures)

#: body colours per panel kind: (centre, left, right)
PALETTES: dict[str, tuple[RGB, RGB, RGB]] = {
    "human": ((150, 150, 150), (70, 115, 190), (220, 120, 50)),
    "raw": ((120, 135, 160), (70, 115, 190), (220, 120, 50)),
    "adapted": ((95, 160, 110), (70, 115, 190), (220, 120, 50)),
    "simulated": ((150, 110, 180), (70, 115, 190), (220, 120, 50)),
}
TITLES = {"human": "human (input)", "raw": "robot: retargeted", "adapted": "robot: adapted", "simulated": "robot: simulated"}


@dataclass(frozen=True)
class PreviewSettings:
    """Attributes:
        panel_width, panel_height: pixels of one body panel (multiples of 16 keep MP4 sizes legal).
        timeline_height: pixels of the timeline strip under the panels.
        camera: the camera of every panel (each follows its own body).
        outline: draw a dark outline around each capsule.
    """

    panel_width: int = 320
    panel_height: int = 368
    timeline_height: int = 64
    camera: CameraSettings = field(default_factory=CameraSettings)
    outline: bool = True

    @property
    def timeline(self) -> int:
        return self.timeline_height


@dataclass
class Panel:
    """One body over time, projected."""

    kind: str
    title: str
    px_a: np.ndarray          # (T, N, 2)
    px_b: np.ndarray          # (T, N, 2)
    radius_px: np.ndarray     # (N,)
    colour: np.ndarray        # (T, N, 3) uint8 fill, depth-shaded
    order: np.ndarray         # (T, N) back-to-front drawing order
    feet_px: np.ndarray       # (T, 2, 2) foot positions on the floor
    contacts: np.ndarray      # (T, 2) bool
    camera: Camera
    fallen: np.ndarray | None = None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError):                  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _panel(kind: str, seg: Segments, feet: np.ndarray, contacts: np.ndarray, fps: float, settings: PreviewSettings,
           root_xy: np.ndarray, fallen: np.ndarray | None = None) -> Panel:
    cam = Camera(settings.camera, settings.panel_width, settings.panel_height,
                 smooth_path(root_xy, fps, settings.camera.follow_s))
    px_a, depth_a = cam.project(seg.a)
    px_b, depth_b = cam.project(seg.b)
    depth = 0.5 * (depth_a + depth_b)
    order = np.argsort(-depth, axis=1, kind="stable")
    palette = np.array(PALETTES[kind], dtype=np.float64)
    base = palette[np.where(seg.side == LEFT, 1, np.where(seg.side == RIGHT, 2, 0))]    # (N, 3)
    shade = np.clip(1.0 - 0.35 * depth, 0.65, 1.2)[..., None]                           # nearer is lighter
    colour = np.clip(base[None] * shade, 0, 255).astype(np.uint8)
    feet_floor = feet.copy()
    feet_floor[..., 2] = 0.0
    feet_px, _ = cam.project(feet_floor)
    return Panel(kind, TITLES[kind], px_a, px_b, seg.radius * cam.scale, colour, order, feet_px,
                 np.asarray(contacts, dtype=bool), cam, fallen)


def build_panels(clip: ClipMotions, settings: PreviewSettings) -> list[Panel]:
    """Panels for the human (when present) and each robot variant of ``clip``."""
    panels = []
    contacts = None
    if "raw" in clip.robots:
        contacts = clip.robots["raw"].contacts
    T = clip.num_frames
    if clip.human is not None:
        human = clip.human
        hc = contacts if contacts is not None and len(contacts) == human.num_frames else np.zeros((human.num_frames, 2), bool)
        root = human.positions[:, human.keypoints.get("pelvis", 0), :2]
        panels.append(_panel("human", human_segments(human), human_feet(human), hc, clip.fps, settings, root))
    for variant, motion in clip.robots.items():
        fallen = clip.sim_fallen if variant == "simulated" else None
        panels.append(_panel(variant, robot_segments(motion), robot_feet(motion), motion.contacts, motion.fps, settings,
                             motion.root_pos[:, :2], fallen))
    for p in panels:
        if p.px_a.shape[0] < T:                                      # a shorter variant holds its last frame
            pad = T - p.px_a.shape[0]
            for name in ("px_a", "px_b", "colour", "order", "feet_px", "contacts"):
                arr = getattr(p, name)
                setattr(p, name, np.concatenate([arr, np.repeat(arr[-1:], pad, 0)]))
            p.camera.target = np.concatenate([p.camera.target, np.repeat(p.camera.target[-1:], pad, 0)])
    return panels


def _timeline_rows(clip: ClipMotions) -> list[tuple[str, list[tuple[np.ndarray, RGB]]]]:
    """Rows of the strip: (label, [(mask, colour), ...])."""
    T = clip.num_frames
    rows: list[tuple[str, list[tuple[np.ndarray, RGB]]]] = []
    contacts = next(iter(clip.robots.values())).contacts if clip.robots else None
    if contacts is not None:
        contacts = np.asarray(contacts, dtype=bool)[:T]
        rows.append(("L foot", [(contacts[:, 0], FOOT_COLOURS[0])]))
        rows.append(("R foot", [(contacts[:, 1], FOOT_COLOURS[1])]))
    if clip.verdict is not None:
        cut = clip.cut_mask()
        rows.append((f"filter: {clip.verdict.verdict}", [(~cut, KEPT), (cut, CUT)]))
        flagged = np.zeros(T, dtype=bool)
        for reason in clip.verdict.reasons:
            for a, b in reason.spans:
                flagged[int(a):int(b)] = True
        if flagged.any():
            rows.append(("reasons", [(flagged, FLAGGED)]))
    if clip.sim_fallen is not None:
        rows.append(("sim: fallen", [(np.asarray(clip.sim_fallen, bool)[:T], FALL)]))
    return rows


class FrameRenderer:
    """Renders frame ``t`` of a clip preview as an (H, W, 3) uint8 array."""

    LABEL_W = 96

    def __init__(self, clip: ClipMotions, settings: PreviewSettings | None = None):
        self.clip = clip
        self.settings = settings = settings or PreviewSettings()
        self.panels = build_panels(clip, settings)
        if not self.panels:
            raise ValueError(f"clip {clip.clip_id}: nothing to draw")
        self.num_frames = clip.num_frames
        self.width = settings.panel_width * len(self.panels)
        self.height = settings.panel_height + settings.timeline_height
        self.font = _font(13)
        self.small = _font(11)
        self._grid = np.arange(-4, 5) * 0.5
        self._bar_x0 = self.LABEL_W
        self._bar_x1 = self.width - 12
        self._cut = clip.cut_mask()
        self._codes = [", ".join(clip.reason_at(t)) for t in range(self.num_frames)]
        self._background = self._draw_background()

    # -- static parts ---------------------------------------------------------------------------------------------
    def _x_of(self, frame: float) -> float:
        span = max(1, self.num_frames - 1)
        return self._bar_x0 + (self._bar_x1 - self._bar_x0) * frame / span

    def _draw_background(self) -> Image.Image:
        s = self.settings
        img = Image.new("RGB", (self.width, self.height), BACKGROUND)
        draw = ImageDraw.Draw(img)
        for i, panel in enumerate(self.panels):
            x0 = i * s.panel_width
            if i:
                draw.line([(x0, 0), (x0, s.panel_height)], fill=GRID, width=1)
            draw.text((x0 + 8, 6), panel.title, fill=TEXT, font=self.font)
        draw.text((self.width - 8, 6), self.clip.clip_id[:60], fill=TEXT, font=self.small, anchor="ra")
        top = s.panel_height
        draw.rectangle([0, top, self.width, self.height], fill=(236, 236, 232))
        rows = _timeline_rows(self.clip)
        row_h = max(6, (s.timeline_height - 20) // max(1, len(rows)))
        for r, (label, parts) in enumerate(rows):
            y0 = top + 4 + r * row_h
            draw.text((6, y0 + row_h / 2), label, fill=TEXT, font=self.small, anchor="lm")
            for mask, colour in parts:
                for a, b in spans_of(mask):
                    draw.rectangle([self._x_of(a), y0 + 1, max(self._x_of(a) + 1, self._x_of(b)), y0 + row_h - 2], fill=colour)
        self._rows_bottom = top + 4 + len(rows) * row_h
        self._tiles = [img.crop((i * s.panel_width, 0, (i + 1) * s.panel_width, s.panel_height)) for i in range(len(self.panels))]
        return img

    # -- per frame ------------------------------------------------------------------------------------------------
    def _draw_panel(self, draw: ImageDraw.ImageDraw, panel: Panel, t: int) -> None:
        x0 = 0
        s = self.settings
        cam = panel.camera
        centre = cam.target[t, :2]
        base = np.round(centre / 0.5) * 0.5
        lines = []
        for g in self._grid:
            lines.append(((base[0] + g, base[1] - 2.0, 0.0), (base[0] + g, base[1] + 2.0, 0.0)))
            lines.append(((base[0] - 2.0, base[1] + g, 0.0), (base[0] + 2.0, base[1] + g, 0.0)))
        pts = np.array(lines)[None]                                     # (1, L, 2, 3)
        rel = pts - cam.target[t]
        gx = cam.origin_px[0] + cam.scale * (rel @ cam.right) + x0
        gy = cam.origin_px[1] - cam.scale * (rel @ cam.up)
        for (xa, xb), (ya, yb) in zip(gx[0], gy[0]):
            draw.line([(xa, ya), (xb, yb)], fill=GRID, width=1)
        el = np.radians(s.camera.elevation_deg)
        for k in range(2):
            if panel.contacts[t, k]:
                fx, fy = panel.feet_px[t, k]
                rx = 0.09 * cam.scale
                ry = max(2.0, rx * np.sin(el))
                draw.ellipse([fx + x0 - rx, fy - ry, fx + x0 + rx, fy + ry], fill=CONTACT_MARK)
        a, b, col, rad = panel.px_a[t], panel.px_b[t], panel.colour[t], panel.radius_px
        for n in panel.order[t]:
            ax, ay = a[n, 0] + x0, a[n, 1]
            bx, by = b[n, 0] + x0, b[n, 1]
            r = rad[n]
            c = tuple(int(v) for v in col[n])
            if s.outline:
                ro = r + 1.2
                dark = (c[0] // 2, c[1] // 2, c[2] // 2)
                draw.line([(ax, ay), (bx, by)], fill=dark, width=int(2 * ro))
                draw.ellipse([ax - ro, ay - ro, ax + ro, ay + ro], fill=dark)
                draw.ellipse([bx - ro, by - ro, bx + ro, by + ro], fill=dark)
            draw.line([(ax, ay), (bx, by)], fill=c, width=max(1, int(2 * r)))
            draw.ellipse([ax - r, ay - r, ax + r, ay + r], fill=c)
            draw.ellipse([bx - r, by - r, bx + r, by + r], fill=c)
        if panel.fallen is not None and t < len(panel.fallen) and panel.fallen[t]:
            draw.text((x0 + 8, 24), "FALLEN (reset to reference)", fill=FALL, font=self.font)

    def render(self, t: int) -> np.ndarray:
        """Frame ``t`` (0-based) as (H, W, 3) uint8."""
        s = self.settings
        img = self._background.copy()
        for i, panel in enumerate(self.panels):                    # each panel on its own tile: clipped to it
            box = (i * s.panel_width, 0, (i + 1) * s.panel_width, s.panel_height)
            tile = self._tiles[i].copy()
            self._draw_panel(ImageDraw.Draw(tile), panel, t)
            img.paste(tile, box[:2])
        draw = ImageDraw.Draw(img)
        codes = self._codes[t]
        cut = bool(self._cut[t])
        if cut or codes:
            colour = CUT if cut else FLAGGED
            if codes:
                label = ("cut: " if cut else "flagged (kept): ") + codes
            else:
                label = "cut: clip rejected" if self.clip.verdict and self.clip.verdict.verdict == "reject" \
                    else "cut: kept piece too short"
            draw.text((8, s.panel_height - 20), label[:90], fill=colour, font=self.font)
            if cut:
                draw.rectangle([0, 0, self.width - 1, s.panel_height - 1], outline=CUT, width=3)
        x = self._x_of(t)
        draw.line([(x, s.panel_height + 2), (x, self._rows_bottom)], fill=(0, 0, 0), width=2)
        fps = self.clip.fps
        draw.text((6, self.height - 9), f"t = {t / fps:6.2f} s / {(self.num_frames - 1) / fps:.2f} s   frame {t + 1}/{self.num_frames}",
                  fill=TEXT, font=self.small, anchor="lm")
        return np.asarray(img)

    def frames(self) -> Iterator[np.ndarray]:
        for t in range(self.num_frames):
            yield self.render(t)
