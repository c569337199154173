"""Orthographic camera that follows a body across the floor.

The view direction is fixed in the world (azimuth about +z from +x, elevation
above the floor plane); the look-at point follows the root's horizontal
position, smoothed over about a second so the picture does not shake with
every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraSettings:
    """Attributes:
        azimuth_deg: direction the camera sits in, degrees about +z from +x.
        elevation_deg: degrees above the floor plane.
        pixels_per_m: image scale.
        ground_row: image row (fraction of the panel height from the top) of the floor under the target.
        follow_s: smoothing window of the followed root path, s.
    """

    azimuth_deg: float = -60.0
    elevation_deg: float = 12.0
    pixels_per_m: float = 150.0
    ground_row: float = 0.86
    follow_s: float = 1.0


def smooth_path(xy: np.ndarray, fps: float, window_s: float) -> np.ndarray:
    """(T, 2) moving average of a path (edges padded with the end values)."""
    n = max(1, int(round(window_s * fps)) | 1)
    if n == 1 or len(xy) < 2:
        return xy.copy()
    pad = n // 2
    padded = np.concatenate([np.repeat(xy[:1], pad, 0), xy, np.repeat(xy[-1:], pad, 0)])
    kernel = np.ones(n) / n
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(2)], axis=1)


class Camera:
    """Projects world points (m, Z-up) to pixel coordinates of a ``width x height`` panel."""

    def __init__(self, settings: CameraSettings, width: int, height: int, target_xy: np.ndarray):
        az, el = np.radians(settings.azimuth_deg), np.radians(settings.elevation_deg)
        towards_camera = np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])
        self.forward = -towards_camera                               # camera -> scene
        right = np.cross(self.forward, [0.0, 0.0, 1.0])
        self.right = right / np.linalg.norm(right)
        self.up = np.cross(self.right, self.forward)
        self.scale = settings.pixels_per_m
        self.width, self.height = width, height
        self.origin_px = np.array([width / 2.0, height * settings.ground_row])
        self.target = np.concatenate([target_xy, np.zeros((len(target_xy), 1))], axis=1)    # (T, 3)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points (T, ..., 3) -> pixels (T, ..., 2) and depth (T, ...) along the view (larger = farther)."""
        shape = (points.shape[0],) + (1,) * (points.ndim - 2) + (3,)
        rel = points - self.target.reshape(shape)
        x = rel @ self.right
        y = rel @ self.up
        px = np.stack([self.origin_px[0] + self.scale * x, self.origin_px[1] - self.scale * y], axis=-1)
        return px, rel @ self.forward
