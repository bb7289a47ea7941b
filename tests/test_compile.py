"""`mc compile`: the CPU side always (one-line errors, availability messages, nothing half-written, a
real AOTInductor build for this CPU benched and scored like any variant); the GPU paths for real
where CUDA (and the backend's library) exists, skipped with the reason where it does not."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error
from mc.runtimes import availability
from mc.compilation.ort import prepare
from mc.runtimes import ort_binding as ort
from mc.runtimes.availability import cuda_status, cxx_compiler, missing, pairing_problem, tensorrt_install_hint
from mc.errors import BackendUnavailable, CheckFailed, InputError
from mc.compilation import compile_backends, get_backend
from mc.passes.compile import CompileConfig, check_available

CUDA = cuda_status().torch_can_use
NO_CUDA = "no CUDA GPU usable by torch on this host"
HAS_CXX = cxx_compiler() is not None

DATA_DEPENDENT = '''
import torch
from torch import nn


class Branchy(nn.Module):
    """Runs eagerly; torch.export cannot trace the branch on a value (data-dependent control flow)."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(40, 10)

    def forward(self, x):
        flat = x.flatten(1)
        if flat.sum() > 0:
            return self.head(flat), torch.ones(x.shape[0])
        return self.head(-flat), torch.zeros(x.shape[0])


def make():
    return Branchy()
