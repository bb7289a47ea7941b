"""The ExecuTorch backend and runtime, for real: mobile-tiny lowered to a `.pte` with the XNNPACK
delegate through the CLI, checked against torch, its delegation report, then opened by the one
opener for `mc eval` and `mc bench`; int8 (PT2E, static and dynamic) and a recipe with a compile
step are slow-marked (lowering mobile-tiny costs ~40 s of CPU on 2 cores), each artifact built once per
module; the default run lowers a two-layer factory model through the same CLI path in seconds."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import Mc, assert_one_line_error

pytest.importorskip("executorch", reason="the executorch extra is part of the test extra: pip install -e '.[test]'")

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(REPO / "src"), str(REPO / "cli"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_factory_lowers_fully_to_xnnpack_in_fp32_and_int8(mc, small_factory, tmp_path, precision):
    from mc.runtimes import open_model

    out = tmp_path / f"small-{precision}.pte"
    result = mc("compile", small_factory, "--backend", "executorch", "--precision", precision, "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    settings = json.loads(Path(str(out) + ".json").read_text())["metrics"]["settings"]
    delegation = settings["delegation"]
    assert delegation["delegated_subgraphs"] >= 1 and "subgraph(s) to XnnpackBackend" in result.stdout
    assert "aten.convolution.default" not in delegation["non_delegated_kinds"]  # the compute is XNNPACK's
    assert (settings["quantization"] is None) == (precision == "fp32")
    opened = open_model(out, threads=1)
    logits, confidence = opened.predictor.predict(np.zeros((3, 1, 40), dtype=np.float32))
    assert opened.runtime == "executorch" and logits.shape == (3, 10) and confidence.shape == (3,)
    # its op counts, made when it was compiled, for its fraction of peak: conv 2 x 8 x 40 x 3, head 2 x 320 x 10,
    # int8 where the quantizer took them; int8 weights at a byte each
    costs, _ = opened.costs()
    assert {cost.precision: cost.flops for cost in costs if cost.flops} == {precision: 2.0 * (8 * 40 * 3 + 320 * 10)}
    weights = 8 * 3 + 320 * 10
    assert sum(cost.bytes for cost in costs) - 4 * 40 - 4 * (8 + 10) == weights * (1 if precision == "int8" else 4)


ATTENTION = '''
import torch
from torch import nn

from mc.models._blocks import multi_head_attention


class Attention(nn.Module):
    """Percept tokens attending to themselves over 4-D heads, as the model family's attention does."""

    def __init__(self):
        super().__init__()
        self.embed, self.query, self.key, self.value = nn.Linear(4, 16), nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        tokens = self.embed(x.reshape(x.shape[0], 10, 4))
        read = multi_head_attention(self.query(tokens), self.key(tokens), self.value(tokens), 2)
        logits = self.head(read.mean(dim=1))
        return logits, torch.softmax(logits, -1).amax(-1)


def make():
    torch.manual_seed(0)
    return Attention()
