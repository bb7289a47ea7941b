"""Recipes: validation with file and line, `extends:`, the shipped recipes, and the artifact cache."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mc.errors import InputError
from mc.recipes.cache import ArtifactCache, cache_key
from mc.recipes.loader import load_recipe, shipped_recipe_names
from mc.recipes.runner import select_variants
from conftest import assert_one_line_error

GOOD = """\
name: demo
model: mobile-tiny
target: x86-cpu
variants:
  fp32: [export]
  dyn:
    - export
    - quantize: {mode: dynamic}
bench: {duration: 2}
gates: {max_accuracy_drop: 1.0}
"""


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_recipe(str(path))
    return str(caught.value)


def test_shipped_recipes_all_load_with_their_targets():
    names = shipped_recipe_names()
    assert {"quickstart", "pi5", "jetson-orin-nano", "x86-cpu", "gpu"} <= set(names)
    assert "_base" not in names  # only there to be extended
    for name in names:
        recipe = load_recipe(name)
        assert recipe.reference_variant in recipe.variants
        if name != "quickstart":
            assert recipe.target == name
            assert recipe.gates.max_p99_ms == 100 and recipe.bench.duration >= 662 / 20  # inherited from _base


def test_a_good_recipe_parses_into_typed_steps(tmp_path):
    recipe = load_recipe(str(write(tmp_path, GOOD)))
    assert recipe.reference_variant == "fp32"
    steps = recipe.variants["dyn"]
    assert [step.pass_name for step in steps] == ["export", "quantize"]
    assert steps[1].config.mode == "dynamic" and steps[1].config.backend == "onnxruntime"


def test_unknown_key_in_a_step_names_file_line_and_the_nearest_key(tmp_path):
    path = write(tmp_path, GOOD.replace("{mode: dynamic}", "{mod: dynamic}"))
    message = error_of(path)
    assert message.startswith(f"{path}:8: variants.dyn[1].quantize.mod: unknown key 'mod'")
    assert "did you mean 'mode'?" in message


def test_unknown_top_level_key_and_unknown_pass_suggest_the_nearest(tmp_path):
    assert "did you mean 'variants'?" in error_of(write(tmp_path, GOOD.replace("variants:", "variant:")))
    message = error_of(write(tmp_path, GOOD.replace("- quantize:", "- quantise:")))
    assert ":8:" in message and "unknown pass 'quantise'" in message and "did you mean 'quantize'?" in message


def test_a_wrong_type_is_named_with_its_line(tmp_path):
    message = error_of(write(tmp_path, GOOD.replace("max_accuracy_drop: 1.0", "max_accuracy_drop: lots")))
    assert ":10: gates.max_accuracy_drop:" in message and "valid number" in message and "'lots'" in message
    message = error_of(write(tmp_path, GOOD.replace("{mode: dynamic}", "{mode: turbo}")))
    assert ":8: variants.dyn[1].quantize.mode:" in message and "'turbo'" in message


def test_unknown_target_or_zoo_model_is_named_with_its_line(tmp_path):
    message = error_of(write(tmp_path, GOOD.replace("target: x86-cpu", "target: pi6")))
    assert ":3: target: unknown target 'pi6'" in message and "did you mean 'pi5'?" in message
    message = error_of(write(tmp_path, GOOD.replace("model: mobile-tiny", "model: mobile-tinny")))
    assert ":2: model:" in message and "mobile-tiny" in message


def test_duplicate_keys_are_refused_not_silently_overwritten(tmp_path):
    message = error_of(write(tmp_path, GOOD.replace("target: x86-cpu\n", "target: x86-cpu\ntarget: pi5\n")))
    assert ":4: target: duplicate key (first written at line 3)" in message


def test_a_pass_in_the_wrong_order_says_where_it_belongs(tmp_path):
    text = GOOD.replace("    - quantize: {mode: dynamic}", "    - prune: {amount: 0.5}")
    message = error_of(write(tmp_path, text))
    assert ":8: variants.dyn[1]: `prune` gets an ONNX model here" in message and "put it before `export`" in message
    message = error_of(write(tmp_path, GOOD.replace("  fp32: [export]", "  fp32: [{quantize: {mode: static}}]")))
    assert "variants.fp32[0]: `quantize` gets a torch model" in message and "put `export` before it" in message


def test_a_p99_gate_needs_a_run_long_enough_for_a_p99(tmp_path):
    message = error_of(write(tmp_path, GOOD.replace("max_accuracy_drop: 1.0", "max_p99_ms: 100")))
    assert ":10: gates.max_p99_ms:" in message and "662 requests" in message and "set bench.duration to 33" in message


def test_reference_must_be_a_variant(tmp_path):
    message = error_of(write(tmp_path, GOOD.replace("target: x86-cpu", "target: x86-cpu\nreference: fp16")))
    assert ":4: reference:" in message and "'fp16' is not one of the variants (fp32, dyn)" in message


def test_extends_merges_overrides_and_drops_with_null(tmp_path):
    write(tmp_path, GOOD, "base.yaml")
    child = write(tmp_path, """\
        extends: base.yaml
        name: child
        target: pi5
        variants:
          dyn: null
          static:
            - export
            - quantize: {mode: static, method: entropy}
        gates: {min_agreement: 0.97}
        """, "child.yaml")
    recipe = load_recipe(str(child))
    assert recipe.name == "child" and recipe.target == "pi5" and recipe.model == "mobile-tiny"
    assert list(recipe.variants) == ["fp32", "static"]
    assert recipe.variants["static"][1].config.method == "entropy"
    assert recipe.gates.max_accuracy_drop == 1.0 and recipe.gates.min_agreement == 0.97
    # an error in what was inherited points at the parent file
    write(tmp_path, GOOD.replace("{mode: dynamic}", "{mode: dynamic, per_chanel: true}"), "base.yaml")
    child.write_text(child.read_text().replace("  dyn: null\n", ""))
    assert error_of(child).startswith(f"{tmp_path / 'base.yaml'}:8: variants.dyn[1].quantize.per_chanel")


def test_extends_cycles_and_missing_parents_are_clear(tmp_path):
    write(tmp_path, "extends: b.yaml\nname: a\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\nname: b\n", "b.yaml")
    assert "extends itself" in error_of(tmp_path / "a.yaml")
    message = error_of(write(tmp_path, "extends: nowhere.yaml\n" + GOOD, "c.yaml"))
    assert ":1: extends: recipe not found: nowhere.yaml" in message


def test_only_keeps_the_reference_and_rejects_unknown_variants(tmp_path):
    recipe = load_recipe(str(write(tmp_path, GOOD)))
    assert select_variants(recipe, ["dyn"]) == (["fp32", "dyn"], "added the reference variant 'fp32': drops and ratios are measured against it")
    with pytest.raises(InputError, match="did you mean 'dyn'"):
        select_variants(recipe, ["dym"])


def test_cli_reports_recipe_errors_in_one_line(mc, tmp_path):
    assert_one_line_error(mc("run", tmp_path / "missing.yaml"), 2, "recipe not found")
    assert_one_line_error(mc("run", "quickstrat"), 2, "did you mean 'quickstart'?")
    bad = write(tmp_path, GOOD.replace("{mode: dynamic}", "{mod: dynamic}"))
    assert_one_line_error(mc("run", bad, "--out", tmp_path / "reports"), 2, "unknown key 'mod'")
    assert not (tmp_path / "reports").exists()
    broken = write(tmp_path, "name: x\nvariants: [\n", "broken.yaml")
    assert_one_line_error(mc("run", broken), 2, "not valid YAML")


# -- the cache -------------------------------------------------------------------------------------

def test_cache_key_changes_with_parent_config_and_inputs():
    base = cache_key("a" * 64, "quantize", {"mode": "dynamic"}, {"calibration": "x"})
    assert base == cache_key("a" * 64, "quantize", {"mode": "dynamic"}, {"calibration": "x"})
    assert base != cache_key("b" * 64, "quantize", {"mode": "dynamic"}, {"calibration": "x"})
    assert base != cache_key("a" * 64, "quantize", {"mode": "static"}, {"calibration": "x"})
    assert base != cache_key("a" * 64, "quantize", {"mode": "dynamic"}, {"calibration": "y"})
    assert base != cache_key("a" * 64, "export", {"mode": "dynamic"}, {"calibration": "x"})


def test_cache_step_inputs_follow_the_calibration_file_content(tmp_path):
    import dataclasses

    import dataclasses

    import numpy as np

    from mc.progress import SilentProgress
    from mc.recipes.chain import ChainContext
    from mc.targets import load_target

    calibration = tmp_path / "calibration.npy"
    np.save(calibration, np.zeros((32, 1, 40), np.float32))
    recipe = load_recipe(str(write(tmp_path, GOOD.replace("target: x86-cpu", f"target: x86-cpu\ncalibration: {calibration}"))))
    target = load_target("x86-cpu")
    context = ChainContext(recipe, target, 1, SilentProgress())
    dynamic = recipe.variants["dyn"][1]
    parent = dataclasses.replace(context.source, kind="onnx")  # what `export` hands the quantize step
    assert "calibration" not in context.step_inputs(dynamic, parent, first=False)  # dynamic int8 never reads it
    step = load_recipe(str(write(tmp_path, GOOD.replace("{mode: dynamic}", "{mode: static}")))).variants["dyn"][1]
    before = context.step_inputs(step, parent, first=False)
    np.save(calibration, np.ones((32, 1, 40), np.float32))  # same path, new content
    after = context.step_inputs(step, parent, first=False)
    assert before["calibration"] != after["calibration"]
    assert "host" not in before  # a static quantization measures no time: shareable across hosts
    auto = load_recipe(str(write(tmp_path, GOOD.replace("{mode: dynamic}", "{mode: auto}")))).variants["dyn"][1]
    assert "host" in context.step_inputs(auto, parent, first=False)  # a measured search is valid only where measured


def test_cache_never_returns_a_damaged_or_unfinished_entry(tmp_path):
    cache = ArtifactCache(tmp_path / "cache")
    key = "f" * 64
    with cache.produce(key, "model.onnx", {"pass": "test"}) as output:
        output.write_bytes(b"model bytes")
    hit = cache.lookup(key)
    assert hit is not None and hit.path.read_bytes() == b"model bytes"
    hit.path.write_bytes(b"tampered")
    assert cache.lookup(key) is None  # re-hashed against its entry: dropped, the step runs again
    other = "e" * 64
    with pytest.raises(KeyboardInterrupt):
        with cache.produce(other, "model.onnx", {"pass": "test"}) as output:
            output.write_bytes(b"half")
            raise KeyboardInterrupt
    assert cache.lookup(other) is None
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]


def test_recommendation_is_the_fastest_passing_variant_and_noise_never_decides_alone():
    from mc.report.build import recommend
    from mc.report.schema import Figure, Gate, Variant

    def variant(name: str, ratio: float, size: float, passed: bool = True) -> Variant:
        figures = {"latency_ratio": Figure(value=ratio, unit="x", method="derived", source="test"),
                   "size_mb": Figure(value=size, unit="MB", method="counted", source="test")}
        gates = [Gate(name="max_accuracy_drop", limit=1.0, unit="pt", value=0.0 if passed else 2.0, passed=passed)]
        return Variant(name=name, status="ok", figures=figures, gates=gates)

    ref, small, fast = variant("fp32", 1.0, 1.0), variant("int8", 0.98, 0.5), variant("pruned", 0.7, 0.9)
    assert recommend([ref, small, fast], "fp32").variant == "pruned"  # clearly fastest
    fast_but_failing = variant("pruned", 0.5, 0.2, passed=False)
    assert recommend([ref, small, fast_but_failing], "fp32").variant == "int8"  # ties fp32 on speed, half the size
    tie = recommend([ref, small, variant("pruned", 0.99, 0.9)], "fp32")
    assert tie.variant == "int8" and "indistinguishable on speed" in tie.reason
    nothing = recommend([fast_but_failing], "fp32")
    assert nothing.variant is None and "pruned: fails max_accuracy_drop" in nothing.reason
