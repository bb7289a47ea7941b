"""Hugging Face text models: a tiny BERT-style model built here (no downloads) through export,
quantization and the text bench, the memory-augmented transformer, and the one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import Mc, assert_one_line_error

pytest.importorskip("transformers", reason="the hf extra is part of the test extra: pip install -e '.[test]'")
pytest.importorskip("optimum.exporters.onnx")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hf")


@pytest.fixture(scope="module")
def tiny(tiny_bert) -> Path:
    return tiny_bert


@pytest.fixture(scope="module")
def exported(work, tiny) -> Path:
    result = Mc()("export", tiny, "-o", work / "fp32")
    assert result.exit_code == 0, result.stderr + result.stdout
    return work / "fp32"


@pytest.fixture(scope="module")
def quantized(work, exported) -> Path:
    result = Mc()("quantize", exported, "--mode", "dynamic", "-o", work / "int8")
    assert result.exit_code == 0, result.stderr + result.stdout
    return work / "int8"


def _sidecar(directory: Path) -> dict:
    return json.loads((directory / "model.onnx.json").read_text())


def test_export_keeps_tokenizer_beside_a_verified_model(exported, tiny):
    files = {path.name for path in exported.iterdir()}
    assert {"model.onnx", "model.onnx.json", "tokenizer.json", "vocab.txt", "config.json"} <= files
    record = _sidecar(exported)
    assert record["pass"]["name"] == "export" and record["pass"]["config"]["task"] == "feature-extraction"
    assert record["metrics"]["exporter"] == "optimum"
    assert record["metrics"]["optimum_check"]["passed"]
    parity = record["metrics"]["parity"]
    assert parity["passed"] and 0 < parity["max_abs_diff"]["last_hidden_state"] <= 1e-4
    assert parity["pooled"]["min_cosine"] > 0.9999
    assert record["model"]["outputs"] == ["last_hidden_state"] and "input_ids" in record["model"]["inputs"]
    assert record["parent"]["source"] == str(tiny)
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_runtime_tokenizer_matches_transformers(exported):
    from mc.runtimes.text import encode
    from mc.models.hf_directory import load_tokenizer
    from mc.runtimes.tokenizer import FastTokenizer
    from mc.data.text import default_corpus

    texts = list(default_corpus().paragraphs[:12])
    for pad_to_max in (False, True):
        ours, theirs = encode(FastTokenizer(exported), texts, 48, pad_to_max), encode(load_tokenizer(exported), texts, 48, pad_to_max)
        assert set(ours) == set(theirs) and all(np.array_equal(ours[k], theirs[k]) for k in theirs)


def test_dynamic_quantization_int8_weights_and_embeddings_faithful_on_real_text(quantized, exported):
    from mc.runtimes.text import TextSession, TextSet, cosine_fidelity, embed_all
    from mc.runtimes.tokenizer import load_runtime_tokenizer
    from mc.data.text import default_corpus

    assert (quantized / "tokenizer.json").is_file()
    metrics = _sidecar(quantized)["metrics"]
    assert metrics["precision"]["summary"]["MatMul"]["int8"] >= 8  # 4 weight MatMuls x 2 layers at least
    assert metrics["precision"]["embedding_tables"]["int8"] == metrics["precision"]["embedding_tables"]["tables"] == 3
    assert metrics["size"]["ratio"] < 0.6
    fidelity = metrics["fidelity"]
    assert fidelity["texts"] == 128 and 0.99 <= fidelity["min_cosine"] <= fidelity["mean_cosine"] < 1.0
    # The sidecar's figure, recomputed here from the two files on texts of the evaluation part.
    _, texts = default_corpus().split(0, 128)
    batch = TextSet.of(load_runtime_tokenizer(exported), texts, 128)
    again = cosine_fidelity(embed_all(TextSession(exported / "model.onnx"), batch), embed_all(TextSession(quantized / "model.onnx"), batch))
    assert again["mean_cosine"] == pytest.approx(fidelity["mean_cosine"], abs=1e-6)


def test_auto_keeps_fp32_when_no_candidate_meets_the_budget(work, exported, mc):
    output = work / "auto-strict"
    result = mc("quantize", exported, "--mode", "auto", "--min-mean-cosine", "1.0", "--min-cosine", "1.0", "-o", output)
    assert result.exit_code == 0, result.stderr + result.stdout
    search = _sidecar(output)["metrics"]["search"]
    rows = {row["label"]: row for row in search["candidates"]}
    fp32 = next(row for row in rows.values() if row["plan"] is None)
    assert len(rows) == 5 and fp32["reason"] == "kept" and "kept fp32" in search["verdict"]
    int8 = [row for row in rows.values() if row["plan"] is not None]
    assert all(row["mean_cosine"] < 1.0 and not row["within_budget"] and row["latency_ms"] > 0 for row in int8)
    assert any("Gather" in row["label"] for row in int8)
    assert all("reduce_range" in row["label"] for row in int8) == _target_reduce_range()
    assert (output / "model.onnx").read_bytes() == (exported / "model.onnx").read_bytes()


def _target_reduce_range() -> bool:
    from mc.targets import load_target

    return load_target("x86-cpu").quantization.reduce_range


def test_text_and_mnist1d_models_bench_together(exported, quantized, mc, work):
    result = mc("bench", exported, quantized, "mobile-tiny", "--target", "x86-cpu", "--scenario", "latency", "--duration", "0.3",
                "--queries", "20", "--warmup", "2", "--json", work / "bench.json")
    assert result.exit_code == 0, result.stderr + result.stdout
    report = json.loads((work / "bench.json").read_text())
    assert report["schema"] == "mc.bench/2"
    reference, int8, tiny = report["variants"]
    assert [v["workload"] for v in report["variants"]] == ["text", "text", "pipeline"]
    assert reference["fidelity"]["reference"] == str(exported) and reference["fidelity"]["min_cosine"] == pytest.approx(1.0)
    assert 0.99 <= int8["fidelity"]["mean_cosine"] < 1.0 and int8["fidelity"]["texts"] == 128
    for variant in (reference, int8):
        measured = variant["measured"]
        assert set(measured["latency_by_length_ms"]) == {"16", "64", "128"}
        assert all(v["p50"] > 0 and v["count"] == 20 for v in measured["latency_by_length_ms"].values())
        assert measured["model_latency_ms"] == measured["latency_by_length_ms"]["64"]
        assert 10 < variant["peak_rss_mb"] < 2048 and not variant["worker"]["torch_imported"]
        assert variant["runtime"] == "onnxruntime" and variant["accuracy"] is None and variant["estimated"] is None
        assert variant["budgets"]["latency_p99_ms"]["budget"] > 0
    assert int8["size_bytes"] / reference["size_bytes"] < 0.6
    assert tiny["runtime"] == "torch" and tiny["accuracy"]["accuracy"] >= 0.9 and tiny["measured"]["scenario"]["requests"] >= 20
    assert "128 tok" in result.stdout and "p99 ms" in result.stdout


def test_a_text_artifact_opens_as_a_text_predictor(exported):
    from mc.runtimes import open_model
    from mc.targets import load_target

    opened = open_model(exported, load_target("x86-cpu"), threads=1)
    assert opened.workload == "text" and opened.sample_shape is None and opened.runtime == "onnxruntime"
    assert opened.size_bytes == (exported / "model.onnx").stat().st_size and opened.threads == 1
    feeds = opened.example_input()
    assert feeds["input_ids"].shape == (1, 64) and feeds["input_ids"].dtype == np.int64 and feeds["attention_mask"].all()
    (hidden,) = opened.predictor.predict(feeds)
    assert hidden.shape == (1, 64, 32)
    assert open_model(exported / "model.onnx").workload == "text"


def test_side_by_side_timing_times_text_models_in_their_own_group(exported, quantized):
    import torch

    from mc.recipes.timing import measure

    timing = measure({"fp32": str(exported), "int8": str(quantized), "tiny": "mobile-tiny"}, torch.get_num_threads(), None)
    assert set(timing["median_ms"]) == {"fp32", "int8", "tiny"} and all(ms > 0 for ms in timing["median_ms"].values())
    assert timing["workload"] == {"fp32": "text", "int8": "text", "tiny": "pipeline"}
    assert "each workload (pipeline, text) timed in its own rounds" in timing["method"] and timing["batch"] == 1


def test_memory_transformer_ring_buffer_retrieval_and_confidence(tiny):
    import torch

    from mc.models.memory_transformer import MemoryTransformerConfig, build_memory_transformer
    from mc.models.hf_directory import load_tokenizer
    from mc.data.text import default_corpus

    model = build_memory_transformer(MemoryTransformerConfig(backbone=str(tiny), memory_slots=8, top_k=3))
    tokenizer = load_tokenizer(tiny)
    texts = list(default_corpus().paragraphs[:12])
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        embedding, confidence, query = model(encoded["input_ids"], encoded["attention_mask"])
    assert torch.allclose(embedding, query, atol=1e-6)  # nothing remembered: the backbone's own embedding
    assert torch.all(confidence < 0.05)

    model.remember(encoded["input_ids"][:10], encoded["attention_mask"][:10])  # 10 rows into 8 slots
    assert model.memory.size == 8 and int(model.memory.pointer) == 2 and int(model.memory.written) == 10
    assert torch.allclose(model.memory.keys[0], query[8], atol=1e-5) and torch.allclose(model.memory.keys[2], query[2], atol=1e-5)
    before = model.memory.keys.clone()
    model.memory.write(query[11:12], query[11:12])  # O(1): exactly the next slot changes
    changed = (model.memory.keys != before).any(dim=1)
    assert changed.tolist() == [False, False, True] + [False] * 5 and int(model.memory.pointer) == 3

    with torch.no_grad():
        embedding, confidence, _ = model(encoded["input_ids"], encoded["attention_mask"])
    assert confidence[11] > 0.9  # remembered: its best match is itself
    assert not torch.allclose(embedding, query, atol=1e-4)  # the recalled memories were integrated


def test_memory_transformer_exports_with_memory_as_inputs(tiny, work):
    from mc.runtimes.text import TextSession, encode
    from mc.passes import PassContext, run_pass
    from mc.passes.export import ExportConfig
    from mc.models.memory_transformer import MemoryTransformerConfig, build_memory_transformer
    from mc.runtimes.tokenizer import load_runtime_tokenizer
    from mc.data.text import default_corpus
    from mc.passes._export_text import export_memory_model

    model = build_memory_transformer(MemoryTransformerConfig(backbone=str(tiny), memory_slots=16))
    record = export_memory_model(ExportConfig(), model, work / "memory", PassContext.for_target(), "memory test")
    assert record.model["inputs"] == ["input_ids", "attention_mask", "memory_keys", "memory_values", "memory_valid"]
    parity = record.metrics["parity"]
    assert parity["passed"] and parity["remembered_texts"] > 16  # the ring wrapped around
    session = TextSession(work / "memory" / "model.onnx")
    texts = list(default_corpus().paragraphs[:3])
    batch = encode(load_runtime_tokenizer(work / "memory"), texts, 64)
    empty = session.run(batch)
    session.remember(batch)
    filled = session.run(batch)
    assert np.all(filled["confidence"] > 0.9) and np.all(empty["confidence"] < 0.05)
    assert (work / "memory" / "tokenizer.json").is_file()

    # The exported wrapper quantizes like any text model (each copy fills its own memory when judged).
    result = Mc()("quantize", work / "memory", "--mode", "dynamic", "-o", work / "memory-int8")
    assert result.exit_code == 0, result.stderr + result.stdout
    metrics = _sidecar(work / "memory-int8")["metrics"]
    assert metrics["precision"]["summary"]["MatMul"]["int8"] >= 8 and metrics["fidelity"]["mean_cosine"] >= 0.99


def test_text_dispatch_names_every_text_model_of_the_zoo():
    from mc.artifact import TEXT_ZOO_MODELS, kind_of_spec
    from mc.models import get_model_entry, model_names

    assert set(TEXT_ZOO_MODELS) == {name for name in model_names() if get_model_entry(name).modality == "text"}
    assert kind_of_spec("memory-minilm") == "text-torch" and kind_of_spec("mobile-small") == "torch"
    assert kind_of_spec("no/such.onnx") == "onnx"


def test_models_lists_the_memory_transformer(mc, tmp_path):
    result = mc("models", "--json", tmp_path / "models.json")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads((tmp_path / "models.json").read_text())}
    row = rows["memory-minilm"]
    assert row["modality"] == "text" and row["checkpoint_kind"] == "pretrained backbone"
    assert 22_000_000 < row["parameters"] < 24_000_000  # all-MiniLM-L6-v2 (22.7 M) + integration + confidence head


def test_a_failed_check_writes_nothing(work, tiny, mc):
    output = work / "strict"
    result = mc("export", tiny, "-o", output, "--tolerance", "1e-12")
    line = assert_one_line_error(result, 1, "nothing was written")
    assert "check failed" in line or "parity on real text failed" in line
    assert not output.exists() and not [p for p in work.iterdir() if p.name.startswith(".strict")]


@pytest.mark.parametrize("breakage, fragment", [
    ("no-config", "has no config.json"),
    ("bad-json", "not valid JSON"),
    ("no-weights", "has no weights"),
    ("no-tokenizer", "has no tokenizer"),
])
def test_a_bad_hf_directory_is_one_line(tiny, tmp_path, mc, breakage, fragment):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny, broken)
    if breakage == "no-config":
        (broken / "config.json").unlink()
    elif breakage == "bad-json":
        (broken / "config.json").write_text("{not json")
    elif breakage == "no-weights":
        (broken / "model.safetensors").unlink()
    else:
        for name in ("tokenizer.json", "vocab.txt"):
            (broken / name).unlink()
    result = mc("export", broken, "-o", tmp_path / "out")
    assert_one_line_error(result, 2, fragment)
    assert not (tmp_path / "out").exists()


def test_text_model_usage_errors_are_one_line(exported, tiny, tmp_path, mc):
    assert_one_line_error(mc("export", tiny, "-o", tmp_path / "model.onnx"), 2, "written as a directory")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert_one_line_error(mc("export", tiny, "-o", tmp_path / "busy"), 2, "other files in it")
    assert_one_line_error(mc("quantize", exported, "--mode", "static"), 2, "mode dynamic or auto")
    assert_one_line_error(mc("bench", exported, "--target", "x86-cpu", "--workload", "pipeline"), 2, "not the pipeline one")
    assert_one_line_error(mc("export", exported, "-o", tmp_path / "again"), 2, "already exported")
    assert_one_line_error(mc("prune", "memory-minilm", "--amount", "0.5"), 2, "needs a torch model")
    assert_one_line_error(mc("train", "memory-minilm"), 2, "needs a torch model")


def test_missing_extra_names_the_install_command(tiny, tmp_path, mc, monkeypatch):
    monkeypatch.setitem(sys.modules, "optimum.exporters.onnx", None)  # import fails as on a host without the extra
    result = mc("export", tiny, "-o", tmp_path / "out")
    line = assert_one_line_error(result, 2, "pip install 'mc[hf]'")
    assert "optimum" in line and not (tmp_path / "out").exists()