'''


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# --- what this host lacks: one line, exit 2, what to install ---------------------------------------


def test_pairing_names_the_exact_torch_minor_version():
    assert pairing_problem("2.13.0+cpu", "2.13.0") is None
    assert pairing_problem("2.13.1", "2.13.0") is None
    problem = pairing_problem("2.13.0", "2.12.1")
    assert "torch-tensorrt 2.12.1 is built for torch 2.12" in problem and "'torch-tensorrt>=2.13,<2.14'" in problem
    assert "torch-tensorrt 2.13.x" in tensorrt_install_hint("2.13.0+cpu") and "mc[tensorrt]" in tensorrt_install_hint("2.13.0")


@pytest.mark.skipif(CUDA, reason="this host has CUDA: the missing-GPU messages do not apply")
@pytest.mark.parametrize("backend", ["tensorrt", "torch-compile"])
def test_check_available_names_what_is_missing_without_a_gpu(backend):
    with pytest.raises(BackendUnavailable) as caught:
        check_available(CompileConfig(backend=backend))
    message = str(caught.value)
    assert "\n" not in message and f"--backend {backend}" in message and "NVIDIA GPU" in message
    assert isinstance(caught.value, InputError) and caught.value.exit_code == 2
    if backend == "tensorrt":
        minor = availability.minor_version(availability.distribution_version("torch"))
        assert "pip install 'mc[tensorrt]'" in message and f"torch-tensorrt {minor}.x" in message
    else:
        assert "--device cpu" in message  # the way out on this host


@pytest.mark.parametrize("backend,provider", [("ort-cuda", "CUDAExecutionProvider"), ("ort-tensorrt", "TensorrtExecutionProvider")])
def test_check_available_for_onnx_runtime_providers(backend, provider):
    problem = missing(backend)
    if provider in availability.ort_providers():
        pytest.skip(f"{provider} is present here")
    assert problem is not None and "\n" not in problem
    assert provider in problem and "pip install 'mc[gpu]'" in problem


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler: AOTInductor cannot build for this CPU")
def test_torch_compile_for_this_cpu_is_available():
    check_available(CompileConfig(backend="torch-compile", device="cpu"))  # no exception


@pytest.mark.skipif(CUDA, reason="this host has CUDA")
def test_unavailable_backend_is_one_line_and_writes_nothing(mc, tmp_path):
    result = mc("compile", "mobile-tiny", "--backend", "tensorrt", "-o", tmp_path / "m.ep")
    line = assert_one_line_error(result, 2, "--backend tensorrt")
    assert "pip install 'mc[tensorrt]'" in line  # rich markup must not eat the brackets
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--backend", "tensorrt", "--device", "cpu", "-o", "m.ep"], "--device cpu works only with --backend torch-compile"),
        (["--backend", "torch-compile", "--precision", "int8", "-o", "m.pt2"], "int8 is not offered for torch-compile"),
        (["--backend", "ort-cuda", "--precision", "int8", "-o", "m.onnx"], "int8 is not offered for ort-cuda"),
        (["--backend", "torch-compile", "--device", "cpu", "--precision", "fp16", "-o", "m.pt2"], "fp16 needs --device cuda"),
        (["--backend", "tpu", "-o", "m.pt2"], "--backend:"),
        (["--backend", "torch-compile", "--precision", "fp8", "-o", "m.pt2"], "--precision:"),
        (["--backend", "torch-compile", "--device", "cpu", "--opt-batch", "64", "--max-batch", "8", "-o", "m.pt2"], "--opt-batch 64 is larger"),
        (["--backend", "torch-compile", "--device", "cpu", "-o", "m.onnx"], "must end in .pt2"),
    ],
)
def test_bad_options_are_one_line_errors(mc, tmp_path, args, fragment):
    args = [str(tmp_path / arg) if arg.startswith("m.") else arg for arg in args]
    result = mc("compile", "mobile-tiny", *args)
    assert_one_line_error(result, 2, fragment)
    assert _files(tmp_path) == []


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler for AOTInductor")
def test_onnx_input_needs_an_onnx_backend(mc, tmp_path):
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"not read: the backend is checked first")
    result = mc("compile", onnx_file, "--backend", "torch-compile", "--device", "cpu", "-o", tmp_path / "out.pt2")
    line = assert_one_line_error(result, 2, "for ONNX files")
    assert "ort-cuda" in line and "ort-tensorrt" in line


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler for AOTInductor")
def test_a_model_the_compiler_rejects_leaves_nothing_behind(mc, tmp_path):
    factory = tmp_path / "branchy.py"
    factory.write_text(DATA_DEPENDENT)
    out = tmp_path / "out"
    result = mc("compile", f"{factory}:make", "--backend", "torch-compile", "--device", "cpu", "-o", out / "b.pt2")
    line = assert_one_line_error(result, 2, "cannot be compiled with --backend torch-compile")
    assert "--debug" in line
    assert not out.exists() or _files(out) == []  # no artifact, no sidecar, no staged temp file


def test_compile_is_a_registered_pass_and_no_longer_planned(mc):
    from mc.passes import pass_types

    assert pass_types()["compile"] is CompileConfig
    result = mc("compile", "--help")
    assert result.exit_code == 0 and "not built yet" not in result.stdout and "--backend" in result.stdout


def test_doctor_reports_each_compile_backend(mc, tmp_path):
    out = tmp_path / "doctor.json"
    result = mc("doctor", "--json", out)
    assert result.exit_code == 0, result.stderr
    report = json.loads(out.read_text())
    rows = {(row["backend"], row["device"]): row for row in report["compile_backends"]}
    assert set(rows) >= {("tensorrt", "cuda"), ("torch-compile", "cuda"), ("torch-compile", "cpu"), ("ort-cuda", "cuda"), ("ort-tensorrt", "cuda")}
    assert set(rows) == {(backend.name, device) for backend in compile_backends() for device in backend.devices}
    for row in rows.values():
        assert row["available"] == (row["missing"] is None)
        assert row["missing"] == get_backend(row["backend"]).check_available("fp32", row["device"])
    pairing = report["torch_tensorrt"]
    assert pairing["torch"] and pairing["install"].startswith("pip install 'mc[tensorrt]'")
    assert "mc compile backends" in result.stdout and "torch-tensorrt" in result.stdout


# --- ONNX Runtime bindings: built here, run where the provider is ---------------------------------


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    from mc.data.evaluation import evaluation_data
    from mc.models.source import load_torch_model
    from mc.passes.export import ExportConfig, export_torch
    from mc.progress import SilentProgress

    model = load_torch_model("mobile-tiny")
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_torch(ExportConfig(), model, path, evaluation_data(model.sample_shape), SilentProgress())
    return path


def test_ort_tensorrt_int8_binding_carries_a_calibration_table(tiny_onnx, tmp_path):
    from onnxruntime.quantization.CalTableFlatBuffers.TrtTable import TrtTable

    from mc.data.calibration import make_calibration_set

    samples = make_calibration_set(64, seed=0)[0]
    out = tmp_path / "int8.onnx"
    binding = prepare(tiny_onnx, out, "ort-tensorrt", "int8", 1, 256, samples, "input")
    assert binding["calibration"]["samples"] == 64 and binding["calibration"]["tensors"] > 10
    stored = ort.read_binding(out)
    assert stored[ort.KEY_BACKEND] == "ort-tensorrt" and stored[ort.KEY_PRECISION] == "int8"
    table = TrtTable.GetRootAsTrtTable(base64.b64decode(stored[ort.KEY_TABLE]), 0)
    ranges = {table.Dict(i).Key().decode(): float(table.Dict(i).Value()) for i in range(table.DictLength())}
    assert ranges["input"] == pytest.approx(float(np.abs(samples).max()), rel=1e-5)  # the calibrated input range
    assert ort.read_binding(tiny_onnx) is None  # the source stays a plain CPU file

    (name, options), *rest = ort.providers(stored, "0123456789abcdef" * 4, "input", (1, 40))
    assert name == "TensorrtExecutionProvider" and options["trt_int8_enable"] and options["trt_fp16_enable"]
    assert options["trt_profile_max_shapes"] == "input:256x1x40" and options["trt_profile_min_shapes"] == "input:1x1x40"
    assert (Path(options["trt_engine_cache_path"]) / options["trt_int8_calibration_table_name"]).exists()
    assert [spec if isinstance(spec, str) else spec[0] for spec in rest] == ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.skipif("CUDAExecutionProvider" in availability.ort_providers(), reason="this host has ONNX Runtime's CUDA provider")
def test_a_gpu_bound_onnx_file_on_a_cpu_host_says_so(mc, tiny_onnx, tmp_path):
    out = tmp_path / "cuda.onnx"
    prepare(tiny_onnx, out, "ort-cuda", "fp16", 1, 256, None, "input")
    result = mc("eval", out)
    assert_one_line_error(result, 2, "is compiled for ort-cuda")


def test_onnx_runtime_never_falls_back_to_the_cpu_silently(tiny_onnx):
    from mc.runtimes.onnxruntime import OnnxRuntimePredictor

    if "CUDAExecutionProvider" in availability.ort_providers() and CUDA:
        predictor = OnnxRuntimePredictor(tiny_onnx, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        assert predictor.providers[0] == "CUDAExecutionProvider" and predictor.name == "onnxruntime-cuda"
        return
    with pytest.raises(InputError, match="did not enable CUDAExecutionProvider"):
        OnnxRuntimePredictor(tiny_onnx, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])


# --- torch-compile for this CPU: a real AOTInductor build (about 45 s here, built once) -----------


@pytest.fixture(scope="module")
def cpu_package(tmp_path_factory):
    if not HAS_CXX:
        pytest.skip("no C++ compiler: AOTInductor cannot build for this CPU")
    from typer.testing import CliRunner

    from mc_cli.main import app

    out = tmp_path_factory.mktemp("aoti") / "tiny.pt2"
    result = CliRunner().invoke(app, ["compile", "mobile-tiny", "--backend", "torch-compile", "--device", "cpu",
                                      "--max-batch", "512", "-o", str(out), "--json", str(out.with_suffix(".record.json"))])
    assert result.exit_code == 0, result.stdout + result.stderr
    return out, result


def test_cpu_package_is_published_with_its_lineage(cpu_package):
    out, result = cpu_package
    record = json.loads(Path(str(out) + ".json").read_text())
    assert record["kind"] == "aoti-package" and record["pass"]["name"] == "compile"
    assert record["pass"]["config"]["backend"] == "torch-compile" and record["pass"]["config"]["device"] == "cpu"
    assert record["model"]["model"] == "mobile-tiny" and record["model"]["input_shape"] == [1, 40]
    assert record["parent"]["sha256"] and record["size_bytes"] == out.stat().st_size
    parity = record["metrics"]["parity"]
    assert parity["passed"] and parity["max_abs_diff"] <= 1e-3 and parity["top1_agreement"] == 1.0
    assert parity["batch_sizes_checked"] == [1, 256]
    assert "passed" in result.stdout and _files(out.parent) == sorted([out.name, out.name + ".json", "tiny.record.json"])


def test_cpu_package_matches_eager_torch_at_other_batch_sizes(cpu_package):
    from mc.runtimes import open_model

    out, _ = cpu_package
    opened, reference = open_model(out), open_model("mobile-tiny")
    compiled, shape, description = opened.predictor, opened.sample_shape, opened.description
    eager, eager_shape = reference.predictor, reference.sample_shape
    assert shape == eager_shape == (1, 40) and "torch-compile fp32, cpu" in description
    assert opened.runtime == "torch-compile" and opened.device == "cpu" and opened.size_bytes == out.stat().st_size
    x = np.random.default_rng(1).standard_normal((7, *shape)).astype(np.float32)
    for got, expected in zip(compiled.predict(x), eager.predict(x)):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-4)
    assert [output.shape[0] for output in compiled.predict(x[:1])] == [1, 1]


def test_parity_gate_refuses_a_compiled_model_off_tolerance(cpu_package):
    from mc.data.evaluation import evaluation_data
    from mc.passes.compile import _parity
    from mc.runtimes import open_model

    out, _ = cpu_package
    opened = open_model(out)
    compiled, shape = opened.predictor, opened.sample_shape
    eager = open_model("mobile-tiny").predictor
    data = evaluation_data(shape)
    strict = CompileConfig(backend="torch-compile", device="cpu", tolerance=1e-12)
    with pytest.raises(CheckFailed, match="parity check failed"):
        _parity(strict, eager, compiled, data)


def test_cpu_package_scores_and_benches_like_any_variant(mc, cpu_package, tmp_path):
    out, _ = cpu_package
    result = mc("eval", out, "--reference", "mobile-tiny")
    assert result.exit_code == 0, result.stderr
    assert "top-1 agreement 100.00%" in result.stdout

    bench_json = tmp_path / "bench.json"
    result = mc("bench", out, "--target", "x86-cpu", "--scenario", "realtime", "--duration", "1", "--json", bench_json)
    assert result.exit_code == 0, result.stdout + result.stderr
    (variant,) = json.loads(bench_json.read_text())["variants"]
    assert variant["status"] == "ok" and variant["runtime"] == "torch-compile"
    measured = variant["measured"]
    assert measured["device"] == "cpu" and measured["gpu_memory"] is None
    assert set(measured["first_call_s"]) == {"1"} and measured["first_call_s"]["1"] > 0
    assert measured["model_latency_ms"]["p50"] > 0 and variant["accuracy"]["accuracy"] > 0.9


def test_a_package_without_its_sidecar_or_broken_is_one_line(mc, cpu_package, tmp_path):
    out, _ = cpu_package
    bare = tmp_path / "bare.pt2"
    bare.write_bytes(out.read_bytes())
    assert_one_line_error(mc("eval", bare), 2, "has no `mc compile` sidecar")
    broken = tmp_path / "broken.pt2"
    broken.write_bytes(b"not a zip")
    Path(str(broken) + ".json").write_text(Path(str(out) + ".json").read_text())
    assert_one_line_error(mc("eval", broken), 2, "does not load as an AOTInductor package")
    assert_one_line_error(mc("bench", tmp_path / "missing.pt2", "--target", "x86-cpu"), 2, "compiled package not found")


# --- the GPU paths, for real where CUDA exists ------------------------------------------------------

gpu = pytest.mark.skipif(not CUDA, reason=NO_CUDA)


def _compile_and_check(mc, tmp_path, backend, precision, suffix, model="mobile-tiny"):
    out = tmp_path / f"{backend}-{precision}{suffix}"
    result = mc("compile", model, "--backend", backend, "--precision", precision, "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    record = json.loads(Path(str(out) + ".json").read_text())
    assert record["metrics"]["parity"]["passed"] and record["pass"]["config"]["precision"] == precision
    return out


def _bench_on_gpu(mc, tmp_path, artifact, runtime):
    bench_json = tmp_path / "bench.json"
    result = mc("bench", artifact, "--target", "gpu", "--scenario", "realtime", "--duration", "1", "--json", bench_json)
    assert result.exit_code == 0, result.stdout + result.stderr
    (variant,) = json.loads(bench_json.read_text())["variants"]
    assert variant["status"] == "ok", variant.get("error")
    assert variant["runtime"] == runtime and variant["measured"]["device"] == "cuda"
    assert variant["measured"]["gpu_memory"], "GPU memory must be reported on CUDA"
    return variant


@gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_torch_compile_on_cuda(mc, tmp_path, precision):
    out = _compile_and_check(mc, tmp_path, "torch-compile", precision, ".pt2")
    variant = _bench_on_gpu(mc, tmp_path, out, "torch-compile")
    assert variant["measured"]["model_latency_ms"]["device_ms"]["p50"] > 0  # CUDA events around the call
    assert variant["measured"]["gpu_memory"]["torch_peak_allocated_mb"] > 0


@gpu
@pytest.mark.skipif(missing("tensorrt") is not None, reason=str(missing("tensorrt")))
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_on_cuda(mc, tmp_path, precision):
    out = _compile_and_check(mc, tmp_path, "tensorrt", precision, ".ep")
    variant = _bench_on_gpu(mc, tmp_path, out, "tensorrt")
    assert variant["measured"]["model_latency_ms"]["device_ms"]["p50"] > 0


@gpu
@pytest.mark.skipif(missing("tensorrt", "int8") is not None, reason=str(missing("tensorrt", "int8")))
def test_tensorrt_int8_through_modelopt(mc, tmp_path):
    _compile_and_check(mc, tmp_path, "tensorrt", "int8", ".ep")


@pytest.mark.skipif(missing("ort-cuda") is not None, reason=str(missing("ort-cuda")))
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_onnx_runtime_cuda(mc, tmp_path, tiny_onnx, precision):
    out = _compile_and_check(mc, tmp_path, "ort-cuda", precision, ".onnx", model=str(tiny_onnx))
    _bench_on_gpu(mc, tmp_path, out, "onnxruntime-cuda")


@pytest.mark.skipif(missing("ort-tensorrt") is not None, reason=str(missing("ort-tensorrt")))
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_onnx_runtime_tensorrt(mc, tmp_path, tiny_onnx, precision):
    out = _compile_and_check(mc, tmp_path, "ort-tensorrt", precision, ".onnx", model=str(tiny_onnx))
    _bench_on_gpu(mc, tmp_path, out, "onnxruntime-tensorrt")
