import json
import os

import pytest

from mc.errors import InputError
from mc.targets import load_target, target_names


def test_every_shipped_profile_loads_with_the_seed_budgets():
    assert set(target_names()) == {"pi5", "jetson-orin-nano", "x86-cpu", "gpu"}
    for name in target_names():
        profile = load_target(name)
        assert profile.budgets.model_size_mb == 100 and profile.budgets.latency_ms == 100
        assert 1 <= profile.host_threads() <= (os.cpu_count() or 1)


def test_pi5_facts_and_host_resolution():
    pi5 = load_target("pi5")
    assert pi5.isa.arm_dotprod and not pi5.isa.vnni and pi5.threads == 4
    assert pi5.peaks["int8_gops_per_core"] == 153 and not pi5.is_host()
    host = load_target("x86-cpu")
    assert host.cores == os.cpu_count()
    assert host.quantization.reduce_range == (not host.isa.vnni)  # reduce_range exactly where VNNI is missing


def test_unknown_target_and_bad_profile(tmp_path):
    with pytest.raises(InputError, match="did you mean 'pi5'"):
        load_target("pi-5")
    bad = tmp_path / "mine.yaml"
    bad.write_text(open(load_target("pi5").source).read().replace("threads: 4", "threads: 4\nthreadz: 2"))
    with pytest.raises(InputError, match="threadz"):
        load_target(str(bad))


def test_targets_command(mc, tmp_path):
    result = mc("targets", "--json", tmp_path / "t.json")
    assert result.exit_code == 0, result.stderr
    assert {row["name"] for row in json.loads((tmp_path / "t.json").read_text())} == set(target_names())
    assert "pi5" in result.stdout
