"""Settings of the filter stage (the manifest's ``stages.filter`` section).

Every threshold has a default chosen for the Unitree robots at 30 fps and is
documented next to its field with its unit. Each check has its own nested
frozen dataclass; ``enabled = False`` turns a check off.

Short-span tolerances (``allow_frames``) are counted in frames of the
retargeted clip: failing runs separated by at most ``allow_frames // 2``
frames are merged, then a merged run no longer than ``allow_frames`` is
tolerated (noise of a finite-difference estimate, a single contact
transition); longer runs, and short ones that keep coming back, fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: every reason code a check can report (the names of the per-check sections below)
CODES: tuple[str, ...] = (
    "non_finite", "too_short", "joint_position_limit", "joint_velocity", "root_linear_speed",
    "root_angular_speed", "root_vertical_jump", "ik_infeasible", "non_foot_ground_contact", "floating", "ground_penetration",
    "self_collision", "flight_momentum", "zmp_outside_support", "joint_torque",
)


@dataclass(frozen=True)
class NonFiniteSettings:
    """NaN or inf anywhere in the root or joint trajectories (rejects the clip whole)."""

    enabled: bool = True


@dataclass(frozen=True)
class TooShortSettings:
    """Clip shorter than ``min_duration_s`` seconds (rejects the clip whole)."""

    enabled: bool = True
    min_duration_s: float = 1.0          # s


@dataclass(frozen=True)
class JointPositionLimitSettings:
    """A joint beyond its lower/upper limit by more than ``tolerance_rad``."""

    enabled: bool = True
    tolerance_rad: float = 0.02          # rad allowed beyond the URDF limit
    allow_frames: int = 0                # frames


@dataclass(frozen=True)
class IkInfeasibleSettings:
    """Frames where the retarget's IK step was infeasible with its ground and self-collision rows
    (``RobotMotion.ik_infeasible``; solved with the joint limits only, so the robot may have gone
    through the floor or itself there). Motions that do not record it pass."""

    enabled: bool = True
    allow_frames: int = 2                # frames (isolated infeasible steps are tolerated)


@dataclass(frozen=True)
class JointVelocitySettings:
    """|joint velocity| above ``limit_factor`` × the robot's velocity limit.

    The URDF limit is the motor's top speed, where its available torque drops
    to nothing (torque-speed curve); a motion that runs a joint near it for
    more than a few frames cannot also carry loads, hence the default 0.9.
    """

    enabled: bool = True
    limit_factor: float = 0.9            # × URDF velocity limit (rad/s)
    allow_frames: int = 1                # frames
    demanded: bool = True                # also judge the joint speed the human motion demanded
                                         # (``RobotMotion.demanded_speed``, same unit), which the
                                         # retargeter's velocity limits and smoothing hide


@dataclass(frozen=True)
class RootLinearSpeedSettings:
    """Root (pelvis) linear speed above ``max_mps``."""

    enabled: bool = True
    max_mps: float = 5.0                 # m/s (sprinting human ≈ 8 m/s; G1 root travel is scaled ≈ 0.74)
    allow_frames: int = 1                # frames


@dataclass(frozen=True)
class RootAngularSpeedSettings:
    """Root (pelvis) angular speed above ``max_radps``."""

    enabled: bool = True
    max_radps: float = 10.0              # rad/s (≈ 1.6 rev/s; HoloMotion rejects above 20, units unstated)
    allow_frames: int = 2                # frames


@dataclass(frozen=True)
class RootVerticalJumpSettings:
    """Root height changing faster than ``max_vertical_speed_mps`` (a teleport / a glitch)."""

    enabled: bool = True
    max_vertical_speed_mps: float = 4.0  # m/s (take-off speed of a 0.8 m jump is ≈ 4 m/s)
    allow_frames: int = 0                # frames


@dataclass(frozen=True)
class GroundPenetrationSettings:
    """Any collision primitive's lowest point deeper than ``max_depth_m`` below the floor (z = 0)."""

    enabled: bool = True
    max_depth_m: float = 0.04            # m
    allow_frames: int = 1                # frames


