"""Settings of the simulate stage (the manifest's ``stages.simulate`` section).

``mode: none`` (or the manifest shorthand ``simulate: none``) turns the stage
off: every clip passes through without a simulation. Units are given next to
each field; gains are in 1/s² (stiffness) and 1/s (damping) of the task
acceleration they command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ModelSettings:
    """The MuJoCo model generated from the robot description."""

    physics_dt_s: float = 0.002          # s, target physics step (rounded so a clip frame is a whole number of steps)
    friction: float = 0.9                # sliding friction coefficient of feet and floor (MuJoCo and the QP's cones)
    torsional_friction_m: float = 0.02   # m, sole torsional friction (condim 4): yaw moment up to this × normal force
    friction_cone: Literal["pyramidal", "elliptic"] = "elliptic"   # MuJoCo friction cone
    impratio: float = 10.0               # MuJoCo friction-to-normal impedance ratio (> 1: less sliding creep)
    sole_solref_s: float = 0.02          # s, time constant of the sole contacts (MuJoCo solref; >= 2 physics steps)
    sole_thickness_m: float = 0.01       # m, height of the sole contact boxes (bottom face = sole plane)
    armature: float = 0.01               # kg m², rotor inertia added to every actuated joint (not in the URDF; see README)
    joint_damping: float = 0.05          # N m s / rad, viscous joint friction (not in the URDF)
    limb_contacts: bool = True           # capsules of the legs/arms/trunk collide with the floor (falls lie down)


@dataclass(frozen=True)
class TaskGains:
    """PD gains of one task: commanded acceleration = a_ref + kp (x_ref - x) + kd (v_ref - v)."""

    kp: float
    kd: float
    weight: float


@dataclass(frozen=True)
class ControllerSettings:
    """Task-space inverse dynamics (one QP per control step)."""

    gap_contact_height_m: float = 0.02      # m, > 0: on a labelled flight frame that is not ballistic a foot with a
                                            # sole corner this low is in stance (reference.fill_support_gaps)
    ground_reference: bool = True        # lower the reference by the median height of its flat stance soles above the
                                         # floor (Unitree's CSVs: 7-11 mm) so the robot's stance legs reach as far as its
                                         # (not where a hand or the trunk is on the floor: reference.on_feet_share;
                                         # Unitree walks 1/2/3, mean of 3 perturbed rollouts each: tracked
                                         # 0.897/0.898 -> 0.918/0.918 on walks 2/3, walk1 0.926 -> 0.938)
    ground_reference_min_m: float = 0.002  # m, only a float height at least this large is removed (this project's
                                         # retargets float 0.3 mm: left exactly as they are)
    gap_contact_speed_m_s: float = float("inf")  # m/s, ... and its lowest corner moves slower than this (a rolling
                                         # foot pivots on it; Unitree's jogs skim a swing foot 1 cm over the floor at
                                         # 1-2 m/s, which a gap contact pins; inf: any speed). Measured at 0.5, mean of 3
                                         # perturbed rollouts: walk2 tracked 0.918 -> 0.926 (falls 66 -> 60), walks 1/3
                                         # same, demo and walk4 identical; but walk1 frames 3300-3600 0.922 -> 0.905 (3
                                         # rollouts, 0.88 in the default one): left off
    corner_contact_height_m: float = 0.0    # m, > 0: a reference foot is also in stance while a sole corner is this low ...
    corner_contact_speed_m_s: float = 0.5   # m/s, ... and that slow (toe-off: reference.corner_contacts; measured: no gain)
    balance_com: bool = True             # track a CoM plan whose ZMP stays in the support (balance.py), not the raw CoM
    balance_horizon_frames: int = 45     # frames the CoM plan looks ahead (measured: 30 fell 15 % more on fast walks)
    balance_zmp_weight: float = 10.0     # plan cost of its ZMP's distance to the reference's ZMP moved into the support
                                         # shrunk to balance_zmp_fraction (relative to the CoM cost 1; 0: off)
    balance_zmp_fraction: float = 0.5    # share of the sole half-lengths that ZMP target keeps to
    balance_terminal_weight: float = 0.0  # plan cost of its last frame's DCM distance to that frame's ZMP target
    balance_terminal_target: Literal["zmp", "dcm"] = "zmp"   # that target: the ZMP target ("zmp") or the
                                         # reference's own DCM moved into the support ("dcm")
    balance_angular_momentum: bool = True   # the plan's ZMP counts the reference's angular-momentum rate
    balance_ballistic: bool = True       # the plan's CoM keeps its horizontal velocity on frames without support
    balance_actual_stance: bool = False  # re-plans (balance_replan_frames > 0) use the robot's loaded feet where they
                                         # landed for the support (stance feet land 2 cm, p90 5-9 cm, off the reference)
    balance_replan_frames: int = 0       # frames between re-plans from the robot's state (0: one plan, before the rollout;
                                         # measured: re-planning from the state every 2 frames accepts each execution
                                         # error as the new start and drifts off; one feasible plan tracked by PD
                                         # feedback falls 30 % less on the Unitree walks)
    reset_clear_limbs: bool = False      # a reset (and the start) lifts the robot so no limb of the reference state is
                                         # below the floor (not only its stance soles; same stretch: 34 falls, 0.706)
    reset_blend_frames: int = 0          # frames over which the CoM target joins the plan from the state after a reset
                                         # (measured: no gain at 15 or 30)
    touchdown_ramp_steps: int = 0        # control steps over which a landing foot's normal-force bound ramps up
                                         # (soft landing; measured: no gain at 3 or 6)
    joint_limit_horizon_s: float = 0.1   # s, > 0: the QP keeps every actuated joint inside its range over this
                                         # horizon (qdd bounds 2 (limit - q - q̇ h) / h²); 0: MuJoCo's limit alone (the
                                         # QP then planned knee extension into the limit through a whole swing; demo
                                         # walks/turns/jumps over 3 rollouts each: 0.05 s 16 falls, 0.1 s 12, 0.2 s 26,
                                         # off 27; with the pelvis-height task 0.05 s was worse again)
    joint_limit_ankle_horizon_s: float = 0.1   # s, that horizon for the ankles (0: left to MuJoCo's limit alone).
                                         # A trade-off measured: walk1 frames 2400-5600 (fast walking) 0.1 s: 39 falls,
                                         # 0.885 tracked; 0.05: 30, 0.907; 0.03: 33, 0.888; 0: 20, 0.947 (main 33,
                                         # 0.907); the demo walk_straight over 5 rollouts: 0.1 s 2 falls, 0: 7.
                                         # With ground_reference, full Unitree walks 1/2/3: 0.1 s 0.927/0.901/0.907
                                         # (damping ±0.0001: 0.924-0.932/0.899-0.906/0.903); 0.05 s -/0.896/0.883;
                                         # 0 s 0.952/0.917/0.908 but demo walk_straight falls once
    flight_touchdown: bool = True        # on a frame the reference has no foot on the floor, a foot that MuJoCo has on
                                         # the floor is in stance until the reference lands (the robot landed early or
                                         # has not taken off: the demo jumps' references fly at -7 m/s², not -g)
    stance_offset_gain: float = 1.0      # share of the stance feet's offset from the reference's (where they landed minus
                                         # where the reference has them, horizontal) added to the CoM target: the plan's
                                         # ZMP was feasible over the reference's feet, the robot stands on its own (demo
                                         # jump_forward over 3 rollouts: 3 falls at 0, 0 at 1; also shifting the swing
                                         # foot's target by it: no gain)
    stance_offset_feet: Literal["flight", "all"] = "flight"   # whose offset counts: only feet that landed on a frame
                                         # the reference had no support (a flight's landing: where a jump lands is
                                         # ballistics, no step corrects it), or every stance foot (walking: measured worse,
                                         # the CoM then lags the next step)
    stance_offset_time_s: float = 0.1    # s, time constant over which that offset follows a change of stance
    velocity_bias: bool = False          # include J̇q̇ of the CoM and trunk-orientation tasks (measured: no better, slower)
    control_every: int = 6               # physics steps per QP solve (control rate = 1 / (control_every * dt))
    posture: TaskGains = field(default_factory=lambda: TaskGains(kp=200.0, kd=28.0, weight=0.2))
    arm_posture_weight: float = 5.0      # posture weight of the shoulder, elbow and wrist joints (the QP otherwise
                                         # swings the light arms for angular momentum when the CoP is at a sole edge)
                                         # (full Unitree walks 1/2/3 at 5: 0.926/0.891/0.897 tracked; 10: -/0.899/0.893;
                                         # 20: 0.918/0.911/0.895, walk4 0.971; 50: -/0.899/0.882: chaotic, no net gain)
    angular_momentum_weight: float = 10.0  # weight of the centroidal angular-momentum task (N·m units; 0: off)
    angular_momentum_damping: float = 10.0  # 1/s, its momentum-error feedback
    com: TaskGains = field(default_factory=lambda: TaskGains(kp=100.0, kd=20.0, weight=3000.0))   # weight 100:
                                         # the joint posture won over the CoM (a kick's single support tipped)
    com_vertical_weight: float = 0.003   # share of the CoM task's weight on its vertical axis (the horizontal CoM is the
                                         # balance; tracking its height, with a swing leg lower than the reference's,
                                         # lifted the pelvis, straightened the stance knee to its limit and left the
                                         # landing foot in the air; 1.0 with the pelvis task off was the old controller)
    pelvis_height: TaskGains = field(default_factory=lambda: TaskGains(kp=100.0, kd=20.0, weight=1000.0))   # the
                                         # pelvis (root) height follows the reference's (weight 0: off; 300 and 3000
                                         # fell more often on the demo walk than 1000)
    pelvis_orientation: TaskGains = field(default_factory=lambda: TaskGains(kp=200.0, kd=28.0, weight=10.0))
    torso_orientation: TaskGains = field(default_factory=lambda: TaskGains(kp=100.0, kd=20.0, weight=2.0))
    swing_foot: TaskGains = field(default_factory=lambda: TaskGains(kp=400.0, kd=40.0, weight=100.0))
    com_feedback: Literal["pd", "dcm"] = "pd"    # horizontal CoM command: PD on the CoM ("pd") or divergent-
                                         # component-of-motion feedback with the commanded CoP kept in the support
    dcm_gain: float = 2.0                # 1/s, DCM error decay rate on top of the pendulum's own (dcm feedback)
    dcm_cop_fraction: float = 0.8        # share of the sole half-lengths the commanded CoP keeps to (dcm feedback)
    com_max_acceleration: float = 5.0    # m/s², cap of the horizontal CoM feedback + feed-forward command
    step_gain: float = 0.0               # swing-foot target shift per metre of capture-point error (single support)
    step_max_m: float = 0.15             # m, largest such shift
    contact_stiffness: float = 100.0     # 1/s², stance foot held at its landing point, sole flat on the floor ...
    contact_damping: float = 20.0        # 1/s, ... with acceleration = stiffness * pose error - damping * velocity
    contact_weight: float = 1000.0       # weight of the stance-foot task (soft: MuJoCo's contacts are soft too)
    contact_height_m: float = 0.03       # m, a reference stance foot takes load only with its sole this close to the floor
    cop_fraction: float = 1.0            # the QP's centre of pressure stays within this fraction of the sole's half-lengths
                                         # (the box contact reaches the edge; 0.8 measured 1.2-2.3 pts less tracked)
    balance_cop_fraction: float = 1.0    # the planned CoM's ZMP stays within this fraction of the soles (hard; 0.4 left
                                         # single-support starts uncapturable: see README)
    unload_frames: int = 0               # frames over which a foot's load ramps to zero before lift-off (measured: no gain)
    limb_support_height_m: float = 0.0   # m, > 0: a knee, hand or other limb primitive MuJoCo has on the floor carries
                                         # load (a point force) where the reference's lowest point of it is this low
                                         # (measured on walk3's get-down / crawl / get-up stretch, frames 5350-6800:
                                         # 0.05 gave 29 falls, 0.688 tracked vs 30, 0.734 off)
    limb_contact_weight: float = 100.0   # weight of such a limb point's no-slide task
    min_normal_force_n: float = 0.0      # N, least normal force of a loaded foot
    force_weight: float = 1e-5           # regularisation of contact wrenches (1/N²)
    acceleration_weight: float = 1e-5    # regularisation of joint accelerations
    low_level_kp: float = 100.0          # 1/s², joint impedance between QP solves (× joint inertia)
    low_level_kd: float = 20.0           # 1/s


@dataclass(frozen=True)
class FallSettings:
    """When a rollout counts as fallen (PHC/H2O protocol)."""

    key_body_error_m: float = 0.5        # m, mean key-body position error that terminates
    pelvis_low_m: float = 0.3            # m, pelvis height below which the robot is down ...
    reference_pelvis_high_m: float = 0.5  # m, ... while the reference's pelvis is above this
    tracked_error_m: float = 0.25        # m, mean key-body error of a frame counted as tracked (GMT)


@dataclass(frozen=True)
class Settings:
    """Simulate stage settings."""

    mode: Literal["track", "none"] = "track"   # "none": the stage is off (clips pass through unsimulated)
    model: ModelSettings = field(default_factory=ModelSettings)
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    fall: FallSettings = field(default_factory=FallSettings)

    def __post_init__(self) -> None:
        if self.controller.control_every < 1:
            raise ValueError("controller.control_every must be >= 1")
        if not 1e-4 <= self.model.physics_dt_s <= 0.01:
            raise ValueError("model.physics_dt_s must be between 0.0001 and 0.01 s")
