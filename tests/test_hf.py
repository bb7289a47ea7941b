"""Hugging Face text models: a tiny BERT-style model built here (no downloads) through export,
quantization and the text bench, the memory-augmented transformer, and the one-line errors."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import Mc, assert_one_line_error

pytest.importorskip("transformers", reason="the hf extra is part of the test extra: pip install -e '.[test]'")
pytest.importorskip("optimum.exporters.onnx")


def _make_tiny_bert(path: Path) -> Path:
    """A 2-layer, 32-wide BERT with a WordPiece vocabulary of real words from the text corpus."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from mc.hf.text import default_corpus

    words = Counter(w for text in default_corpus().paragraphs for w in re.findall(r"[a-z]+|[^\sa-z]", text.lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(word for word, _ in words.most_common(600))
    path.mkdir(parents=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=160)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hf")


@pytest.fixture(scope="module")
def tiny(work) -> Path:
    return _make_tiny_bert(work / "tiny-bert")


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
    assert record["pass"]["name"] == "hf-export" and record["pass"]["config"]["task"] == "feature-extraction"
    assert record["metrics"]["optimum_check"]["passed"]
    parity = record["metrics"]["parity"]
    assert parity["passed"] and 0 < parity["max_abs_diff"]["last_hidden_state"] <= 1e-4
    assert parity["pooled"]["min_cosine"] > 0.9999
    assert record["model"]["outputs"] == ["last_hidden_state"] and "input_ids" in record["model"]["inputs"]
    assert record["parent"]["source"] == str(tiny)
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_runtime_tokenizer_matches_transformers(exported):
    from mc.hf.embeddings import encode
    from mc.hf.source import FastTokenizer, load_tokenizer
    from mc.hf.text import default_corpus

    texts = list(default_corpus().paragraphs[:12])
    for pad_to_max in (False, True):
        ours, theirs = encode(FastTokenizer(exported), texts, 48, pad_to_max), encode(load_tokenizer(exported), texts, 48, pad_to_max)
        assert set(ours) == set(theirs) and all(np.array_equal(ours[k], theirs[k]) for k in theirs)


def test_dynamic_quantization_int8_weights_and_embeddings_faithful_on_real_text(quantized, exported):
    from mc.hf.embeddings import TextSession, TextSet, cosine_fidelity, embed_all
    from mc.hf.source import load_runtime_tokenizer
    from mc.hf.text import default_corpus

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
    assert len(rows) == 5 and rows["fp32"]["reason"] == "kept" and "kept fp32" in search["verdict"]
    int8 = [row for label, row in rows.items() if label != "fp32"]
    assert all(row["mean_cosine"] < 1.0 and not row["within_budget"] and row["latency_ms"] > 0 for row in int8)
    assert any("Gather" in label for label in rows) and all("reduce_range" in label for label in rows if label != "fp32") == \
        _target_reduce_range()
    assert (output / "model.onnx").read_bytes() == (exported / "model.onnx").read_bytes()


def _target_reduce_range() -> bool:
    from mc.targets import load_target

    return load_target("x86-cpu").quantization.reduce_range


def test_text_bench_latency_memory_and_fidelity(exported, quantized, mc, work):
    result = mc("bench", exported, quantized, "--target", "x86-cpu", "--queries", "20", "--warmup", "2", "--json", work / "bench.json")
    assert result.exit_code == 0, result.stderr + result.stdout
    report = json.loads((work / "bench.json").read_text())
    reference, int8 = report["variants"]
    assert reference["is_reference"] and reference["fidelity"]["min_cosine"] == pytest.approx(1.0)
    assert 0.99 <= int8["fidelity"]["mean_cosine"] < 1.0
    for variant in (reference, int8):
        assert set(variant["latency_ms"]) == {"16", "64", "128"} and all(v["p50"] > 0 for v in variant["latency_ms"].values())
        assert 10 < variant["peak_rss_mb"] < 2048 and not variant["torch_imported"]
    assert int8["size_ratio"] < 0.6
    assert "128 tok" in result.stdout


def test_memory_transformer_ring_buffer_retrieval_and_confidence(tiny):
    import torch

    from mc.hf.memory_transformer import MemoryTransformerConfig, build_memory_transformer
    from mc.hf.source import load_tokenizer
    from mc.hf.text import default_corpus

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
    from mc.hf.embeddings import TextSession, encode
    from mc.hf.export import MemoryExportConfig, run_memory
    from mc.hf.memory_transformer import MemoryTransformerConfig, build_memory_transformer
    from mc.hf.source import load_runtime_tokenizer
    from mc.hf.text import default_corpus
    from mc.progress import SilentProgress

    model = build_memory_transformer(MemoryTransformerConfig(backbone=str(tiny), memory_slots=16))
    outcome = run_memory(MemoryExportConfig(), model, work / "memory", default_corpus(), SilentProgress(), "memory test")
    record = _sidecar(work / "memory")
    assert record["model"]["inputs"] == ["input_ids", "attention_mask", "memory_keys", "memory_values", "memory_valid"]
    assert outcome.parity["passed"] and outcome.parity["remembered_texts"] > 16  # the ring wrapped around
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
    from mc.hf.source import TEXT_ZOO_MODELS, is_text_model
    from mc.models import get_model_entry, model_names

    assert set(TEXT_ZOO_MODELS) == {name for name in model_names() if get_model_entry(name).modality == "text"}
    assert is_text_model("memory-minilm") and not is_text_model("mobile-small") and not is_text_model("no/such.onnx")


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
    assert_one_line_error(mc("quantize", exported, "--mode", "static"), 2, "--mode dynamic or --mode auto")
    assert_one_line_error(mc("bench", exported, "mobile-small", "--target", "x86-cpu"), 2, "cannot be benched together")
    assert_one_line_error(mc("export", exported, "-o", tmp_path / "again"), 2, "already an exported text model")
    assert_one_line_error(mc("prune", "memory-minilm", "--amount", "0.5"), 2, "is a text model")
    assert_one_line_error(mc("train", "memory-minilm"), 2, "is a text model")


def test_missing_extra_names_the_install_command(tiny, tmp_path, mc, monkeypatch):
    monkeypatch.setitem(sys.modules, "optimum.exporters.onnx", None)  # import fails as on a host without the extra
    result = mc("export", tiny, "-o", tmp_path / "out")
    line = assert_one_line_error(result, 2, "pip install 'mc[hf]'")
    assert "optimum" in line and not (tmp_path / "out").exists()