@dataclass(frozen=True)
class FloatingSettings:
    """No body in contact for longer than a ballistic flight with the measured apex allows.

    A flight whose centre of mass rises ``h_up`` above take-off and falls
    ``h_down`` to landing lasts ``sqrt(2 h_up / g) + sqrt(2 h_down / g)``; the
    airborne span fails when it is longer than that by more than
    ``tolerance_s``.
    """

    enabled: bool = True
    tolerance_s: float = 0.15            # s beyond the ballistic duration
    min_airborne_frames: int = 3         # frames; shorter airborne runs are contact-detection noise


@dataclass(frozen=True)
class NonFootGroundContactSettings:
    """A body other than the feet (knees, hands, elbows, pelvis, torso, head) on the floor.

    Fails while the lowest point of such a body is within ``height_m`` of the
    floor. Its own reason code (``non_foot_ground_contact``) so users can list
    it in ``Settings.flag_only`` to keep crawling / lying / getting-up motion.
    """

    enabled: bool = True
    height_m: float = 0.03               # m above the floor
    allow_frames: int = 2                # frames


@dataclass(frozen=True)
class SelfCollisionSettings:
    """Penetration depth between non-adjacent collision primitives above ``max_depth_m``.

    A frame's value is the deeper of the robot's own penetration and, with
    ``demanded``, the penetration its retarget targets demand
    (``RobotMotion.target_penetration``: the limbs moved onto the scaled human's;
    the retargeter's collision rows keep the robot itself clean, so an arm
    swept through the torso only shows there) less ``demanded_allowance_m``:
    scaled human limbs and robot capsules differ in shape, so a hand resting
    against the hip already demands 3-4 cm of G1's pelvis capsule (CMU 131),
    while an arm swept through the chest demands 4-5 cm for over a second.
    Files without that array are judged on the robot's own penetration.
    """

    enabled: bool = True
    max_depth_m: float = 0.03            # m (ProtoMotions rejects 0.05 m once or 0.03 m over 10 frames)
    allow_frames: int = 3                # frames
    demanded: bool = True                # also judge the target (demanded) penetration when present
    demanded_allowance_m: float = 0.01   # m subtracted from the demanded depth before the comparison


@dataclass(frozen=True)
class ZmpSettings:
    """ZMP (flat ground) outside the support polygon of the bodies in contact.

    The ZMP may lie up to ``margin_m`` outside the convex hull of the contact
    points (mocap noise, soft soles); runs up to ``allow_frames`` long are
    tolerated. Frames without any contact are left to ``flight_momentum``.
    """

    enabled: bool = True
    margin_m: float = 0.05               # m outside the support polygon that is tolerated
    allow_frames: int = 8                # frames (0.27 s at 30 fps)
    guard_frames: int = 4                # frames next to a flight that are not judged (>= smoothing half-window)


@dataclass(frozen=True)
class FlightMomentumSettings:
    """In flight the centroidal momentum rate must equal gravity: dL/dt = m g, dk/dt = 0.

    The per-frame value is ``max(|c_ddot - g| / linear_tolerance_mps2,
    |dk/dt| / angular_tolerance_nm)`` (1.0 = at tolerance), from the clip's
    own (unsmoothed) central differences; frames within ``guard_frames`` of a
    contact (take-off / landing impulses) are not judged.
    """

    enabled: bool = True
    linear_tolerance_mps2: float = 4.0   # m/s² of CoM acceleration error
    angular_tolerance_nm: float = 30.0   # N·m of centroidal angular momentum rate
    guard_frames: int = 2                # frames next to a contact that are not judged
    allow_frames: int = 2                # frames


@dataclass(frozen=True)
class JointTorqueSettings:
    """Joint torques from inverse dynamics with contact forces, relative to the effort limits.

    Contact forces at the contact points are distributed by a non-negative
    least-squares problem over a linearised friction cone (``friction``,
    ``cone_edges`` generators, unilateral). The value is ``max_j |tau_j| /
    effort_limit_j``; fails above ``limit_factor``.
    """

    enabled: bool = True
    limit_factor: float = 1.0            # × URDF effort limit
    friction: float = 0.8                # Coulomb friction coefficient
    cone_edges: int = 4                  # generators of the linearised friction cone
    allow_frames: int = 6                # frames (0.2 s at 30 fps)


