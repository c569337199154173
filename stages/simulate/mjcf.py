"""A MuJoCo model (MJCF) generated from the project's robot description.

The same robot every other stage uses (``core.robot.Robot``): one MuJoCo body
per pinocchio joint with that joint's placement, axis, range and (merged)
inertia; a free joint at the root; one ``motor`` actuator per joint whose
control range is the robot's effort limit (``Robot.effort_limit``: the URDF's,
so 35 N·m at the G1's ankles and waist roll/pitch where Unitree's MJCF says
50); the fitted collision capsules (``RobotConfig.primitives``) and a box under
each foot sole (``RobotConfig.soles``) for contact with a flat floor at z = 0.
Body-body collisions are off (the filter judges self-collision); capsules and
soles collide with the floor only. A site per key link gives its world pose.

Units: metres, kilograms, seconds, radians. MuJoCo quaternions are **w x y z**
(``quat_wxyz`` below); the rest of the project uses x y z w.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import mujoco
import numpy as np
import pinocchio as pin

from core.errors import ConfigError
from core.robot import Robot
from stages.simulate.settings import ModelSettings

_AXES = {"JointModelRX": (1.0, 0.0, 0.0), "JointModelRY": (0.0, 1.0, 0.0), "JointModelRZ": (0.0, 0.0, 1.0),
         "JointModelRUBX": (1.0, 0.0, 0.0), "JointModelRUBY": (0.0, 1.0, 0.0), "JointModelRUBZ": (0.0, 0.0, 1.0),
         "JointModelPX": (1.0, 0.0, 0.0), "JointModelPY": (0.0, 1.0, 0.0), "JointModelPZ": (0.0, 0.0, 1.0)}


@dataclass(frozen=True)
class SimModel:
    """The compiled MuJoCo model and the indices the controller needs.

    Attributes:
        model: the compiled ``mujoco.MjModel``.
        xml: the MJCF text it was compiled from.
        frame_substeps: physics steps per clip frame (``model.opt.timestep = 1 / (fps * frame_substeps)``).
        foot_bodies: (2,) MuJoCo body ids of the left and right foot.
        sole_offsets: (2, 3) sole centres in their foot body's frame, m.
        sole_half_extents: (2, 2) sole half-lengths along the foot's x and y, m.
        root_body: body id of the root (pelvis).
        torso_body: body id of the trunk body tracked for orientation (None if absent).
        key_sites: (K,) site ids of ``robot.config.key_links`` in that order.
        dof_qpos: (D,) qpos address of each robot dof (``robot.dof_names`` order).
        dof_qvel: (D,) qvel address of each robot dof.
    """

    model: mujoco.MjModel
    xml: str
    frame_substeps: int
    foot_bodies: tuple[int, int]
    sole_offsets: np.ndarray
    sole_half_extents: np.ndarray
    root_body: int
    torso_body: int | None
    key_sites: tuple[int, ...]
    dof_qpos: np.ndarray
    dof_qvel: np.ndarray


def _vec(values: Iterable[float]) -> str:
    return " ".join(f"{float(v):.9g}" for v in values)


def _quat_wxyz(rotation: np.ndarray) -> np.ndarray:
    q = pin.Quaternion(np.asarray(rotation))
    return np.array([q.w, q.x, q.y, q.z])


def _joint_axis(model: pin.Model, j: int, where: str | Path | None) -> tuple[tuple[float, float, float], str]:
    joint = model.joints[j]
    name = joint.shortname()
    if name in _AXES:
        kind = "slide" if name.startswith("JointModelP") else "hinge"
        return _AXES[name], kind
    if name in ("JointModelRevoluteUnaligned", "JointModelRevoluteUnboundedUnaligned"):
        axis = np.asarray(joint.extract().axis, dtype=np.float64)
        return (float(axis[0]), float(axis[1]), float(axis[2])), "hinge"
    if name == "JointModelPrismaticUnaligned":
        axis = np.asarray(joint.extract().axis, dtype=np.float64)
        return (float(axis[0]), float(axis[1]), float(axis[2])), "slide"
    raise ConfigError(where, "description", f"joint {model.names[j]!r} of type {name} cannot be simulated")


def body_names(robot: Robot) -> list[str]:
    """Name of the MuJoCo body of each pinocchio joint 1.. (its first body frame, e.g. the URDF child link)."""
    model = robot.model
    names: list[str | None] = [None] * model.njoints
    for frame in model.frames:
        if frame.type == pin.FrameType.BODY and names[frame.parentJoint] is None:
            names[frame.parentJoint] = frame.name
    return [names[j] or model.names[j] for j in range(1, model.njoints)]


def frame_substeps(fps: float, physics_dt_s: float) -> int:
    """Physics steps per clip frame so that the step is as close as possible to ``physics_dt_s``."""
    return max(1, int(round(1.0 / (fps * physics_dt_s))))


def build_mjcf(robot: Robot, settings: ModelSettings | None = None, timestep_s: float = 0.002) -> str:
    """The MJCF text of ``robot`` on a flat floor (see the module docstring)."""
    settings = settings or ModelSettings()
    config = robot.config
    model = robot.model
    where = config.source or config.description
    names = body_names(robot)
    foot_frames = set(config.foot_frames)
    children: dict[int, list[int]] = {}
    for j in range(2, model.njoints):
        children.setdefault(model.parents[j], []).append(j)
    effort = dict(zip(robot.dof_names, robot.effort_limit))
    geoms: dict[int, list[str]] = {}
    sites: dict[int, list[str]] = {}
    contact = 'contype="0" conaffinity="1"' if settings.limb_contacts else 'contype="0" conaffinity="0"'
    for prim in config.primitives:
        if prim.frame in foot_frames:
            continue          # the sole box is the foot's contact with the floor
        frame = model.frames[robot.frame_id(prim.frame)]
        a = frame.placement.act(np.asarray(prim.a))
        b = frame.placement.act(np.asarray(prim.b))
        if np.linalg.norm(a - b) < 1e-6:
            g = f'<geom name={quoteattr(prim.name)} type="sphere" pos="{_vec(a)}" size="{prim.radius:.9g}" {contact}/>'
        else:
            g = (f'<geom name={quoteattr(prim.name)} type="capsule" fromto="{_vec(a)} {_vec(b)}" '
                 f'size="{prim.radius:.9g}" {contact}/>')
        geoms.setdefault(frame.parentJoint, []).append(g)
    half_h = settings.sole_thickness_m / 2.0
    for side, foot in zip(("left", "right"), config.foot_frames):
        try:
            sole = config.sole(foot)
        except KeyError:
            raise ConfigError(where, "soles", f"foot {foot!r} has no sole; the simulator needs one per foot") from None
        frame = model.frames[robot.frame_id(foot)]
        centre = frame.placement.act(np.asarray(sole.center) + np.array([0.0, 0.0, half_h]))
        quat = _quat_wxyz(frame.placement.rotation)
        geoms.setdefault(frame.parentJoint, []).append(
            f'<geom name="{side}_sole" type="box" pos="{_vec(centre)}" quat="{_vec(quat)}" '
            f'size="{sole.half_extents[0]:.9g} {sole.half_extents[1]:.9g} {half_h:.9g}" '
            f'contype="0" conaffinity="1" condim="{4 if settings.torsional_friction_m > 0 else 3}" solref="{settings.sole_solref_s:.9g} 1" '
            f'friction="{settings.friction:.9g} {settings.torsional_friction_m:.9g} 0.0001"/>')
    for link in config.key_links:
        frame = model.frames[robot.frame_id(link)]
        sites.setdefault(frame.parentJoint, []).append(
            f'<site name={quoteattr("key_" + link)} pos="{_vec(frame.placement.translation)}" '
            f'quat="{_vec(_quat_wxyz(frame.placement.rotation))}" size="0.01"/>')

    def inertial(j: int) -> str:
        inertia = model.inertias[j]
        i = np.asarray(inertia.inertia)
        return (f'<inertial pos="{_vec(inertia.lever)}" mass="{inertia.mass:.9g}" '
                f'fullinertia="{_vec([i[0, 0], i[1, 1], i[2, 2], i[0, 1], i[0, 2], i[1, 2]])}"/>')

    lines: list[str] = []

    def body(j: int, depth: int) -> None:
        pad = "  " * depth
        placement = model.jointPlacements[j]
        lines.append(f'{pad}<body name={quoteattr(names[j - 1])} pos="{_vec(placement.translation)}" '
                     f'quat="{_vec(_quat_wxyz(placement.rotation))}">')
        lines.append(f"{pad}  {inertial(j)}")
        if j == 1:
            lines.append(f'{pad}  <freejoint name="root"/>')
        else:
            axis, kind = _joint_axis(model, j, where)
            dof = j - 2
            lines.append(f'{pad}  <joint name={quoteattr(model.names[j])} type="{kind}" axis="{_vec(axis)}" '
                         f'range="{robot.lower[dof]:.9g} {robot.upper[dof]:.9g}" limited="true" '
                         f'armature="{settings.armature:.9g}" damping="{settings.joint_damping:.9g}"/>')
        for g in geoms.get(j, []):
            lines.append(f"{pad}  {g}")
        for s in sites.get(j, []):
            lines.append(f"{pad}  {s}")
        for child in children.get(j, []):
            body(child, depth + 1)
        lines.append(f"{pad}</body>")

    body(1, 2)
    motors = []
    for name in robot.dof_names:
        limit = effort[name]
        if not np.isfinite(limit):
            raise ConfigError(where, "effort_limits", f"joint {name!r} has no effort limit; the simulator needs one")
        motors.append(f'    <motor name={quoteattr(name)} joint={quoteattr(name)} ctrllimited="true" '
                      f'ctrlrange="{-limit:.9g} {limit:.9g}"/>')
    return "\n".join([
        f'<mujoco model={quoteattr(robot.name + "_simulate")}>',
        '  <compiler angle="radian" autolimits="true"/>',
        f'  <option timestep="{timestep_s:.9g}" integrator="implicitfast" gravity="0 0 -9.81" '
        f'cone="{settings.friction_cone}" impratio="{settings.impratio:.9g}"/>',
        "  <worldbody>",
        f'    <geom name="floor" type="plane" size="0 0 0.05" contype="1" conaffinity="1" '
        f'friction="{settings.friction:.9g} 0.005 0.0001"/>',
        *lines,
        "  </worldbody>",
        "  <actuator>",
        *motors,
        "  </actuator>",
        "</mujoco>",
    ])


def build_sim_model(robot: Robot, fps: float, settings: ModelSettings | None = None) -> SimModel:
    """Compile the MJCF of ``robot`` with a physics step that divides a frame of a ``fps`` clip."""
    settings = settings or ModelSettings()
    substeps = frame_substeps(fps, settings.physics_dt_s)
    xml = build_mjcf(robot, settings, 1.0 / (fps * substeps))
    try:
        model = mujoco.MjModel.from_xml_string(xml)
    except ValueError as exc:
        raise ConfigError(robot.config.source, "description", f"MuJoCo cannot compile the robot: {exc}") from None
    names = body_names(robot)
    feet = []
    for foot in robot.config.foot_frames:
        joint = robot.model.frames[robot.frame_id(foot)].parentJoint
        feet.append(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, names[joint - 1]))
    offsets = np.empty((2, 3))
    half = np.empty((2, 2))
    for k, foot in enumerate(robot.config.foot_frames):
        frame = robot.model.frames[robot.frame_id(foot)]
        sole = robot.config.sole(foot)
        offsets[k] = frame.placement.act(np.asarray(sole.center))
        half[k] = sole.half_extents
    root = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, names[0])
    torso = None
    for candidate in ("torso_link", "torso"):
        bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, candidate)
        if bid >= 0:
            torso = bid
            break
    key_sites = tuple(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "key_" + link)
                      for link in robot.config.key_links)
    jids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name) for name in robot.dof_names]
    return SimModel(model=model, xml=xml, frame_substeps=substeps, foot_bodies=(feet[0], feet[1]),
                    sole_offsets=offsets, sole_half_extents=half, root_body=root, torso_body=torso,
                    key_sites=key_sites, dof_qpos=np.array([model.jnt_qposadr[j] for j in jids]),
                    dof_qvel=np.array([model.jnt_dofadr[j] for j in jids]))