'''


def test_a_batch_one_program_is_static_and_its_attention_loses_the_noop_expands(mc, tmp_path):
    """`--max-batch 1`: a static program, run a sample at a time for larger batches; ExecuTorch's own
    XNNPACK transform passes drop the shape-preserving expands a 4-D matmul decomposes into, which
    the plain lowering leaves outside the delegate as portable copies."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from mc.compilation.executorch import delegation_report
    from mc.models.source import load_torch_model
    from mc.runtimes import open_model
    from mc.runtimes.torch_eager import TorchPredictor

    factory = tmp_path / "attention.py"
    factory.write_text(ATTENTION)
    out = tmp_path / "attention.pte"
    result = mc("compile", f"{factory}:make", "--backend", "executorch", "--max-batch", "1", "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    settings = json.loads(Path(str(out) + ".json").read_text())["metrics"]["settings"]
    assert settings["dynamic_batch"] is None and settings["transform_passes"] == ["RemoveNoopExpandCopyPass"]
    assert "aten.expand_copy.default" not in settings["delegation"]["non_delegated_kinds"]
    module = load_torch_model(f"{factory}:make", (1, 40)).module.eval()
    with torch.no_grad():
        plain = to_edge_transform_and_lower(torch.export.export(module, (torch.zeros(1, 1, 40),)), partitioner=[XnnpackPartitioner()])
    assert delegation_report(plain.exported_program())["non_delegated_kinds"].get("aten.expand_copy.default", 0) >= 2
    opened = open_model(out, threads=1)
    x = np.random.default_rng(0).standard_normal((5, 1, 40)).astype(np.float32)  # run a sample at a time
    for got, want in zip(opened.predictor.predict(x), TorchPredictor(module).predict(x)):
        assert got.shape == want.shape and np.max(np.abs(got - want)) < 1e-4
    # ExecuTorch's pool is one per process and a program crashes once it is resized under it: a second
    # program opened at another count while the first is alive runs on the first's, and says so
    second = open_model(out, threads=2)
    assert second.threads == 1 and any("thread pool is one per process" in note for note in second.notes)
    opened.predictor.predict(x[:1])
    second.predictor.predict(x[:1])


@pytest.fixture(scope="module")
def fp32_pte(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("executorch") / "tiny.pte"
    result = Mc()("compile", "mobile-tiny", "--backend", "executorch", "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    return out, result.stdout


@pytest.mark.slow  # lowering mobile-tiny takes ~40 s of CPU on 2 cores; CI runs it
def test_fp32_lowers_to_xnnpack_matches_torch_and_reports_delegation(fp32_pte):
    out, stdout = fp32_pte
    record = json.loads(Path(str(out) + ".json").read_text())
    assert record["kind"] == "executorch-program" and record["pass"]["config"]["device"] == "cpu"
    parity = record["metrics"]["parity"]
    assert parity["gate"] == "max_abs_diff" and parity["passed"] and parity["max_abs_diff"] < 1e-3
    assert parity["accuracy"]["compiled"]["top1_agreement"] == 1.0
    delegation = record["metrics"]["settings"]["delegation"]
    assert delegation["delegate"] == "XnnpackBackend" and delegation["delegated_subgraphs"] >= 1
    assert delegation["non_delegated_ops"] == sum(delegation["non_delegated_kinds"].values())
    assert all(name.startswith("aten.") for name in delegation["non_delegated_kinds"])  # each kind named
    assert f"{delegation['delegated_subgraphs']} subgraph(s) to XnnpackBackend" in stdout
    assert record["metrics"]["settings"]["dynamic_batch"][0] == 1


@pytest.mark.slow  # lowering mobile-tiny takes ~40 s of CPU on 2 cores; CI runs it
def test_the_opener_runs_the_program_at_any_batch_like_torch(fp32_pte):
    from mc.models.source import load_torch_model
    from mc.runtimes import open_model
    from mc.runtimes.torch_eager import TorchPredictor
    from mc.targets import load_target

    out, _ = fp32_pte
    opened = open_model(out, load_target("pi5"))
    assert opened.runtime == "executorch" and opened.device == "cpu" and opened.sample_shape == (1, 40)
    assert opened.notes == []  # pi5 lists executorch
    x = np.random.default_rng(1).standard_normal((37, 1, 40)).astype(np.float32)  # over the planned batch: split
    expected = TorchPredictor(load_torch_model("mobile-tiny", None).module).predict(x)
    for got, want in zip(opened.predictor.predict(x), expected):
        assert got.shape == want.shape and np.max(np.abs(got - want)) < 1e-3
    del opened  # once no program holds the process-wide pool at 2, a program opens on the count it asks for
    assert open_model(out, load_target("x86-cpu"), threads=1).threads == 1


@pytest.mark.slow  # lowering mobile-tiny takes ~40 s of CPU on 2 cores; CI runs it
def test_eval_and_bench_open_it_like_any_variant(mc, fp32_pte, tmp_path):
    out, _ = fp32_pte
    result = mc("eval", out, "--reference", "mobile-tiny")
    assert result.exit_code == 0, result.stderr
    assert "top-1 agreement 100.00%" in result.stdout and "executorch" in result.stdout
    bench_json = tmp_path / "bench.json"
    result = mc("bench", out, "--target", "pi5", "--scenario", "latency", "--duration", "1", "--json", bench_json)
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(bench_json.read_text())
    (variant,) = data["variants"]
    assert variant["status"] == "ok" and variant["runtime"] == "executorch" and variant["accuracy"]["accuracy"] > 0.9
    assert "aarch64" in data["measurement"]["isa_note"] and "kernels" in result.stdout  # x86 kernels for an ARM target


@pytest.mark.slow  # lowering mobile-tiny takes ~40 s of CPU on 2 cores; CI runs it
def test_side_by_side_times_programs_at_different_thread_counts_each_in_a_process_of_its_own(fp32_pte, tmp_path):
    """`mc run`'s side-by-side timing of an mc optimize folder that runs on 1 thread beside a program on
    2: in one process the second would be held to the first's XNNPACK pool (one per process)."""
    import shutil

    from mc.recipes.timing import measure
    from mc.report.build import _relative_figures

    out, _ = fp32_pte
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    for path in (out, Path(str(out) + ".json")):
        shutil.copy(path, tuned / path.name)
    (tuned / "artifact.json").write_text(json.dumps({"file": out.name, "threads": 1}))
    timing = measure({"tuned": str(tuned), "plain": str(out)}, 2, None, reference="plain", max_seconds=1)
    assert timing["variant_threads"] == {"tuned": 1, "plain": 2}
    assert "worker process of its own" in timing["method"] and timing["ratios"]["tuned"]["ratio"] > 0
    figures: dict = {}
    _relative_figures(figures, {}, "tuned", "plain", timing)
    assert "interleaved with plain, each in a worker process of its own (this one on 1 thread(s), plain on 2)" in figures["speedup"].source


def test_a_missing_extra_is_one_line_naming_it(tmp_path):
    code = ("import sys; sys.modules['executorch'] = None; from mc_cli.main import main; "
            f"sys.argv = ['mc', 'compile', 'mobile-tiny', '--backend', 'executorch', '-o', {str(tmp_path / 'm.pte')!r}]; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "ExecuTorch" in lines[0] and "pip install 'mc[executorch]'" in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--precision", "fp16"], "fp16 is not offered for executorch"),
        (["--device", "cuda"], "--device cuda is not offered for --backend executorch"),
        (["--int8-mode", "dynamic"], "--int8-mode dynamic is offered only with --precision int8"),
        (["--precision", "int8", "--fp32-module", "nope"], "fp32 modules nope are not modules of this model"),
        (["--max-accuracy-drop", "1"], "--max-accuracy-drop applies to --precision int8 only"),
        (["--max-batch", "0"], "--max-batch: Input should be greater than or equal to 1"),
        (["--model", "nope.onnx"], "model not found: nope.onnx"),  # missing, before "ONNX is not what it compiles"
    ],
)
def test_bad_options_are_one_line_errors(mc, tmp_path, args, fragment):
    model = args[args.index("--model") + 1] if "--model" in args else "mobile-tiny"
    args = [arg for arg in args if arg not in ("--model", model)]
    result = mc("compile", model, "--backend", "executorch", *args, "-o", tmp_path / "m.pte")
    assert_one_line_error(result, 2, fragment)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_int8_static_pt2e_with_an_fp32_module_agrees_with_the_source(mc, small_factory, tmp_path):
    out = tmp_path / "int8-static.pte"
    result = mc("compile", small_factory, "--backend", "executorch", "--precision", "int8", "--fp32-module", "head", "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    record = json.loads(Path(str(out) + ".json").read_text())
    parity, settings = record["metrics"]["parity"], record["metrics"]["settings"]
    assert parity["gate"] == "top1_agreement" and parity["top1_agreement"] >= 0.97
    assert settings["quantization"]["quantizer"] == "XNNPACKQuantizer" and "static" in settings["quantization"]["config"]
    assert settings["quantization"]["fp32_modules"] == ["head"] and settings["quantization"]["calibration_samples"] == 256
    assert settings["delegation"]["delegated_subgraphs"] >= 1
    assert settings["costs"]["flops_by_precision"] == {"int8": 2.0 * 8 * 40 * 3, "fp32": 2.0 * 320 * 10}  # the head's in fp32


@pytest.mark.slow
def test_int8_dynamic_needs_no_calibration(mc, small_factory, tmp_path):
    out = tmp_path / "dynamic.pte"
    result = mc("compile", small_factory, "--backend", "executorch", "--precision", "int8", "--int8-mode", "dynamic", "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    record = json.loads(Path(str(out) + ".json").read_text())
    quantization = record["metrics"]["settings"]["quantization"]
    assert "dynamic" in quantization["config"] and quantization["calibration_samples"] == 0
    assert "calibration" not in record["pass"]["config"] or record["pass"]["config"]["int8_mode"] == "dynamic"


@pytest.mark.slow
def test_a_recipe_compiles_benches_and_reports_executorch_and_openvino(mc, small_factory, tmp_path):
    pytest.importorskip("openvino")
    recipe = tmp_path / "edge.yaml"  # a two-layer factory: lowering mobile-tiny's int8 alone takes minutes on 2 cores
    recipe.write_text(
        f"name: edge\nmodel: {small_factory}\ntarget: x86-cpu\nreference: fp32\nvariants:\n  fp32: [export]\n"
        "  et-int8:\n    - compile: {backend: executorch, precision: int8}\n"
        "  ov-fp32:\n    - compile: {backend: openvino}\n"
        "bench: {duration: 1, timing_seconds: 3}\n"
    )
    result = mc("run", recipe, "--out", tmp_path / "reports")
    assert result.exit_code == 0, result.stdout + result.stderr
    run_dir = (tmp_path / "reports" / "edge" / "latest").resolve()
    report = json.loads((run_dir / "report.json").read_text())
    by_name = {variant["name"]: variant for variant in report["variants"]}
    assert set(by_name) == {"fp32", "et-int8", "ov-fp32"}
    runtimes = {name: json.dumps(variant) for name, variant in by_name.items()}
    assert '"executorch"' in runtimes["et-int8"] and '"openvino"' in runtimes["ov-fp32"]
    assert any(path.suffix == ".bin" for path in run_dir.rglob("*")), "the IR's weights travel with the run"


def test_the_sensitivity_ranking_scores_every_linear_and_conv_module_quantized_alone(small_factory):
    """mc's ranking for PT2E: one SQNR per linear or convolution module, the most sensitive first, each a real
    quantized run (finite where the quantizer took the module, so its logits moved; XNNPACK's
    quantizer leaves a 1-d convolution alone, which ranks last)."""
    from mc.compilation._backend import BuildRequest
    from mc.compilation.executorch import _quantized_module_types, rank_sensitive_modules
    from mc.data.calibration import default_calibration
    from mc.data.mnist1d import INPUT_SHAPE
    from mc.models.source import load_torch_model

    source = load_torch_model(small_factory)
    linear = [name for name, module in source.module.named_modules() if isinstance(module, _quantized_module_types())]
    request = BuildRequest(source=source, module=source.module, output=Path("unused.pte"), precision="int8", device="cpu",
                           opt_batch=1, max_batch=8, calibration=default_calibration(INPUT_SHAPE), evaluation=None)  # type: ignore[arg-type]
    x = default_calibration(INPUT_SHAPE)[:64]
    ranking = rank_sensitive_modules(request, x)
    assert sorted(row["module"] for row in ranking) == sorted(linear)
    scores = [row["sqnr_db"] for row in ranking if row["sqnr_db"] is not None]  # None: the quantizer left it alone
    assert scores and all(isinstance(score, float) and 10 < score < 100 for score in scores) and scores == sorted(scores)
    assert [row["sqnr_db"] for row in ranking[: len(scores)]] == scores  # the untouched ones last
    kept = dataclasses.replace(request, fp32_modules=(ranking[0]["module"],))
    assert ranking[0]["module"] not in {row["module"] for row in rank_sensitive_modules(kept, x)}


@pytest.mark.slow
def test_int8_within_a_budget_keeps_the_most_sensitive_modules_in_fp32_until_it_fits(mc, small_factory, tmp_path):
    out = tmp_path / "budget.pte"
    result = mc("compile", small_factory, "--backend", "executorch", "--precision", "int8", "--max-accuracy-drop", "0",
                "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    control = json.loads(Path(str(out) + ".json").read_text())["metrics"]["settings"]["quantization"]["accuracy_control"]
    assert control["selection"].endswith("validation split (seed 0)")  # never the test set
    assert control["tried"][0]["fp32_modules"] == [] and control["tried"][-1]["accuracy_drop_points"] <= 0
    if len(control["tried"]) > 1:  # the whole model missed: the ranking decided what went back to fp32
        ranked = [row["module"] for row in control["ranking"]]
        assert control["kept_fp32"] == ranked[: len(control["kept_fp32"])]


def test_modules_too_small_to_be_layers_stay_fp32():
    from mc.compilation.executorch import tail_modules
    from mc.models.source import untrained_zoo_model

    assert tail_modules(untrained_zoo_model("mobile-tiny").module) == ["confidence_head.from_top"]
