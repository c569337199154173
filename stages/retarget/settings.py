"""Settings of the retarget stage (the manifest's ``stages.retarget`` section).

Nested sections (each a frozen dataclass documented in its own module):

* ``contacts`` (:class:`stages.retarget.contacts.ContactSettings`): human heel
  and toe contact thresholds with hysteresis (m, m/s, frames), rest heights.
* ``targets`` (:class:`stages.retarget.targets.TargetSettings`): ground shift
  smoothing (s), contact weight ramps (frames), foot weight factors, release
  fade, pelvis drift, pivot pitch, lying anchors, leg reach.
* ``solver`` (:class:`stages.retarget.ik.settings.SolverSettings`): IK iterations,
  damping, limit gains, first-frame starts, ground and self-collision rows.

Task weights per robot frame live in the robot config (``keypoint_tasks``,
``posture_weights``); these settings scale or complement them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stages.retarget.contacts import ContactSettings
from stages.retarget.ik.settings import SolverSettings
from stages.retarget.targets import TargetSettings


@dataclass(frozen=True)
class Settings:
    """Retargeting settings.

    Attributes:
        contacts: human foot contact detection.
        targets: IK target construction (ground, contact locks, weights).
        solver: the differential IK.
        metrics: compute the quality metrics of every clip (~3 % of the time; the batched FK pass
            for the key links and the target penetration run either way).
    """

    contacts: ContactSettings = field(default_factory=ContactSettings)
    targets: TargetSettings = field(default_factory=TargetSettings)
    solver: SolverSettings = field(default_factory=SolverSettings)
    metrics: bool = True
