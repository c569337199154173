"""Bad input: every case gives InputError with a reason code naming the file; fuzzing never crashes."""

from __future__ import annotations

import io
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InputError
from stages.ingest.api import ingest_file
from stages.ingest.bvh import parse_bvh


@cache
def small_bvh() -> str:
    """A 31-frame walking BVH (LAFAN1 names, cm, Y-up) from the demo writer."""
    import tempfile

    from stages.ingest import demo_clips
    from stages.ingest.demo_pose import solve_pose, to_local
    from stages.ingest.demo_writers import write_bvh

    G, pelvis = solve_pose(demo_clips.walk(1.0, 30.0))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.bvh"
        write_bvh(path, to_local(G), pelvis, 30.0)
        return path.read_text()


@cache
def small_npz() -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    poses = rng.normal(0, 0.1, size=(12, 72)).astype(np.float32)
    poses[:, 0] = 1.57
    np.savez(buffer, poses=poses, trans=np.tile([0.0, 0.0, 0.95], (12, 1)).astype(np.float32),
             betas=np.zeros(16), gender=np.array("neutral"), mocap_framerate=np.array(30))
    return buffer.getvalue()


def expect(path: Path, code: str, **kw) -> InputError:
    with pytest.raises(InputError) as err:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ingest_file(path, **kw)
    assert err.value.code == code, err.value
    assert err.value.path == str(path) and str(path) in str(err.value) and err.value.message
    return err.value


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# ------------------------------------------------------------------ BVH

def test_bvh_ok_baseline(tmp_path):
    m = ingest_file(write(tmp_path, "ok.bvh", small_bvh()))
    assert m.num_frames == 31


def test_bvh_crlf_same_as_lf(tmp_path):
    a = ingest_file(write(tmp_path, "lf.bvh", small_bvh()))
    b = ingest_file(write(tmp_path, "crlf.bvh", small_bvh().replace("\n", "\r\n")))
    assert np.array_equal(a.positions, b.positions)


