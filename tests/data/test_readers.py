import ase.db
import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from ridgeline.data import Frame, KeyMap, iter_frames, read_frames, validate_frame
from ridgeline.errors import ConfigError, DataError


def labelled_cu(n=3, seed=0, stress=True):
    """Rattled Cu cells with REF_ labels from EMT, stored in info/arrays (no calculator attached)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        a.calc = EMT()
        e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        a.calc = None
        a.info["REF_energy"] = e
        a.arrays["REF_forces"] = f
        if stress:
            a.info["REF_stress"] = s  # 6 Voigt components, ASE order
        a.info["config_type"] = "bulk" if k % 2 == 0 else "rattled"
        out.append(a)
    return out


def write_xyz(path, images):
    ase.io.write(path, images, format="extxyz")
    return path


def test_extxyz_round_trip(tmp_path):
    images = labelled_cu(3)
    path = write_xyz(tmp_path / "Cu_train.xyz", images)
    frames = read_frames(path)
    assert len(frames) == 3
    for k, (f, a) in enumerate(zip(frames, images)):
        assert f.source == f"{path}:{k}"
        np.testing.assert_array_equal(f.numbers, a.numbers)
        np.testing.assert_allclose(f.positions, a.positions, atol=1e-7)
        np.testing.assert_allclose(f.cell, a.cell.array)
        assert f.pbc.tolist() == [True, True, True]
        assert f.energy == pytest.approx(a.info["REF_energy"], abs=1e-7)
        np.testing.assert_allclose(f.forces, a.arrays["REF_forces"], atol=1e-7)
        xx, yy, zz, yz, xz, xy = a.info["REF_stress"]
        np.testing.assert_allclose(f.stress, [[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]], atol=1e-9)
        assert f.config_type == a.info["config_type"]
    # streaming version gives the same, and index selection keeps the file's frame numbers
    assert [f.source for f in iter_frames(path, index="1:")] == [f"{path}:1", f"{path}:2"]
    assert [f.source for f in iter_frames(path, index=-1)] == [f"{path}:2"]


def test_stress_3x3_and_optional_labels_stay_none(tmp_path):
    images = labelled_cu(2, stress=False)
    images[0].info["REF_stress"] = np.arange(9.0).reshape(3, 3)
    del images[1].info["REF_energy"]
    path = write_xyz(tmp_path / "mixed.xyz", images)
    f0, f1 = read_frames(path, require=("forces",))
    np.testing.assert_allclose(f0.stress, np.arange(9.0).reshape(3, 3))
    assert f1.stress is None and f1.energy is None
    assert f1.forces is not None
    f = read_frames(path, require=(), key_map={"forces": "nope"})[0]
    assert f.forces is None  # absent and not required: None, never zeros


def test_misspelt_energy_key_suggests(tmp_path):
    path = write_xyz(tmp_path / "Si_train.xyz", labelled_cu(2))
    with pytest.raises(DataError) as e:
        read_frames(path, key_map=KeyMap(energy="REF_enrgy"))
    msg = str(e.value)
    assert "Si_train.xyz frame 0" in msg
    assert "missing energy key 'REF_enrgy'" in msg
    assert "did you mean 'REF_energy'" in msg
    assert "config_type" in msg  # lists the keys the frame has


def test_missing_key_in_a_later_frame_names_that_frame(tmp_path):
    images = labelled_cu(3)
    del images[2].arrays["REF_forces"]
    path = write_xyz(tmp_path / "late.xyz", images)
    with pytest.raises(DataError, match=r"late\.xyz frame 2: missing forces key 'REF_forces'"):
        read_frames(path)


def test_plain_names_use_ase_calculator_only_when_asked(tmp_path):
    images = labelled_cu(2)
    for a in images:  # ASE moves info['energy'] / arrays['forces'] into a SinglePointCalculator
        a.info["energy"] = a.info.pop("REF_energy")
        a.arrays["forces"] = a.arrays.pop("REF_forces")
    path = write_xyz(tmp_path / "plain.xyz", images)
    frames = read_frames(path, key_map={"energy": "energy", "forces": "forces"})
    assert frames[1].energy == pytest.approx(images[1].info["energy"], abs=1e-7)
    np.testing.assert_allclose(frames[1].forces, images[1].arrays["forces"], atol=1e-7)
    with pytest.raises(DataError, match="did you mean 'energy'"):
        read_frames(path)  # default REF_energy is not silently replaced by the calculator's energy


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("forces_shape", r"forces have shape \(8, 2\), expected \(8, 3\)"),
        ("nan_forces", r"forces contain NaN or inf \(atom 3\)"),
        ("too_close", r"atoms 0 and 5 are 0\.1000 Å apart"),
        ("flat_cell", r"degenerate \(zero-volume\) periodic cell"),
        ("unknown_element", r"unknown element\(s\) Au; known elements: Cu"),
    ],
)
def test_bad_frame_messages(tmp_path, case, pattern):
    images = labelled_cu(3)
    bad = images[1]
    if case == "forces_shape":
        bad.arrays["REF_forces"] = bad.arrays["REF_forces"][:, :2].copy()
    elif case == "nan_forces":
        bad.arrays["REF_forces"][3, 1] = np.nan
    elif case == "too_close":
        bad.positions[5] = bad.positions[0] + [0.1, 0, 0]
    elif case == "flat_cell":
        c = bad.cell.array.copy()
        c[2] = c[0] + c[1]
        bad.set_cell(c)
    elif case == "unknown_element":
        bad.numbers[2] = 79
    path = write_xyz(tmp_path / f"{case}.xyz", images)
    with pytest.raises(DataError, match=pattern) as e:
        read_frames(path, elements=[29])
    assert str(e.value).startswith(f"{path}:1: ")  # file and frame index


def test_self_image_too_close():
    f = Frame(numbers=np.array([29]), positions=np.zeros((1, 3)), cell=np.diag([0.4, 3, 3]), pbc=np.array([True] * 3),
              source="tiny.xyz:7")
    with pytest.raises(DataError, match=r"tiny\.xyz:7: atom 0 and its own periodic image are 0\.4000 Å apart"):
        validate_frame(f)


def test_cell_checks_for_partial_periodicity():
    base = dict(numbers=np.array([29, 29]), positions=np.array([[0.0, 0, 0], [2.0, 0, 0]]), source="s.xyz:0")
    # slab: c is zero but not periodic -> fine; a zero periodic vector or parallel a, b -> error
    validate_frame(Frame(cell=np.diag([4.0, 4.0, 0.0]), pbc=np.array([True, True, False]), **base))
    with pytest.raises(DataError, match="zero-length periodic lattice vector b"):
        validate_frame(Frame(cell=np.diag([4.0, 0.0, 0.0]), pbc=np.array([True, True, False]), **base))
    with pytest.raises(DataError, match="a and b are parallel"):
        validate_frame(Frame(cell=np.array([[4.0, 0, 0], [8.0, 0, 0], [0, 0, 0]]), pbc=np.array([True, True, False]), **base))
    # a molecule with no cell at all is fine
    validate_frame(Frame(cell=np.zeros((3, 3)), pbc=np.zeros(3, bool), **base))
    with pytest.raises(DataError, match="empty frame"):
        validate_frame(Frame(numbers=np.zeros(0, np.int64), positions=np.zeros((0, 3)), cell=np.eye(3), pbc=np.ones(3, bool), source="s.xyz:0"))
    with pytest.raises(DataError, match=r"atom 1 has atomic number 0"):
        validate_frame(Frame(cell=np.zeros((3, 3)), pbc=np.zeros(3, bool), **{**base, "numbers": np.array([1, 0])}))
    with pytest.raises(DataError, match="energy is nan"):
        validate_frame(Frame(cell=np.zeros((3, 3)), pbc=np.zeros(3, bool), energy=float("nan"), **base))


def test_nonexistent_empty_and_garbage_files(tmp_path):
    with pytest.raises(DataError, match="nothere.xyz: no such file"):
        read_frames(tmp_path / "nothere.xyz")
    with pytest.raises(DataError, match="no such file"):
        iter_frames(tmp_path / "nothere.xyz")  # checked at call time, not at the first frame
    (tmp_path / "empty.xyz").write_text("")
    with pytest.raises(DataError, match="empty.xyz: file is empty"):
        read_frames(tmp_path / "empty.xyz")
    (tmp_path / "garbage.xyz").write_text("hello world\nthis is not xyz\n")
    with pytest.raises(DataError, match=r"garbage\.xyz: cannot read frame 0: .*Expected xyz header"):
        read_frames(tmp_path / "garbage.xyz")
    (tmp_path / "noise").write_bytes(b"\x00\x01\x02 zzz")
    with pytest.raises(DataError, match="noise: cannot read frame 0"):
        read_frames(tmp_path / "noise")
    (tmp_path / "bad.db").write_bytes(b"not a sqlite file at all" * 10)
    with pytest.raises(DataError, match=r"bad\.db"):
        read_frames(tmp_path / "bad.db")


def test_truncated_second_frame_names_it(tmp_path):
    path = write_xyz(tmp_path / "trunc.xyz", labelled_cu(2))
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-3]))  # the second frame lost its last atoms
    with pytest.raises(DataError, match=r"trunc\.xyz: cannot read frame 1"):
        read_frames(path)


def test_db_round_trip(tmp_path):
    images = labelled_cu(3)
    path = tmp_path / "Cu.db"
    with ase.db.connect(path) as db:
        for a in images:
            b = a.copy()
            b.info.clear()
            del b.arrays["REF_forces"]
            db.write(b, REF_energy=a.info["REF_energy"], config_type=a.info["config_type"],
                     data={"REF_forces": a.arrays["REF_forces"], "REF_stress": a.info["REF_stress"]})
    frames = read_frames(path)
    assert len(frames) == 3
    for k, (f, a) in enumerate(zip(frames, images)):
        assert f.source == f"{path}:{k}"
        np.testing.assert_allclose(f.positions, a.positions)
        assert f.energy == pytest.approx(a.info["REF_energy"])
        np.testing.assert_allclose(f.forces, a.arrays["REF_forces"])
        assert f.stress.shape == (3, 3) and f.stress[0, 0] == pytest.approx(a.info["REF_stress"][0])
        assert f.config_type == a.info["config_type"]
    assert [f.source for f in read_frames(path, index="::2")] == [f"{path}:0", f"{path}:2"]
    with pytest.raises(DataError, match=r"Cu\.db frame 0: missing forces key 'REF_frces'.*did you mean 'REF_forces'"):
        read_frames(path, key_map={"forces": "REF_frces"})


def test_db_calculator_results_with_plain_names(tmp_path):
    a = labelled_cu(1)[0]
    a.calc = EMT()
    e = a.get_potential_energy()
    path = tmp_path / "calc.db"
    with ase.db.connect(path) as db:
        db.write(a)
    (f,) = read_frames(path, key_map={"energy": "energy", "forces": "forces", "stress": "stress"})
    assert f.energy == pytest.approx(e)
    assert f.forces.shape == (8, 3) and f.stress.shape == (3, 3)
    with pytest.raises(DataError, match="missing energy key 'REF_energy'"):
        read_frames(path)


def test_config_errors():
    with pytest.raises(ConfigError, match="valid keys: energy, forces, stress, config_type"):
        KeyMap.from_dict({"enrgy": "E"})
    assert KeyMap.from_dict({"energy": "E"}).energy == "E"
    with pytest.raises(ConfigError, match="unknown required quantity"):
        read_frames("whatever.xyz", require=("energies",))
