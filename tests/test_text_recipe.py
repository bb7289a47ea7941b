"""A text model is a recipe's model like any other: a local Hugging Face directory (a tiny BERT built
here) through `mc run` with an fp32 and an int8 variant, cached on a second run, reported, and
compared against itself; and the pass declarations the report and compare read."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

RECIPE = """\
name: text-demo
model: {model}
target: x86-cpu
variants:
  fp32: [export]
  int8-dynamic:
    - export
    - quantize: {{mode: dynamic}}
  int8-auto:
    - export
    - quantize: {{mode: auto}}
bench: {{duration: 1, warmup: 2, lengths: [16, 64], text_queries: 100, timing_seconds: 5}}
gates: {{min_mean_cosine: 0.5}}
"""


@pytest.fixture(scope="module")
def text_run(tiny_bert, tmp_path_factory):
    from conftest import Mc

    work = tmp_path_factory.mktemp("text-run")
    recipe = work / "text.yaml"
    recipe.write_text(textwrap.dedent(RECIPE.format(model=tiny_bert)))
    first = Mc()("run", recipe, "--out", work / "reports")
    return work, recipe, first


def _report(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())


def test_a_hugging_face_directory_runs_end_to_end_through_mc_run(text_run):
    work, _, result = text_run
    assert result.exit_code == 0, result.stdout + result.stderr
    report = _report(work / "reports" / "text-demo" / "latest")
    variants = {variant["name"]: variant for variant in report["variants"]}
    assert set(variants) == {"fp32", "int8-dynamic", "int8-auto"}
    for name, variant in variants.items():
        assert variant["status"] == "ok", (name, variant.get("error"))
        assert (work / "reports" / "text-demo" / "latest" / variant["artifact"] / "model.onnx").is_file()
        assert (work / "reports" / "text-demo" / "latest" / variant["artifact"] / "tokenizer.json").is_file()
        assert variant["figures"]["mean_cosine"]["value"] > 0.5 and variant["figures"]["model_p50_ms"]["value"] > 0
    assert variants["fp32"]["figures"]["mean_cosine"]["value"] == pytest.approx(1.0, abs=1e-6)
    dynamic = variants["int8-dynamic"]
    assert dynamic["figures"]["size_ratio"]["value"] < 0.9  # int8 weights: smaller
    assert [step["summary"] for step in dynamic["steps"]] == ["ONNX fp32", "int8 dynamic"]
    assert variants["int8-auto"]["steps"][1]["chosen_by_timing"] and not dynamic["steps"][1]["chosen_by_timing"]
    assert "latency_ratio" in dynamic["figures"]  # timed side by side with the fp32 reference
    markdown = (work / "reports" / "text-demo" / "latest" / "report.md").read_text()
    assert "Embedding cosine to ref" in markdown


def test_a_second_run_is_served_from_the_cache_and_compares_clean(text_run, mc):
    work, recipe, first = text_run
    assert first.exit_code == 0, first.stdout + first.stderr
    base = (work / "reports" / "text-demo" / "latest").resolve()
    second = mc("run", recipe, "--out", work / "reports")
    assert second.exit_code == 0, second.stdout + second.stderr
    new = (work / "reports" / "text-demo" / "latest").resolve()
    assert new != base
    for variant in _report(new)["variants"]:
        assert all(step["cached"] for step in variant["steps"]), variant["name"]
    compared = mc("report", "compare", base / "report.json", new / "report.json", "--latency-tolerance", "1.0")
    assert compared.exit_code == 0, compared.stdout + compared.stderr
    assert "PASS" in compared.stdout


def test_a_text_chain_that_feeds_a_pass_the_wrong_kind_is_refused_with_its_line(tiny_bert, tmp_path, mc):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(textwrap.dedent(f"""\
        name: bad
        model: {tiny_bert}
        variants:
          int8:
            - quantize: {{mode: dynamic}}
        """))
    result = mc("run", recipe)
    assert result.exit_code == 2
    assert "bad.yaml:5" in result.stderr and "put `export` before it" in result.stderr
