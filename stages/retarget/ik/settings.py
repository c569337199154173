"""Settings of the differential IK and the targets of one frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SolverSettings:
    """IK settings.

    Attributes:
        iterations: full QP steps per frame (kinematics, Jacobians, constraint rows),
            warm-started from the previous frame.
        chord_steps: cheaper steps after each full one that re-evaluate the task errors
            but reuse its Jacobians, Hessian and constraint rows.
        chord_threshold: skip the chord steps when the last step moved no joint more than
            this (rad): the linearisation error is then negligible.
        damping: Tikhonov weight on |dq|^2 (cost / tangent unit^2).
        lm_damping: Levenberg-Marquardt damping: adds ``lm_damping * |weighted task error|^2``
            to the Tikhonov weight (pink's ``lm_damping``), which tames steps near singular
            (stretched) limbs and unreachable targets.
        acceleration_weight: pink LowAccelerationTask weight on the joints: cost per rad of
            change between this frame's and the previous frame's joint displacement
            (damps chatter of weakly constrained joints such as the wrists).
        config_limit_gain: pink ConfigurationLimit gain in (0, 1].
        velocity_limit_scale: multiplies the robot's joint velocity limits (rad/s).
        posture_scale: multiplies the robot's posture weights.
        first_frame_starts: starts for the first frame (the first is the robot's
            default posture, the others perturbed around it).
        first_frame_iterations: maximum pink steps per start.
        first_frame_tolerance: stop a start when |dq|_inf falls below this (rad or m).
        first_frame_good_cost: no further starts once a start reaches an IK objective below
            this (cost units; a near-exact fit is not a local minimum).
        start_noise: half-width (rad) of the uniform joint perturbation of extra starts.
        first_frame_penetration: a start whose deepest self-penetration (m) exceeds this loses to
            any start within it; when every pink start exceeds it, the default posture is also
            solved by the stacked solver itself (barrier and ground rows on) in steps of at most
            ``first_frame_max_step`` (pink has no collision rows: every start can converge into
            the same penetrating pose, which the barrier rows then only keep from growing).
        first_frame_max_step: largest |dq|_inf (rad or m) of one step of that collision-free
            start (the barrier rows are linearised; a larger step can carry a capsule through
            another).
        ground: add the ground rows (sole corners and low capsules stay at z >= 0).
        ground_activation: capsules lower than this (m) get a ground row.
        self_collision: add the self-collision rows.
        collision_activation: pairs closer than this (m) get a row.
        collision_margin: the rows keep capsule surfaces this far apart (m).
        max_collision_rows: at most this many (closest) pairs per step.
        collision_step: while a checked pair is closer than ``collision_step_distance``, no joint
            that moves either of its capsules turns more than this (rad) in one QP step (0: no
            bound): the barrier rows are linearised, and a large step (a limb task pulling an arm
            across the chest) could carry a capsule through another.
        collision_step_distance: surface distance (m) below which a pair bounds its joints' steps.
        seed: seed of the start perturbations.
        reseed_interval_s: every this many seconds (0: never) the tracked solution's IK
            objective is checked; when it is above ``reseed_min_cost`` and ``reseed_jump`` times
            the median of the earlier checks, the frame is also
            solved afresh from the default posture (``reseed_iterations`` steps) and, if that
            is better by the factor ``reseed_ratio``, the robot is drawn to the fresh solution
            over ``reseed_attract_s`` seconds (posture-like attraction of weight
            ``reseed_attract_weight``, within the velocity limits). This recovers from
            flipped-limb local minima after falls or ground contact. After a try that finds
            nothing better the next 1, 2, 4, then 8 high-cost checks are skipped. (Ratio 0.4,
            jump 2: at 0.3 and 3 the lying part of lafan1_extra ground2_subject2 kept its arms
            in a local minimum for 350 frames although fresh solutions fit 2.5-4 times better.)
        limb_direction_weight: weight (cost / m) of the limb tasks: for each limb (parent task
            frame -> child task frame, e.g. shoulder -> elbow) the vector between the two frames
            tracks the vector between their targets. Unlike the frames' absolute position tasks it
            does not depend on where the parent ended up, so a parent that cannot reach its target
            (a torso beyond the waist's range carries the shoulders away) does not tilt the limbs.
            5 (was 2; issue 12): the feet now held on the floor under lying and kneeling bodies pull
            the legs off the human's directions (ground2_subject2 limb error 6.9 deg at 2); at 5 the
            limb error is lower on every real clip and the locks slide less (slide / slide_ref on
            dance1 0.58 -> 0.54). At 6-8 the upright locks lost to the leg directions (dance1 0.80,
            multipleActions1 0.92 at 8; fallAndGetUp2 1.11 at 6 through IK reseeds).
        limb_stance_gain: factor on the thigh and shin limb tasks of a leg whose foot is locked in
            contact (blended with the lock): below 1 the landed foot position wins over the leg
            directions, which keeps stance feet from sliding.
        swing_clearance_max: largest clearance (m) of a swing foot's sole above the floor
            (0: no swing clearance; see :mod:`stages.retarget.ik.swing_clearance`).
        swing_clearance_per_speed: clearance (m) per m/s of the human's foot speed (scaled to the
            robot) above ``swing_speed_threshold`` (m/s).
        swing_speed_threshold: foot speed (m/s, scaled) below which a free foot gets no clearance.
            (0.08 m per m/s above 0.15 m/s: near-ground speed 14.8 -> 14.3 cm/s mean over the 21
            real clips against 0.05 above 0.25, lower on every LAFAN1 clip, slide unchanged.)
        swing_lock_share: share (0..1) of the contact-lock blend taken off a swing foot's clearance
            (the clearance is scaled by ``1 - swing_lock_share * lock``; the blend ramps over the first
            and last frames of a swing, where the foot leaves or reaches the floor).
        swing_low_body_share: share (0..1) of the clearance a swing foot keeps when the human kneels or lies
            (the clearance's upright factor ``u`` becomes ``share + (1 - share) u``; 0: none, the feet of a
            low body drag on the floor).
        swing_barrier_gain: fraction in (0, 1] of a swing foot's clearance or pitch deficit one QP
            step must recover (control-barrier gain).
        swing_max_step: a swing row asks for at most this much (m) of height (or front-back height
            difference) per QP step.
        swing_clearance_rows: hold the clearance with constraint rows (besides lifting the swing
            foot's target to it, which is always done).
        swing_anchor_lock: a swing foot's clearance is taken above the other foot while that foot's
            contact-lock blend is at least this (see :meth:`SwingBarrier.rows`); above 1 (the
            default) never: measured on the 21 real clips, clearance above the floor itself leaves
            the feet sliding less (slide / slide_ref mean 0.98 -> 0.89 with ``swing_pitch_rows``
            off) and the limb directions closer.
        swing_pitch_rows: limit a swing foot's pitch near the floor with constraint rows (off by
            default: on the same clips they cost slide and limb error and gain no near-ground
            speed; benchmarks/bench_feet.py).
        swing_pitch_max: largest pitch (rad) of a swing foot whose lowest sole corner is lower than
            its clearance plus ``swing_pitch_height`` (m).
    """

    iterations: int = 1
    chord_steps: int = 1
    chord_threshold: float = 0.02
    damping: float = 1e-4
    lm_damping: float = 0.0
    acceleration_weight: float = 0.05
    config_limit_gain: float = 0.5
    velocity_limit_scale: float = 1.0
    posture_scale: float = 1.0
    first_frame_starts: int = 4
    first_frame_iterations: int = 100
    first_frame_tolerance: float = 1e-5
    first_frame_good_cost: float = 0.002
    start_noise: float = 0.5
    first_frame_penetration: float = 0.002
    first_frame_max_step: float = 0.1
    ground: bool = True
    ground_activation: float = 0.03
    self_collision: bool = True
    collision_activation: float = 0.08
    collision_margin: float = 0.005
    max_collision_rows: int = 32
    collision_step: float = 0.1
    collision_step_distance: float = 0.03
    seed: int = 0
    reseed_interval_s: float = 0.5
    reseed_min_cost: float = 0.01
    reseed_ratio: float = 0.4
    reseed_jump: float = 2.0
    reseed_iterations: int = 15
    reseed_attract_s: float = 0.3
    reseed_attract_weight: float = 1.0
    limb_direction_weight: float = 5.0
    limb_stance_gain: float = 0.5
    swing_clearance_max: float = 0.04
    swing_clearance_per_speed: float = 0.08
    swing_speed_threshold: float = 0.15
    swing_lock_share: float = 0.0
    swing_low_body_share: float = 1.0
    swing_barrier_gain: float = 0.5
    swing_max_step: float = 0.01
    swing_clearance_rows: bool = True
    swing_anchor_lock: float = 2.0
    swing_pitch_rows: bool = False
    swing_pitch_max: float = 0.3
    swing_pitch_height: float = 0.05


@dataclass(frozen=True)
class FrameTargets:
    """Targets of one frame: pos (M, 3) m world, rot (M, 3, 3) world rotation matrices, weights
    pos_w (M,) and rot_w (M,) (cost / m and cost / rad), limb_w (L,) factors on the limb tasks'
    weight (None: 1), foot_clearance (2,) swing clearance (m) of the [left, right] sole
    (None: 0; see :mod:`stages.retarget.ik.swing_clearance`) and foot_anchored (2,) bool: the
    other foot is locked on the floor (None: neither)."""

    pos: np.ndarray
    rot: np.ndarray
    pos_w: np.ndarray
    rot_w: np.ndarray
    limb_w: np.ndarray | None = None
    foot_clearance: np.ndarray | None = None
    foot_anchored: np.ndarray | None = None
