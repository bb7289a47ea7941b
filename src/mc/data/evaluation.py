"""Which data a model is checked and scored on: the user's file or a built-in setting by name
(`mnist1d-hard`), else the MNIST-1D test set when the model takes MNIST-1D input, else seeded random
inputs (parity only, no accuracy)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mc.data.mnist1d import DATASETS, INPUT_SHAPE, load_mnist1d
from mc.data.samples import load_samples
from mc.hashing import sha256_arrays

RANDOM_SAMPLES = 256


@dataclass(frozen=True)
class EvaluationData:
    x: np.ndarray
    y: np.ndarray | None
    description: str
    sha256: str


def builtin_dataset(path: Path | str | None) -> str | None:
    """The built-in setting `path` names (`mnist1d`, `mnist1d-hard`), unless a file of that name exists."""
    if path is None or str(path) not in DATASETS or Path(path).exists():
        return None
    return str(path)


def evaluation_data(sample_shape: tuple[int, ...], path: Path | str | None = None) -> EvaluationData:
    """`path`: a labelled .npz, or the name of a built-in setting."""
    name = builtin_dataset(path)
    if name is not None:
        if tuple(sample_shape) != INPUT_SHAPE:
            from mc.errors import InputError

            raise InputError(f"--data {name} is MNIST-1D input {INPUT_SHAPE}; this model takes {tuple(sample_shape)}")
        test = load_mnist1d(name).test
        return EvaluationData(test.x, test.y, f"{name} test set ({len(test)} samples)", sha256_arrays(test.x, test.y))
    if path is not None:
        samples = load_samples(path, sample_shape)
        return EvaluationData(samples.x, samples.y, f"{path} ({len(samples.x)} samples)", sha256_arrays(samples.x))
    if tuple(sample_shape) == INPUT_SHAPE:
        test = load_mnist1d().test
        return EvaluationData(test.x, test.y, f"MNIST-1D test set ({len(test)} samples)", sha256_arrays(test.x, test.y))
    x = np.random.default_rng(0).standard_normal((RANDOM_SAMPLES, *sample_shape)).astype(np.float32)
    return EvaluationData(x, None, f"{RANDOM_SAMPLES} seeded random N(0,1) inputs (pass --data for accuracy)", sha256_arrays(x))
