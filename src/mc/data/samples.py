"""Sample files a user hands to mc (calibration or evaluation data): .npz, .npy or a folder of .npy.

Every loader checks the samples against the model's input shape, so a wrong file fails here with
the fix, not deep inside a quantizer.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mc.errors import InputError

_INPUT_KEYS = ("x", "input", "inputs", "data")
_LABEL_KEYS = ("y", "labels", "label", "targets")


@dataclass(frozen=True)
class SampleSet:
    x: np.ndarray  # (N, *input_shape) float32
    y: np.ndarray | None  # (N,) int64 when the file carries labels
    source: Path


def _pick(archive: np.lib.npyio.NpzFile, keys: tuple[str, ...]) -> str | None:
    return next((key for key in keys if key in archive.files), None)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with np.load(path, allow_pickle=False) as archive:
        x_key = _pick(archive, _INPUT_KEYS) or (archive.files[0] if len(archive.files) == 1 else None)
        if x_key is None:
            raise InputError(
                f"{path}: no input array found (keys: {archive.files}); "
                f"name the inputs one of {list(_INPUT_KEYS)} and the labels one of {list(_LABEL_KEYS)}"
            )
        y_key = _pick(archive, _LABEL_KEYS)
        return archive[x_key], (archive[y_key] if y_key else None)


def _read_folder(path: Path, sample_shape: tuple[int, ...]) -> np.ndarray:
    files = sorted(path.glob("*.npy"))
    if not files:
        raise InputError(f"{path}: the folder holds no .npy files; put one sample or one batch per .npy file there")
    arrays = []
    for file in files:
        array = np.load(file, allow_pickle=False)
        arrays.append(array[None] if array.shape == sample_shape else array)
    try:
        return np.concatenate(arrays)
    except ValueError:
        shapes = sorted({str(a.shape) for a in arrays})
        raise InputError(f"{path}: its .npy files have mismatched shapes {shapes}; each must be {sample_shape} or (N, *{sample_shape})") from None


def _starts_like_a_pickle(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(1) == b"\x80"


def load_samples(path: Path, sample_shape: tuple[int, ...], min_samples: int = 1) -> SampleSet:
    """Read samples and check them against `sample_shape` (one sample, without the batch axis)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"data file not found: {path}: pass an existing .npz, .npy or folder of .npy files")
    try:
        if path.is_dir():
            x, y = _read_folder(path, sample_shape), None
        elif path.suffix == ".npz":
            x, y = _read_npz(path)
        elif path.suffix == ".npy":
            x, y = np.load(path, allow_pickle=False), None
        else:
            raise InputError(f"{path}: unsupported data format {path.suffix!r}; use .npz, .npy or a folder of .npy files")
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        if "pickled" in str(error) and _starts_like_a_pickle(path):  # allow_pickle=False: objects are code, not data
            raise InputError(f"{path}: holds pickled Python objects, which mc does not load; save plain numeric arrays "
                             "with numpy.savez(path, x=..., y=...)") from None
        # numpy takes anything that is neither .npy nor a zip for a pickle: say what the file is not
        detail = "not a .npy or .npz file" if "pickled" in str(error) else (
            str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__)
        raise InputError(f"{path}: cannot be read as NumPy data ({type(error).__name__}: {detail}); "
                         "write it with numpy.save or numpy.savez") from None

    expected = "(N, " + ", ".join(map(str, sample_shape)) + ")"
    if tuple(x.shape[1:]) != tuple(sample_shape):
        hint = ""
        if tuple(x.shape[1:]) == tuple(d for d in sample_shape if d != 1) and 1 in sample_shape:
            hint = " (add the channel axis, e.g. x[:, None, :])"
        raise InputError(f"{path}: samples have shape {tuple(x.shape)}, the model expects {expected}{hint}")
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{path}: samples are {x.dtype}, the model expects floating-point input; convert with x.astype('float32')")
    if len(x) < min_samples:
        raise InputError(f"{path}: {len(x)} samples, at least {min_samples} needed")
    if not np.isfinite(x).all():
        raise InputError(f"{path}: samples contain NaN or infinite values; clean the data first")
    if y is not None:
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise InputError(f"{path}: labels must be integers of shape ({len(x)},), got {y.dtype} {tuple(y.shape)}")
        y = y.astype(np.int64)
    return SampleSet(x.astype(np.float32, copy=False), y, path)