@dataclass(frozen=True)
class ContactSettings:
    """How bodies in contact with the floor are found (for support, flight and torques)."""

    height_m: float = 0.05               # m: a contact point within this height of the floor touches it
    foot_region_m: float = 0.1           # m around a foot frame's origin where other bodies count as the foot


@dataclass(frozen=True)
class DynamicsSettings:
    """How velocities and accelerations are estimated from the poses.

    ``differences``: ``central`` (the default: motion capture and retargets) differences the smoothed
    poses centrally; ``semi_implicit`` is the exact inverse of a semi-implicit Euler step (MuJoCo's
    integrators), for a simulator's recording at its physics step with no smoothing: a frame's velocity is
    the backward difference from the frame before (the root's linear velocity in world axes, its angular
    velocity about its own axes), its acceleration the forward difference of those velocities. On such a
    recording the floor wrench the dynamic checks use equals the simulator's contact forces
    (``tests/test_simulate.py``).
    """

    smooth_window_frames: int = 9        # odd, Savitzky-Golay window on q before differencing (<= 2: none)
    smooth_order: int = 2                # polynomial order of the smoothing
    differences: Literal["central", "semi_implicit"] = "central"   # see the class docstring


@dataclass(frozen=True)
class Settings:
    """Filter stage settings.

    ``min_segment_s``: kept segments shorter than this (s) are dropped.
    ``pad_s``: frames this close (s) to a failing span are cut as well.
    ``reject_whole``: reason codes that reject a clip whole instead of trimming.
    ``flag_only``: reason codes reported in the verdict without cutting frames.
    ``drop_sim_fall``: frames the simulate stage reports as fallen (reason ``sim_fall``) are
    cut from the dataset's clips as well (default: only reported in the verdict).
    """

    min_segment_s: float = 2.0
    pad_s: float = 0.1
    reject_whole: tuple[str, ...] = ("non_finite", "too_short")
    flag_only: tuple[str, ...] = ()
    drop_sim_fall: bool = False
    contact: ContactSettings = field(default_factory=ContactSettings)
    dynamics: DynamicsSettings = field(default_factory=DynamicsSettings)
    non_finite: NonFiniteSettings = field(default_factory=NonFiniteSettings)
    too_short: TooShortSettings = field(default_factory=TooShortSettings)
    joint_position_limit: JointPositionLimitSettings = field(default_factory=JointPositionLimitSettings)
    joint_velocity: JointVelocitySettings = field(default_factory=JointVelocitySettings)
    root_linear_speed: RootLinearSpeedSettings = field(default_factory=RootLinearSpeedSettings)
    root_angular_speed: RootAngularSpeedSettings = field(default_factory=RootAngularSpeedSettings)
    root_vertical_jump: RootVerticalJumpSettings = field(default_factory=RootVerticalJumpSettings)
    ik_infeasible: IkInfeasibleSettings = field(default_factory=IkInfeasibleSettings)
    ground_penetration: GroundPenetrationSettings = field(default_factory=GroundPenetrationSettings)
    floating: FloatingSettings = field(default_factory=FloatingSettings)
    non_foot_ground_contact: NonFootGroundContactSettings = field(default_factory=NonFootGroundContactSettings)
    self_collision: SelfCollisionSettings = field(default_factory=SelfCollisionSettings)
    zmp_outside_support: ZmpSettings = field(default_factory=ZmpSettings)
    flight_momentum: FlightMomentumSettings = field(default_factory=FlightMomentumSettings)
    joint_torque: JointTorqueSettings = field(default_factory=JointTorqueSettings)

    def __post_init__(self) -> None:
        if self.min_segment_s < 0 or self.pad_s < 0:
            raise ValueError("min_segment_s and pad_s must be >= 0")
        if self.dynamics.smooth_window_frames > 2 and self.dynamics.smooth_window_frames % 2 == 0:
            raise ValueError("dynamics.smooth_window_frames must be odd")
        if self.joint_torque.cone_edges < 3:
            raise ValueError("joint_torque.cone_edges must be >= 3")
        for key in ("reject_whole", "flag_only"):
            unknown = [c for c in getattr(self, key) if c not in CODES]
            if unknown:
                raise ValueError(f"{key}: unknown reason code(s) {unknown}; known: {', '.join(CODES)}")
