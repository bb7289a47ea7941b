"""The one opener (mc.runtimes.open_model): runtime, providers and threads chosen once from the
target; an ONNX file opened without torch; and the bench result reader's schema handling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mc.bench.config import BENCH_SCHEMA, read_bench_result
from mc.errors import InputError
from mc.runtimes import open_model
from mc.artifact import kind_of_spec
from mc.runtimes import workload_of
from mc.runtimes.onnxruntime import CPU, CUDA, choose_providers
from mc.targets import load_target, parse_target

REPO = Path(__file__).resolve().parent.parent
ALLOW_SPINNING = "session.intra_op.allow_spinning"


@pytest.fixture(scope="module")
def classifier_onnx(tmp_path_factory) -> Path:
    """Conv1d(1->4, k=3), flatten, MatMul to 10 logits and a sigmoid confidence: an MNIST-1D-shaped
    classifier built with onnx.helper (no torch), returning (logits, confidence) like the zoo's."""
    rng = np.random.default_rng(0)
    initializers = [
        numpy_helper.from_array(rng.standard_normal((4, 1, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((152, 10)).astype(np.float32), "m"),
        numpy_helper.from_array(np.array([0, 152], dtype=np.int64), "shape"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "w"], ["conv"]),
            helper.make_node("Relu", ["conv"], ["relu"]),
            helper.make_node("Reshape", ["relu", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "m"], ["logits"]),
            helper.make_node("ReduceMax", ["logits", "axes"], ["top"], keepdims=0),
            helper.make_node("Sigmoid", ["top"], ["confidence"]),
        ],
        "classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 40])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10]),
         helper.make_tensor_value_info("confidence", TensorProto.FLOAT, ["batch"])],
        initializers,
    )
    path = tmp_path_factory.mktemp("runtimes") / "classifier.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def _options(opened):
    return opened.predictor.session.get_session_options()


def test_the_target_chooses_threads_once_and_an_explicit_count_wins(classifier_onnx):
    pi5 = load_target("pi5")
    opened = open_model(classifier_onnx, pi5)
    assert opened.threads == pi5.host_threads() == _options(opened).intra_op_num_threads
    assert opened.runtime == "onnxruntime" and opened.device == "cpu" and opened.workload == "pipeline"
    assert opened.sample_shape == (1, 40) and opened.size_bytes == classifier_onnx.stat().st_size and opened.notes == []
    assert open_model(classifier_onnx).threads == 1  # no target, no count: one thread
    assert open_model(classifier_onnx, pi5, threads=3).threads == 3 == _options(open_model(classifier_onnx, pi5, threads=3)).intra_op_num_threads
    sample = opened.example_input()
    assert sample.shape == (1, 1, 40) and sample.dtype == np.float32
    logits, confidence = opened.predictor.predict(sample)
    assert logits.shape == (1, 10) and confidence.shape == (1,)
    costs, notes = opened.costs()
    assert {cost.op_type for cost in costs} >= {"Conv", "MatMul"} and notes == []


def test_shared_cores_stops_onnx_runtime_spinning(classifier_onnx):
    assert _options(open_model(classifier_onnx, threads=2, shared_cores=True)).get_session_config_entry(ALLOW_SPINNING) == "0"
    with pytest.raises(RuntimeError, match="does not have configuration"):  # ORT's default: spinning
        _options(open_model(classifier_onnx, threads=2)).get_session_config_entry(ALLOW_SPINNING)


def test_a_gpu_target_gets_cuda_where_onnx_runtime_has_it(classifier_onnx, monkeypatch):
    from mc.runtimes import onnxruntime

    gpu, pi5 = load_target("gpu"), load_target("pi5")
    monkeypatch.setattr(onnxruntime, "cuda_provider_available", lambda: True)
    providers = choose_providers(classifier_onnx, gpu)
    assert [p if isinstance(p, str) else p[0] for p in providers] == [CUDA, CPU]
    assert choose_providers(classifier_onnx, pi5) == [CPU] and choose_providers(classifier_onnx, None) == [CPU]
    monkeypatch.setattr(onnxruntime, "cuda_provider_available", lambda: False)
    assert choose_providers(classifier_onnx, gpu) == [CPU]


def test_a_runtime_the_target_does_not_list_opens_with_a_note(classifier_onnx, tmp_path):
    text = (REPO / "recipes" / "targets" / "pi5.yaml").read_text()
    lines = [("runtimes: [torch]" if line.startswith("runtimes:") else line) for line in text.splitlines()]
    profile = tmp_path / "torch-only.yaml"
    profile.write_text("\n".join(lines) + "\n")
    opened = open_model(classifier_onnx, parse_target(profile))
    assert opened.runtime == "onnxruntime"
    assert opened.notes == ["pi5 does not list onnxruntime among its runtimes (torch): opened in onnxruntime anyway"]


def test_a_torch_model_opens_under_the_thread_count(monkeypatch):
    import torch

    monkeypatch.setattr(torch, "set_num_threads", lambda count: calls.append(count))
    calls: list[int] = []
    opened = open_model("mobile-tiny", load_target("pi5"), threads=1)
    assert calls == [1] and opened.runtime == "torch" and opened.workload == "pipeline" and opened.sample_shape == (1, 40)
    assert opened.size_bytes and "mobile-tiny" in opened.description
    logits, confidence = opened.predictor.predict(opened.example_input())
    assert logits.shape == (1, 10)


def test_an_onnx_file_opens_and_runs_without_torch(classifier_onnx):
    script = (
        "import sys\n"
        "from mc.runtimes import open_model\n"
        "from mc.targets import load_target\n"
        f"opened = open_model({str(classifier_onnx)!r}, load_target('x86-cpu'))\n"
        "outputs = opened.predictor.predict(opened.example_input())\n"
        "assert outputs[0].shape == (1, 10), outputs[0].shape\n"
        "print('torch' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "False"


def test_kinds_come_from_the_path_alone(classifier_onnx, tmp_path):
    assert kind_of_spec(str(classifier_onnx)) == "onnx" and workload_of(classifier_onnx) == "pipeline"
    assert kind_of_spec("model.pt2") == kind_of_spec("model.ep") == "compiled"
    assert kind_of_spec("mobile-tiny") == kind_of_spec("ckpt.pt") == kind_of_spec("user.py:make") == "torch"
    assert kind_of_spec(str(tmp_path)) == "text-torch" and workload_of("memory-minilm") == "text"
    with pytest.raises(InputError, match="holds no model.onnx"):
        open_model(tmp_path)
    with pytest.raises(InputError, match="export it first"):
        open_model("memory-minilm")


def test_a_v1_bench_result_is_upgraded():
    old = {"schema": "mc.bench/1", "target": {"name": "pi5"}, "variants": [{"artifact": "a.onnx", "status": "ok"}]}
    upgraded = read_bench_result(old)
    assert upgraded["schema"] == BENCH_SCHEMA == "mc.bench/2" and upgraded["variants"][0]["workload"] == "pipeline"
    assert upgraded["target"] == old["target"] and "workload" not in old["variants"][0]  # the input is not changed
    assert read_bench_result(upgraded) is upgraded


@pytest.mark.parametrize(("document", "fragment"), [
    ({"schema": "mc.bench.text/1", "variants": []}, "'mc.bench.text/1' was written by an older mc: re-run mc bench"),
    ({"schema": "mc.report/1"}, "not a bench result"),
    ([1, 2], "not a bench result"),
])
def test_other_documents_are_refused_with_their_schema(document, fragment):
    with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        read_bench_result(json.loads(json.dumps(document)))
