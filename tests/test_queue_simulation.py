"""The real-time scenario simulated for a target: against the M/D/1 closed form, the deadline rule
and the real quality controller."""

from __future__ import annotations

import pytest

from mc.bench.queue_simulation import md1_mean_wait_ms, simulate_realtime
from mc.bench.scenarios import ScenarioConfig, arrival_offsets
from mc.pipeline.settings import ProcessorSettings

NO_DEADLINE = ProcessorSettings(target_latency_ms=50, max_latency_ms=1e9, adaptive_quality=False)


@pytest.mark.parametrize("service_ms", [15.0, 30.0, 40.0])
def test_poisson_arrivals_reproduce_the_md1_mean_wait(service_ms):
    arrivals = arrival_offsets(ScenarioConfig(duration_s=3600, rate_hz=20, arrivals="poisson", seed=3))
    run = simulate_realtime(arrivals, service_ms, NO_DEADLINE)
    expected = md1_mean_wait_ms(20, service_ms)  # 1.5 ms, 11.25 ms and 40 ms at utilisation 0.3, 0.6, 0.8
    assert run.dropped == 0 and run.completed == len(arrivals)
    assert run.wait_ms["mean"] == pytest.approx(expected, rel=0.08)
    assert run.latency_ms["mean"] == pytest.approx(expected + service_ms, rel=0.05)
    assert run.latency_ms["p99"] > run.latency_ms["p50"] >= service_ms  # queueing spreads the tail


def test_fixed_arrivals_below_the_interval_never_wait():
    arrivals = arrival_offsets(ScenarioConfig(duration_s=60, rate_hz=20))
    run = simulate_realtime(arrivals, 12.5, NO_DEADLINE)
    assert run.wait_ms["max"] == 0 and run.latency_ms["p99"] == pytest.approx(12.5)


def test_an_overloaded_server_drops_at_the_deadline():
    arrivals = arrival_offsets(ScenarioConfig(duration_s=30, rate_hz=20))  # one every 50 ms
    settings = ProcessorSettings(target_latency_ms=50, max_latency_ms=100, adaptive_quality=False)
    run = simulate_realtime(arrivals, 60.0, settings)
    assert run.dropped > 0 and run.latency_ms["max"] <= 100
    assert run.completed + run.dropped == run.requests == len(arrivals)


def test_the_real_quality_controller_steps_down_to_a_level_that_keeps_up():
    arrivals = arrival_offsets(ScenarioConfig(duration_s=60, rate_hz=20))
    settings = ProcessorSettings(target_latency_ms=50, max_latency_ms=100, recursion_depth=3)  # starts at "standard"
    costs = {"enhanced": 80.0, "standard": 70.0, "reduced": 40.0, "minimal": 30.0}
    run = simulate_realtime(arrivals, costs, settings)
    assert run.final_level == "reduced" and run.quality_changes >= 1
    assert run.requests_at_level["reduced"] > run.requests_at_level["standard"]
    assert run.latency_ms["p50"] == pytest.approx(40.0)  # once it keeps up, no queue is left


def test_md1_refuses_an_unstable_queue():
    with pytest.raises(ValueError, match="stable"):
        md1_mean_wait_ms(20, 50.0)