def test_bvh_truncated_in_header(tmp_path):
    text = small_bvh()
    expect(write(tmp_path, "t.bvh", text[: text.index("MOTION") // 2]), "truncated")


def test_bvh_truncated_in_motion_keeps_full_frames(tmp_path):
    text = small_bvh()
    cut = text[: len(text) - 200]                  # the last line is cut mid-way
    with pytest.warns(UserWarning, match="incomplete"):
        m = ingest_file(write(tmp_path, "t.bvh", cut))
    assert m.num_frames == 30


def test_bvh_declared_frames_differ_uses_lines_present(tmp_path):
    text = small_bvh().replace("Frames: 31", "Frames: 40")
    with pytest.warns(UserWarning, match="declares 40 frames but 31"):
        m = ingest_file(write(tmp_path, "d.bvh", text))
    assert m.num_frames == 31


@pytest.mark.parametrize("bad,code", [("nan", "non_finite"), ("inf", "non_finite"), ("-Infinity", "non_finite"),
                                      ("abc", "corrupt_motion")])
def test_bvh_bad_values(tmp_path, bad, code):
    lines = small_bvh().splitlines()
    row = lines.index("Frame Time: 0.033333") + 5
    values = lines[row].split()
    values[7] = bad
    lines[row] = " ".join(values)
    err = expect(write(tmp_path, "v.bvh", "\n".join(lines)), code)
    assert "frame" in err.message or "value" in err.message


@pytest.mark.parametrize("frames", [0, 1])
def test_bvh_zero_or_one_frame(tmp_path, frames):
    lines = small_bvh().splitlines()
    start = lines.index("Frame Time: 0.033333") + 1
    text = "\n".join(lines[:start] + lines[start:start + frames]).replace("Frames: 31", f"Frames: {frames}")
    expect(write(tmp_path, f"f{frames}.bvh", text), "too_short")


def test_bvh_missing_or_zero_frame_time(tmp_path):
    expect(write(tmp_path, "z.bvh", small_bvh().replace("Frame Time: 0.033333", "Frame Time: 0")), "bad_fps")
    expect(write(tmp_path, "m.bvh", small_bvh().replace("Frame Time: 0.033333\n", "")), "corrupt_motion")


def test_bvh_wrong_value_count(tmp_path):
    lines = small_bvh().splitlines()
    row = lines.index("Frame Time: 0.033333") + 3
    lines[row] = lines[row] + " 1.0 2.0"
    err = expect(write(tmp_path, "c.bvh", "\n".join(lines)), "corrupt_motion")
    assert "3" in err.message and "channels" in err.message


def test_bvh_unknown_skeleton_names_missing_joints(tmp_path):
    text = small_bvh().replace("LeftToe", "LToeX").replace("Spine2", "Chest9")
    err = expect(write(tmp_path, "u.bvh", text), "unknown_skeleton")
    assert "LeftToe" in err.message and "Spine2" in err.message


def test_bvh_forced_wrong_format(tmp_path):
    err = expect(write(tmp_path, "w.bvh", small_bvh()), "unknown_skeleton", bvh_format="cmu")
    assert "LeftHip" in err.message or "LeftToeBase" in err.message
    expect(write(tmp_path, "x.bvh", small_bvh()), "bad_format", bvh_format="mixamo")


def test_bvh_garbage_and_empty(tmp_path):
    expect(write(tmp_path, "g.bvh", b"\x00\x01\x02garbage"), "not_text")
    expect(write(tmp_path, "h.bvh", "HELLO world"), "not_bvh")
    expect(write(tmp_path, "e.bvh", b""), "not_bvh")
    expect(write(tmp_path, "txt.dat", "hello"), "unknown_format")
    expect(tmp_path / "missing.bvh", "missing_file")


def test_bvh_rotation_order_is_honoured():
    """The same rotations written with X Y Z channel order give the same pose as Z Y X."""
    from scipy.spatial.transform import Rotation

    from stages.ingest.bvh import local_transforms

    text = small_bvh()
    zyx = parse_bvh(text)
    head, _, _ = text.partition("MOTION")
    header_xyz = head.replace("Zrotation Yrotation Xrotation", "Xrotation Yrotation Zrotation")
    motion = zyx.motion.copy()
    T = motion.shape[0]
    rot_cols = motion[:, 3:].reshape(T, -1, 3)
    q = Rotation.from_euler("ZYX", rot_cols.reshape(-1, 3), degrees=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # gimbal lock on the zero-rotation end sites is harmless
        xyz = q.as_euler("XYZ", degrees=True).reshape(T, -1, 3)
    motion[:, 3:] = xyz.reshape(T, -1)
    body = "\n".join(" ".join(f"{v:.9f}" for v in row) for row in motion)
    other = parse_bvh(f"{header_xyz}MOTION\nFrames: {T}\nFrame Time: 0.033333\n{body}\n")
    assert other.channels[1] == ("Xrotation", "Yrotation", "Zrotation")
    _, qa = local_transforms(zyx)
    _, qb = local_transforms(other)
    assert np.allclose(np.abs(np.sum(qa * qb, axis=-1)), 1.0, atol=1e-9)


# ------------------------------------------------------------------ AMASS npz

def save(tmp_path: Path, name: str, **arrays) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def base(**over):
    with np.load(io.BytesIO(small_npz()), allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(over)
    return arrays


def test_npz_ok_baseline(tmp_path):
    m = ingest_file(write(tmp_path, "ok.npz", small_npz()))
    assert m.num_frames == 12 and m.provenance["fk"] == "mean_shape_skeleton"


def test_npz_truncated_and_corrupted(tmp_path):
    data = small_npz()
    expect(write(tmp_path, "t.npz", data[: len(data) // 2]), "unreadable")
    flipped = bytearray(data)
    flipped[len(data) // 3: len(data) // 3 + 64] = bytes(64)
    expect(write(tmp_path, "c.npz", bytes(flipped)), "unreadable")
    expect(write(tmp_path, "n.npz", "not a zip"), "unreadable")


def test_npz_nan_inf(tmp_path):
    poses = base()["poses"].copy()
    poses[3, 5] = np.nan
    expect(save(tmp_path, "nan.npz", **base(poses=poses)), "non_finite")
    trans = base()["trans"].copy()
    trans[0, 2] = np.inf
    expect(save(tmp_path, "inf.npz", **base(trans=trans)), "non_finite")


@pytest.mark.parametrize("frames", [0, 1])
def test_npz_zero_or_one_frame(tmp_path, frames):
    b = base()
    expect(save(tmp_path, f"f{frames}.npz", **base(poses=b["poses"][:frames], trans=b["trans"][:frames])),
           "too_short")


def test_npz_wrong_shapes(tmp_path):
    b = base()
    expect(save(tmp_path, "w.npz", **base(poses=np.zeros((12, 70)))), "bad_shape")
    expect(save(tmp_path, "w3.npz", **base(poses=np.zeros((12, 24, 3)))), "bad_shape")
    expect(save(tmp_path, "t.npz", **base(trans=b["trans"][:5])), "bad_shape")
    expect(save(tmp_path, "s.npz", **base(poses=np.array(["a"] * 72).reshape(1, 72))), "bad_shape")


def test_npz_missing_fps(tmp_path):
    arrays = base()
    del arrays["mocap_framerate"]
    err = expect(save(tmp_path, "nofps.npz", **arrays), "bad_fps")
    assert "mocap_framerate" in err.message
    expect(save(tmp_path, "zero.npz", **base(mocap_framerate=np.array(0.0))), "bad_fps")


@pytest.mark.parametrize("fps", [0.004, 1e-187, 1e7])
def test_npz_implausible_fps(tmp_path, fps):
    expect(save(tmp_path, "f.npz", **base(mocap_framerate=np.array(fps))), "implausible_fps")


def test_npz_new_fps_key_accepted(tmp_path):
    arrays = base()
    del arrays["mocap_framerate"]
    arrays["mocap_frame_rate"] = np.array(60.0)
    m = ingest_file(save(tmp_path, "new.npz", **arrays), fps=30.0)
    assert m.num_frames == 6 and m.provenance["source_fps"] == "60"


def test_npz_pickled_objects_never_loaded(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, poses=np.array([{"x": 1}], dtype=object), trans=np.zeros((2, 3)), mocap_framerate=np.array(30))
    expect(path, "pickled_object")


def test_npz_not_a_motion(tmp_path):
    expect(save(tmp_path, "subject_stagei.npz", betas=np.zeros(16), gender=np.array("male")), "not_a_motion")
    expect(save(tmp_path, "shape.npz", betas=np.zeros(16)), "not_a_motion")
    expect(save(tmp_path, "other.npz", foo=np.zeros(3)), "not_amass")


def test_npz_huge_declared_shape_is_rejected_without_allocating(tmp_path):
    data = bytearray(small_npz())
    # rewrite the declared shape of 'poses' (12, 72) to something enormous, same header length
    at = data.index(b"(12, 72)")
    data[at:at + 8] = b"(9999999"[:8]
    path = write(tmp_path, "huge.npz", bytes(data).replace(b"(9999999", b"(999999,", 1))
    with pytest.raises(InputError) as err:
        ingest_file(path)
    assert err.value.code == "unreadable"


# ------------------------------------------------------------------ fuzzing

FUZZ = settings(max_examples=60, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check_outcome(path: Path) -> None:
    """Either a sound motion or the project's own error with a message; nothing else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = ingest_file(path)
    except InputError as exc:
        assert exc.code and exc.message and exc.path == str(path)
        return
    assert m.num_frames >= 2
    assert np.all(np.isfinite(m.positions)) and np.all(np.isfinite(m.rotations))
    assert np.isfinite(m.floor_height) and np.isfinite(m.standing_height)


@FUZZ
@given(data=st.data())
def test_fuzz_bvh_text(tmp_path, data):
    text = small_bvh()
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["delete", "insert", "replace_token", "duplicate_line", "truncate"]))
        n = len(text)
        if n == 0:
            break
        if op == "delete":
            a = data.draw(st.integers(0, n - 1))
            text = text[:a] + text[a + data.draw(st.integers(1, 400)):]
        elif op == "insert":
            a = data.draw(st.integers(0, n))
            text = text[:a] + data.draw(st.text(max_size=20)) + text[a:]
        elif op == "replace_token":
            tokens = text.split(" ")
            k = data.draw(st.integers(0, len(tokens) - 1))
            tokens[k] = data.draw(st.sampled_from(["nan", "1e400", "-", "{", "}", "JOINT", "End", "CHANNELS",
                                                   "Xrotation", "OFFSET", "0", "1e30", "", "MOTION", "Frames:"]))
            text = " ".join(tokens)
        elif op == "duplicate_line":
            lines = text.split("\n")
            k = data.draw(st.integers(0, len(lines) - 1))
            lines.insert(k, lines[k])
            text = "\n".join(lines)
        else:
            text = text[: data.draw(st.integers(0, n))]
    path = tmp_path / "fuzz.bvh"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if False else path.write_bytes(
        text.encode("utf-8", errors="replace"))
    check_outcome(path)


@FUZZ
@given(data=st.data())
def test_fuzz_npz_bytes(tmp_path, data):
    raw = bytearray(small_npz())
    for _ in range(data.draw(st.integers(1, 6))):
        k = data.draw(st.integers(0, len(raw) - 1))
        raw[k] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(raw))
    check_outcome(path)


@FUZZ
@given(data=st.data())
def test_fuzz_npz_arrays(tmp_path, data):
    arrays = base()
    key = data.draw(st.sampled_from(["poses", "trans", "betas", "gender", "mocap_framerate"]))
    choice = data.draw(st.sampled_from(["drop", "scalar", "shape", "dtype", "values"]))
    if choice == "drop":
        del arrays[key]
    elif choice == "scalar":
        arrays[key] = np.array(data.draw(st.floats(allow_nan=True, allow_infinity=True)))
    elif choice == "shape":
        shape = tuple(data.draw(st.lists(st.integers(0, 80), min_size=0, max_size=3)))
        arrays[key] = np.zeros(shape)
    elif choice == "dtype":
        dtype = data.draw(st.sampled_from(["U3", "bool", "int8", "complex64"]))
        old = np.asarray(arrays[key])
        arrays[key] = old.astype(dtype) if old.dtype.kind in "fiub" else np.zeros(old.shape, dtype=dtype)
    else:
        v = np.array(arrays[key], dtype=np.float64, copy=True) if np.asarray(arrays[key]).dtype.kind in "fiu" \
            else np.zeros(3)
        flat = v.reshape(-1)
        if flat.size:
            flat[data.draw(st.integers(0, flat.size - 1))] = data.draw(st.floats(allow_nan=True, allow_infinity=True))
        arrays[key] = v
    path = tmp_path / "fuzz_poses.npz"
    np.savez(path, **arrays)
    check_outcome(path)
