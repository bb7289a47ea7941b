"""The one interface every runtime adapter offers."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Predictor(Protocol):
    name: str

    def predict(self, inputs: Any) -> list[np.ndarray]:
        """Run one batch (a float32 array, batch first, for a classifier; a dict of int64 feeds for a
        text model); return every model output as a NumPy array."""
        ...


def predict_all(predictor: Predictor, x: np.ndarray, batch_size: int = 256) -> list[np.ndarray]:
    """Run a whole array through `predictor` in batches and stitch the outputs back together."""
    chunks = [predictor.predict(x[start : start + batch_size]) for start in range(0, len(x), batch_size)]
    return [np.concatenate([chunk[i] for chunk in chunks]) for i in range(len(chunks[0]))]
