from pathlib import Path

import numpy as np
import pytest

from mc.data.calibration import make_calibration_set
from mc.data.mnist1d import _cache_path, _generation_args, load_mnist1d
from mc.data.samples import load_samples
from mc.errors import InputError

REPO = Path(__file__).resolve().parent.parent
SHIPPED_CALIBRATION = REPO / "calibration_data" / "mnist1d-train-512.npz"


def test_mnist1d_has_the_published_split_and_is_deterministic():
    data = load_mnist1d()
    assert data.train.x.shape == (4000, 1, 40) and data.test.x.shape == (1000, 1, 40)
    assert data.train.x.dtype == np.float32 and data.train.y.dtype == np.int64
    assert set(np.unique(data.test.y)) == set(range(10))
    cache = _cache_path(_generation_args())
    assert cache.exists()
    assert load_mnist1d().sha256 == data.sha256  # the cached copy is the same data


def test_corrupt_cache_is_regenerated():
    reference = load_mnist1d().sha256
    cache = _cache_path(_generation_args())
    cache.write_bytes(b"not an npz")
    assert load_mnist1d().sha256 == reference


def test_validation_split_is_stratified_and_disjoint():
    train, val = load_mnist1d().train_validation_split(0.1, seed=3)
    assert len(train) + len(val) == 4000 and abs(len(val) - 400) <= 5  # per-class rounding
    rows = {row.tobytes() for row in np.concatenate([train.x, val.x])}
    assert len(rows) == 4000  # disjoint: every training sequence lands in exactly one split
    assert np.bincount(val.y, minlength=10).min() >= 35


def test_shipped_calibration_set_is_what_its_readme_says():
    with np.load(SHIPPED_CALIBRATION) as shipped:
        x, y = make_calibration_set(512, seed=0)
        np.testing.assert_array_equal(shipped["x"], x)
        np.testing.assert_array_equal(shipped["y"], y)
    assert np.bincount(y).min() >= 51


def test_samples_load_from_npz_npy_and_folder(tmp_path):
    x = np.random.default_rng(0).standard_normal((6, 1, 40)).astype(np.float32)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(6))
    np.save(tmp_path / "b.npy", x)
    folder = tmp_path / "folder"
    folder.mkdir()
    for index, sample in enumerate(x):
        np.save(folder / f"{index:03d}.npy", sample)
    for path in (tmp_path / "a.npz", tmp_path / "b.npy", folder):
        loaded = load_samples(path, (1, 40))
        np.testing.assert_array_equal(loaded.x, x)
    assert load_samples(tmp_path / "a.npz", (1, 40)).y.tolist() == list(range(6))


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((8, 40), np.float32), "add the channel axis"),
        (np.zeros((8, 1, 39), np.float32), "the model expects (N, 1, 40)"),
        (np.zeros((8, 1, 40), np.int32), "floating-point"),
        (np.full((8, 1, 40), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_samples_are_rejected_with_the_fix(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_samples(tmp_path / "bad.npy", (1, 40))


def test_missing_unreadable_and_too_few_samples(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_samples(tmp_path / "nope.npz", (1, 40))
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot be read"):
        load_samples(tmp_path / "junk.npy", (1, 40))
    np.save(tmp_path / "two.npy", np.zeros((2, 1, 40), np.float32))
    with pytest.raises(InputError, match="at least 100"):
        load_samples(tmp_path / "two.npy", (1, 40), min_samples=100)


def test_fresh_samples_come_from_the_same_generator_under_another_seed():
    from mc.data.mnist1d import fresh_samples

    test = load_mnist1d().test
    fresh = fresh_samples(count=301, seed=7)
    again = fresh_samples(count=301, seed=7)
    assert len(fresh) == 301 and fresh.x.shape[1:] == test.x.shape[1:] and fresh.x.dtype == test.x.dtype
    assert np.array_equal(fresh.x, again.x) and np.array_equal(fresh.y, again.y)  # deterministic
    assert not any(np.array_equal(row, test.x[0]) for row in fresh.x)  # not the test set's samples
    assert set(np.unique(fresh.y)) == set(range(10))
    with pytest.raises(ValueError, match="generates the built-in"):
        fresh_samples(seed=_generation_args()["seed"])
