"""The bench engine without subprocesses: the roofline estimate, the control runtime, the scenarios'
summaries and the worker's protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mc.bench.control import FixedOutputPredictor, measure_pipeline_overhead
from mc.bench.roofline import estimate_target_latency, roofline
from mc.bench.runner import estimated_label, measured_label, preflight, thread_note
from mc.bench.scenarios import ScenarioConfig, run_latency, run_throughput
from mc.errors import InputError
from mc.pipeline import MetaPipeline, ProcessorSettings
from mc.runtimes.costs import OpCost, onnx_costs
from mc.targets import load_target


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    """Conv1d(1->4, k=3) then flatten and MatMul(4*38 -> 10): FLOPs known by hand."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4, 1, 3)).astype(np.float32), "w")
    matrix = numpy_helper.from_array(rng.standard_normal((152, 10)).astype(np.float32), "m")
    shape = numpy_helper.from_array(np.array([0, 152], dtype=np.int64), "shape")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "w"], ["conv"], name="conv"),
            helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
            helper.make_node("Reshape", ["relu", "shape"], ["flat"], name="reshape"),
            helper.make_node("MatMul", ["flat", "m"], ["logits"], name="matmul"),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 40])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [weight, matrix, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def test_onnx_costs_count_flops_and_bytes_per_op(tiny_onnx):
    costs, notes = onnx_costs(tiny_onnx)
    by_name = {cost.name: cost for cost in costs}
    assert set(by_name) == {"conv", "relu", "matmul"} and notes == []  # Reshape is a view: no cost
    assert by_name["conv"].flops == 2 * (4 * 38) * (1 * 3)
    assert by_name["matmul"].flops == 2 * 10 * 152
    assert by_name["relu"].flops == 4 * 38
    # Conv reads its input (40 floats) and weights (12), writes 152 floats.
    assert by_name["conv"].bytes == 4 * (40 + 12 + 152)
    assert all(cost.precision == "fp32" for cost in costs)


def test_roofline_takes_the_slower_of_compute_and_memory_per_op():
    costs = [OpCost("compute", "MatMul", 2e9, 1e3, "fp32"), OpCost("memory", "Add", 1e3, 2e9, "fp32")]
    result = roofline(costs, {"fp32_gflops_per_core": 10, "memory_bandwidth_gbs": 4}, threads=2, profile="p")
    assert result.seconds == pytest.approx(2e9 / 20e9 + 2e9 / 4e9)
    assert (result.compute_bound_ops, result.memory_bound_ops) == (1, 1)
    int8 = roofline([OpCost("q", "QLinearConv", 1e9, 1.0, "int8")], {"fp32_gflops_per_core": 10, "memory_bandwidth_gbs": 1}, 1, "p")
    assert int8.seconds == pytest.approx(0.1) and "int8 ops counted at the fp32 peak" in int8.notes[0]


def test_the_estimate_carries_the_host_efficiency_to_the_target():
    costs = [OpCost("op", "MatMul", 1e7, 1e3, "fp32")]  # compute-bound everywhere
    host = {"fp32_gflops_per_core": 100, "memory_bandwidth_gbs": 20}
    target = {"fp32_gflops_per_core": 25, "memory_bandwidth_gbs": 10}
    estimate = estimate_target_latency(costs, 1.0, host, 1, target, 2, "t")
    # Host roofline 0.1 ms measured as 1 ms: 10 % efficiency. Target roofline 0.2 ms -> 2 ms.
    assert estimate["efficiency"] == pytest.approx(0.1)
    assert estimate["model_latency_ms"] == pytest.approx(2.0)
    missing = estimate_target_latency(costs, 1.0, host, 1, load_target("gpu").peaks, 1, "gpu")
    assert missing["model_latency_ms"] is None and "no memory_bandwidth_gbs" in missing["reason"]


def test_labels_say_measured_on_the_host_and_estimated_for_the_target():
    pi5, host = load_target("pi5"), load_target("x86-cpu")
    assert measured_label(pi5).startswith("measured on ") and estimated_label(pi5) == "estimated for pi5"
    if host.is_host():
        assert measured_label(host) == "measured" and estimated_label(host) is None
    note = thread_note(pi5)
    assert ("capped at" in note) == (pi5.host_threads() < pi5.threads)


def test_preflight_rejects_missing_paths_before_any_process_starts(tmp_path):
    with pytest.raises(InputError, match="ONNX file not found"):
        preflight(["mobile-small", str(tmp_path / "nope.onnx")])
    with pytest.raises(InputError, match="factory file not found"):
        preflight([f"{tmp_path / 'nope.py'}:make"])
    preflight(["mobile-small", "some.module:factory"])  # resolved in the worker


def test_control_runtime_prices_the_pipeline_on_both_cache_paths():
    sample = np.zeros((1, 40), np.float32)
    settings = ProcessorSettings(cache_size=50)
    hits = measure_pipeline_overhead(sample, settings, rows=1, queries=100, warmup=10)
    misses = measure_pipeline_overhead(sample, settings, rows=200, queries=100, warmup=10)
    assert hits["cache"]["hit_rate"] > 0.95 and misses["cache"]["hit_rate"] == 0.0
    assert misses["cache"]["evictions"] > 0 and misses["cache"]["size"] == 50
    assert hits["pipeline_ms"]["count"] == 100 and hits["added_ms"]["p50"] > 0
    assert hits["added_ms"]["p99"] is None  # 100 queries are too few for a p99
    runtime = FixedOutputPredictor.seeded(3)
    first, second = runtime.predict(np.zeros((2, 1, 40))), runtime.predict(np.zeros((2, 1, 40)))
    assert np.array_equal(first[0][0], second[0][1])  # rows 0, 1, then 2, 0: the table cycles


def test_latency_scenario_reaches_its_query_count_and_throughput_counts_samples():
    samples = np.zeros((16, 1, 40), np.float32)
    labels = np.zeros(16, np.int64)
    latency = run_latency(
        MetaPipeline(FixedOutputPredictor.seeded(16)), samples, labels, ScenarioConfig(name="latency", duration_s=0.01, min_queries=70)
    )
    assert latency["requests"] >= 70 and latency["reached_min_queries"]
    assert latency["latency_ms"]["p90"] is not None and latency["latency_ms"]["p99"] is None
    assert latency["dropped"] == 0 and 0.0 <= latency["pipeline_accuracy"] <= 1.0
    throughput = run_throughput(
        MetaPipeline(FixedOutputPredictor.seeded(16)), samples, None, ScenarioConfig(name="throughput", duration_s=0.05, batch_size=8)
    )
    assert throughput["requests"] == throughput["batches"] * 8 and throughput["samples_per_s"] > 0
    assert throughput["pipeline_accuracy"] is None  # no labels, no accuracy
