"""The shipped calibration set: a class-stratified draw from the MNIST-1D training split.

Regenerate the shipped file exactly with:
    python -m mc.data.calibration --samples 512 --seed 0 -o calibration_data/mnist1d-train-512.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mc.atomic import atomic_path
from mc.data.mnist1d import NUM_CLASSES, load_mnist1d


def make_calibration_set(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`samples` training sequences, equally many per class, in a seeded random order."""
    if samples < NUM_CLASSES:
        raise ValueError(f"need at least {NUM_CLASSES} samples, one per class")
    train = load_mnist1d().train
    rng = np.random.default_rng(seed)
    per_class = [samples // NUM_CLASSES + (label < samples % NUM_CLASSES) for label in range(NUM_CLASSES)]
    chosen = np.concatenate(
        [rng.choice(np.flatnonzero(train.y == label), size=count, replace=False) for label, count in enumerate(per_class)]
    )
    chosen = rng.permutation(chosen)
    return train.x[chosen], train.y[chosen]


def default_calibration(sample_shape: tuple[int, ...]) -> np.ndarray | None:
    """The shipped calibration set for the built-in data's shape; None for any other model."""
    from mc.data.mnist1d import INPUT_SHAPE

    if tuple(sample_shape) == INPUT_SHAPE:
        return make_calibration_set(512, seed=0)[0]  # byte-identical to calibration_data/mnist1d-train-512.npz
    return None


DEFAULT_CALIBRATION_DESCRIPTION = "shipped MNIST-1D calibration set (512, seed 0)"


def write_calibration_set(path: Path, samples: int, seed: int) -> None:
    x, y = make_calibration_set(samples, seed)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, x=x, y=y)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    write_calibration_set(args.output, args.samples, args.seed)
    print(f"wrote {args.output} ({args.samples} samples, seed {args.seed})")


if __name__ == "__main__":
    main()
