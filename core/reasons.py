"""Every reason code the pipeline can give, with its meaning: one registry.

A reason code names why a clip was rejected or trimmed, or why a file was
refused: :class:`core.errors.InputError` codes, the filter's check codes, the
dataset writer's skip codes and ``verify``'s problem codes. Codes are
snake_case and mean the same wherever they appear (``too_short`` is a clip
too short to ingest, to retarget, to keep after the filter's minimum duration
or to write as a dataset segment).

Kinds:

- ``input``: a file is missing, corrupt, unsupported or inconsistent (the clip
  or file is refused with an :class:`~core.errors.InputError`);
- ``hard``: a filter check on kinematics and contacts (limits, speeds, the
  floor, self-collision): the motion is impossible for the robot as it stands;
- ``dynamic``: a filter check on the rigid-body dynamics (ZMP, flight momentum,
  torques);
- ``simulated``: a judgement of the simulate stage (the robot tracking the
  motion in MuJoCo with a whole-body controller);
- ``dataset``: a clip the dataset writer leaves out, or a problem ``verify``
  finds in a written dataset;
- ``pipeline``: the run itself (an unexpected exception: ``exception:<Type>``).

Adding a code is one line in ``_REGISTRY`` (``tests/test_reasons.py`` fails
for any code the code base emits that is not here, and for a registered code
nothing emits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["input", "hard", "dynamic", "simulated", "dataset", "pipeline"]
KINDS: tuple[Kind, ...] = ("input", "hard", "dynamic", "simulated", "dataset", "pipeline")


@dataclass(frozen=True)
class ReasonCode:
    """One reason code: its name, kind (see the module docstring) and meaning in words."""

    code: str
    kind: Kind
    meaning: str


_REGISTRY: tuple[ReasonCode, ...] = (
    # -- input: files ---------------------------------------------------------------------------------
    ReasonCode("missing_file", "input", "the file does not exist"),
    ReasonCode("unreadable", "input", "the file cannot be read or parsed (I/O error, not an archive, bad metadata)"),
    ReasonCode("truncated", "input", "the file ends early (incomplete write or download)"),
    ReasonCode("empty", "input", "the file holds no data (no rows, no triangles)"),
    ReasonCode("pickled_object", "input", "the archive holds pickled Python objects, which are never loaded"),
    ReasonCode("unknown_format", "input", "neither a BVH file nor an .npz archive"),
    ReasonCode("not_npz", "input", "the file is of another kind (e.g. HDF5, text), not an .npz archive"),
    ReasonCode("wrong_schema", "input", "the file is not of the kind or schema version expected"),
    ReasonCode("missing_array", "input", "a required array is absent from the file"),
    ReasonCode("bad_shape", "input", "an array has the wrong shape or a non-numeric type"),
    ReasonCode("non_finite", "hard", "NaN or inf in the data (input file, trajectory or dataset rows)"),
    ReasonCode("bad_quaternion", "input", "a rotation quaternion has (near) zero or non-unit norm"),
    ReasonCode("bad_fps", "input", "the frame rate is missing, not a number or not positive"),
    ReasonCode("implausible_fps", "input", "the source frame rate is outside the plausible range"),
    ReasonCode("bad_option", "input", "an option given to a tool is not one it knows"),
    # -- input: motion sources --------------------------------------------------------------------------
    ReasonCode("not_bvh", "input", "the file does not start with HIERARCHY (not a BVH file)"),
    ReasonCode("not_text", "input", "a BVH file with binary content"),
    ReasonCode("corrupt_header", "input", "the BVH HIERARCHY section is malformed"),
    ReasonCode("corrupt_motion", "input", "the BVH MOTION section is malformed"),
    ReasonCode("unsupported_bvh", "input", "a BVH feature the reader does not support (e.g. several ROOTs)"),
    ReasonCode("bad_format", "input", "an unknown bvh_format was asked for"),
    ReasonCode("unknown_skeleton", "input", "the BVH skeleton matches no known skeleton map"),
    ReasonCode("not_amass", "input", "an .npz without AMASS pose arrays"),
    ReasonCode("not_a_motion", "input", "an AMASS body-shape file (betas and gender only), not a motion"),
    ReasonCode("bad_model_type", "input", "an unknown SMPL-family surface_model_type"),
    ReasonCode("model_mismatch", "input", "the model does not fit the data (AMASS surface_model_type vs pose width; adapter of another robot)"),
    ReasonCode("missing_body_model", "input", "the body-model folder or the model file a clip needs is missing"),
    ReasonCode("bad_body_model", "input", "a body-model file is not a valid SMPL-family model"),
    ReasonCode("too_short", "hard", "fewer frames or seconds than the minimum (to ingest, retarget, keep or write)"),
    ReasonCode("too_long", "input", "longer than the ingest max_duration"),
    ReasonCode("salvaged_input", "input", "a damaged file ingest could salvage, refused under strict input checking"),
    ReasonCode("degenerate_skeleton", "input", "a human skeleton segment has (near) zero length"),
    # -- input: robot descriptions and trajectories -----------------------------------------------------
    ReasonCode("bad_urdf", "input", "the URDF cannot be parsed"),
    ReasonCode("missing_mesh", "input", "a mesh the URDF names is not found"),
    ReasonCode("bad_stl", "input", "an STL mesh file is malformed"),
    ReasonCode("bad_csv", "input", "a trajectory CSV is not rows of comma-separated numbers"),
    ReasonCode("wrong_columns", "input", "a trajectory CSV has the wrong number of columns for the robot"),
    ReasonCode("robot_mismatch", "input", "the motion is for another robot, or its joint/link names differ"),
    ReasonCode("dof_mismatch", "input", "the motion lacks joints the robot or the export format needs"),
    ReasonCode("frame_mismatch", "input", "two motions of one clip have different frame counts"),
    # -- filter: hard (kinematics and contacts) --------------------------------------------------------
    ReasonCode("joint_position_limit", "hard", "a joint beyond its position limit"),
    ReasonCode("joint_velocity", "hard", "a joint faster than its velocity limit allows"),
    ReasonCode("root_linear_speed", "hard", "the root moves faster than plausible"),
    ReasonCode("root_angular_speed", "hard", "the root turns faster than plausible"),
    ReasonCode("root_vertical_jump", "hard", "the root height changes faster than plausible (a teleport, a glitch)"),
    ReasonCode("non_foot_ground_contact", "hard", "a body part other than the feet touches the floor"),
    ReasonCode("floating", "hard", "nothing touches the floor for longer than a ballistic flight allows"),
    ReasonCode("ground_penetration", "hard", "a body part deeper below the floor than allowed"),
    ReasonCode("self_collision", "hard", "non-adjacent body parts interpenetrate"),
    ReasonCode("ik_infeasible", "hard", "the retarget IK step was infeasible with its floor and collision rows (limits only, or no step)"),
    ReasonCode("no_feasible_segment", "hard", "no segment of the clip passes every check"),
    # -- filter: dynamic ----------------------------------------------------------------------------------
    ReasonCode("flight_momentum", "dynamic", "in flight, the momentum rate differs from gravity's (needs forces from nothing)"),
    ReasonCode("zmp_outside_support", "dynamic", "the zero-moment point leaves the support polygon"),
    ReasonCode("joint_torque", "dynamic", "a joint torque (inverse dynamics with contact forces) beyond its effort limit"),
    ReasonCode("sim_fall", "simulated", "in simulation the whole-body controller lost the motion (a fall) until the reset"),
    # -- adapt: the adapter model ---------------------------------------------------------------------
    ReasonCode("missing_model", "input", "no adapter model (checkpoint) at the given path"),
    ReasonCode("bad_checkpoint", "input", "a model file that cannot be read or is not an adapter checkpoint"),
    ReasonCode("bad_model", "input", "the model's meta.json is not a valid adapter description"),
    ReasonCode("fps_mismatch", "input", "the clip's frame rate differs from the one the model was trained at"),
    ReasonCode("no_training_data", "input", "no clip has a retarget to train the adapter on"),
    ReasonCode("no_robot_data", "input", "too few physically plausible (robot-side) frames to train the adapter"),
    # -- dataset: writer and verify ---------------------------------------------------------------------
    ReasonCode("verdict_reject", "dataset", "left out: the filter rejected the clip"),
    ReasonCode("verdict_missing", "dataset", "left out: the clip has no filter verdict"),
    ReasonCode("variant_missing", "dataset", "the dataset does not store the motion variant asked for"),
    ReasonCode("not_a_dataset", "dataset", "no dataset manifest (not a dataset, or its writing did not finish)"),
    ReasonCode("corrupt_manifest", "dataset", "the dataset manifest is not valid JSON or has a bad layout"),
    ReasonCode("corrupt_table", "dataset", "the clip table or index is unreadable or disagrees with itself"),
    ReasonCode("corrupt_index", "dataset", "an index row range lies outside its shard"),
    ReasonCode("corrupt_shard", "dataset", "a shard is not a readable HDF5 file or lacks its frames"),
    ReasonCode("missing_shard", "dataset", "a shard the manifest lists is missing"),
    ReasonCode("size_mismatch", "dataset", "a file's size differs from the manifest's (and it is not shorter)"),
    ReasonCode("checksum_mismatch", "dataset", "a file's sha256 differs from the manifest's"),
    ReasonCode("totals_mismatch", "dataset", "the manifest's totals disagree with the tables"),
    ReasonCode("index_mismatch", "dataset", "a shard's clip index or row count disagrees with the clip table"),
    ReasonCode("index_gap", "dataset", "rows of a shard no clip covers"),
    ReasonCode("index_overlap", "dataset", "rows of a shard two clips claim"),
    ReasonCode("bad_index", "dataset", "a clip entry with a bad index, shard or row range"),
    ReasonCode("bad_split", "dataset", "a clip with an unknown split name"),
    ReasonCode("split_leak", "dataset", "one source clip in more than one split"),
    ReasonCode("split_mismatch", "dataset", "a window's split differs from its clip's"),
    ReasonCode("bad_difficulty", "dataset", "a window difficulty outside [1, 10] or not finite"),
    # -- pipeline -------------------------------------------------------------------------------------------
    ReasonCode("exception", "pipeline", "an unexpected exception (a bug or an unforeseen input); "
                                        "the code is exception:<type>"),
)

#: code -> :class:`ReasonCode`
REASONS: dict[str, ReasonCode] = {r.code: r for r in _REGISTRY}


def reason(code: str) -> ReasonCode:
    """The registered entry of ``code`` (``exception:ValueError`` -> ``exception``).

    Raises:
        KeyError: an unregistered code.
    """
    return REASONS[code.split(":", 1)[0]]


def meaning(code: str) -> str:
    """The meaning of ``code`` in words; an unregistered code says so rather than failing."""
    try:
        return reason(code).meaning
    except KeyError:
        return "unregistered reason code"


def codes_of_kind(kind: Kind) -> tuple[str, ...]:
    """Registered codes of one kind, in registry order."""
    return tuple(r.code for r in _REGISTRY if r.kind == kind)


def _check_registry() -> None:
    codes = [r.code for r in _REGISTRY]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise ValueError(f"reason codes registered twice: {duplicates}")
    for r in _REGISTRY:
        if r.kind not in KINDS or not r.code.isidentifier() or r.code != r.code.lower() or not r.meaning:
            raise ValueError(f"bad reason code entry {r}")


_check_registry()
