"""BVH parser details: Euler conversion, channel layouts, per-joint position channels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from stages.ingest.bvh import euler_to_quat, local_transforms, parse_bvh
from stages.ingest.kinematics import forward_kinematics


@pytest.mark.parametrize("order", ["ZYX", "XYZ", "YZX", "ZXY", "XZY", "YXZ"])
def test_euler_matches_scipy_intrinsic(order):
    angles = np.random.default_rng(1).uniform(-720, 720, size=(200, 3))
    q = euler_to_quat(order, angles)
    ref = Rotation.from_euler(order, angles, degrees=True).as_quat()
    assert np.allclose(np.abs(np.sum(q * ref, axis=-1)), 1.0, atol=1e-12)


TWO_JOINTS = """HIERARCHY
ROOT root
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
  JOINT arm
  {
    OFFSET 10 0 0
    CHANNELS 4 Yposition Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 5 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
0 0 0 0 0 0 7 0 0 0
1 2 3 0 0 90 7 0 0 0
"""


def test_position_channels_and_any_order():
    bvh = parse_bvh(TWO_JOINTS)
    assert bvh.names == ("root", "arm") and list(bvh.parents) == [-1, 0]
    assert bvh.channels[1] == ("Yposition", "Zrotation", "Xrotation", "Yrotation")
    assert bvh.end_sites[1].tolist() == [5.0, 0.0, 0.0] and bvh.fps == 2.0
    trans, quats = local_transforms(bvh)
    # frame 0: root at origin (position channels replace the OFFSET), arm offset y replaced by 7
    assert trans[0, 0].tolist() == [0.0, 0.0, 0.0] and trans[0, 1].tolist() == [10.0, 7.0, 0.0]
    pos, _ = forward_kinematics(bvh.parents, trans, quats)
    assert np.allclose(pos[0, 1], [10, 7, 0])
    # frame 1: root at (1,2,3) rotated +90 deg about z: the arm offset (10, 7, 0) -> (-7, 10, 0)
    assert np.allclose(pos[1, 1], [1 - 7, 2 + 10, 3])


def test_crlf_tabs_and_declared_count():
    text = TWO_JOINTS.replace("\n", "\r\n").replace("  ", "\t")
    bvh = parse_bvh(text)
    assert bvh.num_frames == 2 and bvh.declared_frames == 2


def test_fps_snapping():
    assert parse_bvh(TWO_JOINTS.replace("Frame Time: 0.5", "Frame Time: .0083333")).fps == 120.0
    assert parse_bvh(TWO_JOINTS.replace("Frame Time: 0.5", "Frame Time: 0.033333")).fps == 30.0
    assert parse_bvh(TWO_JOINTS.replace("Frame Time: 0.5", "Frame Time: 0.04")).fps == 25.0
    assert abs(parse_bvh(TWO_JOINTS.replace("Frame Time: 0.5", "Frame Time: 0.0123")).fps - 81.30081) < 1e-4
