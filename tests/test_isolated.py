"""A model in a worker process of its own (mc.runtimes.isolated): opened by the one opener there, its
blocks of calls timed there, its failures one line, and the worker gone once it is closed."""

from __future__ import annotations

import numpy as np
import pytest

from mc.errors import InputError


def test_a_worker_opens_predicts_and_times_its_own_calls_then_ends(small_factory):
    from mc.ratios import interleaved_ratios
    from mc.runtimes.isolated import IsolatedPredictor
    from mc.runtimes.torch_eager import TorchPredictor
    from mc.models.source import load_torch_model

    x = np.random.default_rng(0).standard_normal((4, 1, 40)).astype(np.float32)
    with IsolatedPredictor(small_factory, None, 1, (1, 40)) as one, IsolatedPredictor(small_factory, None, 2, (1, 40)) as two:
        assert one.threads == 1 and two.threads == 2 and one.opened["runtime"] == "torch"
        expected = TorchPredictor(load_torch_model(small_factory, (1, 40)).module).predict(x)
        for got, want in zip(one.predict(x), expected):
            assert got.shape == want.shape and np.max(np.abs(got - want)) < 1e-5
        assert one.timed_calls(x[:1], 5) > 0
        timing = interleaved_ratios({"1": one, "2": two}, x[:1], "2", max_seconds=1, min_rounds=5)
        assert timing.rounds >= 5 and timing.median_ms["1"] > 0 and timing.median_ms["2"] > 0
    assert one.process.returncode == 0 and two.process.returncode == 0  # ended when their pipes closed


def test_a_model_that_does_not_open_is_one_line_and_the_worker_ends(tmp_path):
    from mc.runtimes.isolated import IsolatedPredictor

    predictor = IsolatedPredictor(tmp_path / "nope.onnx", None, 1)
    with pytest.raises(InputError) as caught:
        predictor.opened
    assert "does not open in a worker process" in str(caught.value) and "nope.onnx" in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1
    assert predictor.process.wait(timeout=30) is not None
