"""The real-time meta pipeline, stage by stage and under load: statistics, cache, quality control,
deadlines, monitor and assessor, each checked against what it must do, not against itself."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from pydantic import ValidationError

from mc.bench.control import FixedOutputPredictor
from mc.bench.scenarios import ScenarioConfig, arrival_offsets, run_realtime
from mc.percentiles import min_queries, nearest_rank, summarize
from mc.pipeline import QUALITY_LEVELS, AdaptiveQualityController, MetaPipeline, ProcessorSettings
from mc.pipeline.assessor import QualityAssessor
from mc.pipeline.awareness import RecursiveAwarenessStage, first_order_cues, recurse
from mc.pipeline.cache import LruCache, quantized_state_key
from mc.pipeline.integration import MetaExperience
from mc.pipeline.introspection import choose_focus
from mc.pipeline.monitor import PerformanceMonitor
from mc.pipeline.perception import states_from_outputs
from mc.targets import load_target

SAMPLE = np.zeros((1, 40), np.float32)


class SleepyPredictor:
    """A runtime made slow on purpose: wraps another and sleeps `delay()` seconds per call."""

    name = "sleepy"

    def __init__(self, inner, delay):
        self.inner, self.delay = inner, delay

    def predict(self, batch):
        time.sleep(self.delay())
        return self.inner.predict(batch)


# --- statistics ---------------------------------------------------------------------------------

def test_nearest_rank_percentiles_are_observed_values():
    values = list(range(1, 101))  # 1..100
    assert nearest_rank(values, 50) == 50 and nearest_rank(values, 90) == 90 and nearest_rank(values, 99) == 99
    assert nearest_rank(values, 100) == 100 and nearest_rank(values, 0) == 1
    ten = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 100.0]
    assert nearest_rank(ten, 50) == 2.5  # rank ceil(5) = 5, no interpolation
    assert nearest_rank(ten, 51) == 3.0  # rank ceil(5.1) = 6
    assert nearest_rank(ten, 95) == 100.0  # rank ceil(9.5) = 10
    assert np.percentile(ten, 95) != 100.0  # what interpolation would have reported instead


def test_minimum_queries_follow_the_design_and_null_percentiles_below_them():
    assert min_queries(90) == 64 and min_queries(99) == 662
    assert min_queries(50) == 10 and min_queries(95) == 130
    assert summarize(range(63))["p90"] is None and summarize(range(64))["p90"] == 57
    few = summarize([5.0, 1.0, 3.0])
    assert few == {"count": 3, "mean": 3.0, "p50": None, "p90": None, "p95": None, "p99": None, "max": 5.0}
    full = summarize(float(v) for v in range(1, 1001))
    assert (full["p50"], full["p90"], full["p95"], full["p99"], full["max"]) == (500.0, 900.0, 950.0, 990.0, 1000.0)
    assert summarize([])["mean"] is None


# --- the awareness cache -----------------------------------------------------------------------

def test_cache_keys_never_collide_between_different_states():
    rng = np.random.default_rng(0)
    keys = {}
    for _ in range(3000):
        probabilities = tuple(rng.dirichlet(np.full(10, 0.3)).tolist())
        confidence = float(rng.uniform())
        for depth in (1, 2, 3, 4):
            key = quantized_state_key(probabilities, confidence, depth, 255)
            grid = (tuple(int(p * 255 + 0.5) for p in probabilities), int(confidence * 255 + 0.5), depth)
            assert keys.setdefault(key, grid) == grid  # one key, one grid point
    # The seed's key (process count | confidence to 2 places) would have merged these two:
    a = quantized_state_key((0.9, 0.1), 0.5, 3, 255)
    b = quantized_state_key((0.1, 0.9), 0.5, 3, 255)
    assert a != b
    assert quantized_state_key((0.5, 0.5), 0.5, 2, 255) != quantized_state_key((0.5, 0.5), 0.5, 3, 255)
    # Same grid point, same key (that is what makes it a cache).
    assert quantized_state_key((0.2, 0.8), 0.5, 3, 255) == quantized_state_key((0.2001, 0.7999), 0.5, 3, 255)


def test_lru_cache_is_bounded_and_evicts_least_recently_used_first():
    cache: LruCache[str, int] = LruCache(3)
    for key, value in zip("abc", range(3)):
        cache.put(key, value)
    assert cache.get("a") == 0  # a is now the most recent
    cache.put("d", 3)
    assert cache.keys_oldest_first() == ["c", "a", "d"] and "b" not in cache
    for index, key in enumerate("efghij"):
        cache.put(key, index)
        assert len(cache) == 3
    assert cache.keys_oldest_first() == ["h", "i", "j"]
    assert cache.stats.evictions == 7 and cache.get("a") is None
    summary = cache.summary()
    assert summary["hits"] == 1 and summary["misses"] == 1 and summary["size"] == 3


def test_awareness_cache_hit_returns_exactly_the_fresh_computation():
    stage = RecursiveAwarenessStage(cache_size=8, levels=255, deadline_margin_s=0.0)
    state = states_from_outputs([np.array([[2.0, 0.5, -1.0]]), np.array([0.4])])[0]
    first, hit_first = stage.process(state, 3, math.inf)
    second, hit_second = stage.process(state, 3, math.inf)
    assert (hit_first, hit_second) == (False, True) and first == second
    key = quantized_state_key(state.probabilities, state.confidence, 3, 255)
    assert recurse(first_order_cues(key[:3], key[-2] / 255), 3) == first
    deeper, hit = stage.process(state, 4, math.inf)
    assert not hit and deeper.effective_depth == 4


def test_recursion_pulls_conflicting_cues_toward_no_idea():
    agreeing = recurse((0.95, 0.9, 0.95), 3)
    conflicting = recurse((0.95, 0.9, 0.1), 3)  # the evidence is strong, the self-report is not
    assert agreeing.integrated > 0.85 and abs(conflicting.integrated - 0.5) < abs(agreeing.integrated - 0.5)
    assert [level.level for level in agreeing.levels] == [1, 2, 3]
    cut = recurse((0.9, 0.9, 0.9), 4, out_of_time=lambda: True)
    assert cut.effective_depth == 1  # the first level always runs; later ones stop at the deadline


# --- perception, introspection, assessor ---------------------------------------------------------

def test_perception_turns_outputs_into_states():
    uniform, peaked = states_from_outputs([np.array([[0.0] * 10, [0.0] * 9 + [30.0]]), np.array([0.2, 1.7])])
    assert uniform.certainty == pytest.approx(0.0, abs=1e-9) and uniform.confidence == pytest.approx(0.2)
    assert peaked.predicted == 9 and peaked.certainty > 0.99 and peaked.confidence == 1.0  # clipped to [0, 1]
    assert peaked.margin > 0.99 and peaked.confidence_source == "confidence-head"
    (single,) = states_from_outputs([np.array([[1.0, 3.0, 0.0]])])
    assert single.confidence_source == "max-softmax" and single.confidence == pytest.approx(single.top_probability)


def test_introspection_focus_follows_the_time_left_and_the_quality_cap():
    assert choose_focus(0.050, 3) == "comprehensive"
    assert choose_focus(0.015, 3) == "essential"
    assert choose_focus(0.005, 3) == "minimal"
    assert choose_focus(0.050, 1) == "minimal" and choose_focus(0.050, 2) == "essential"


def test_assessor_stays_within_its_budget_and_reports_what_it_skipped():
    experience = MetaExperience(3, 0.9, 0.9, 0.95, ("confidence", "awareness"), "comprehensive", 3, "standard")
    (state,) = states_from_outputs([np.array([[0.0, 0.0, 0.0, 5.0]]), np.array([0.9])])
    full = QualityAssessor(budget_ms=5.0).assess(experience, state)
    assert full.assessed == 4 and full.depth == 1.0 and full.integration == pytest.approx(2 / 3)
    assert full.authenticity == pytest.approx(1 - abs(0.9 - state.top_probability))
    ticks = itertools.count(step=0.004)  # every clock read advances 4 ms: the 5 ms budget lasts two reads
    hurried = QualityAssessor(budget_ms=5.0, clock=lambda: next(ticks)).assess(experience, state)
    assert hurried.assessed == 1 and hurried.depth is None and hurried.integration is None
    assert hurried.overall == pytest.approx(hurried.coherence)


# --- quality control, settings, monitor ----------------------------------------------------------

def test_quality_controller_steps_down_over_the_limit_and_up_with_headroom():
    controller = AdaptiveQualityController(ProcessorSettings(controller_window=4))
    assert controller.level.name == "standard"
    request = itertools.count()
    for latency, expected in [(150.0, "reduced"), (150.0, "minimal"), (150.0, "minimal"), (70.0, "minimal"),
                              (10.0, "reduced"), (10.0, "standard"), (10.0, "enhanced"), (10.0, "enhanced")]:
        for _ in range(4):
            controller.observe(latency, next(request), 0.0)
        assert controller.level.name == expected
    assert [(c.old, c.new, c.reason) for c in controller.changes] == [
        ("standard", "reduced", "over-limit"), ("reduced", "minimal", "over-limit"),
        ("minimal", "reduced", "headroom"), ("reduced", "standard", "headroom"), ("standard", "enhanced", "headroom"),
    ]
    assert controller.changes[0].request == 3 and controller.changes[0].window_mean_ms == 150.0
    fixed = AdaptiveQualityController(ProcessorSettings(controller_window=1, adaptive_quality=False))
    fixed.observe(500.0, 0, 0.0)
    assert fixed.level.name == "standard" and fixed.changes == []
    assert [level.recursion_depth for level in QUALITY_LEVELS] == [1, 2, 3, 4]


def test_settings_validate_themselves_and_follow_the_target():
    with pytest.raises(ValidationError, match="exceeds max_latency_ms"):
        ProcessorSettings(target_latency_ms=120, max_latency_ms=100)
    with pytest.raises(ValidationError):
        ProcessorSettings(target_rate_hz=0)
    pi5 = ProcessorSettings.for_target(load_target("pi5"), target_rate_hz=30, adaptive_quality=None)
    assert (pi5.max_latency_ms, pi5.target_latency_ms, pi5.memory_limit_mb, pi5.target_rate_hz) == (100, 50, 2048, 30)
    assert pi5.adaptive_quality and pi5.recursion_depth == 3


def test_monitor_raises_the_seed_alerts():
    monitor = PerformanceMonitor(memory_limit_mb=1.0, cores=1, started=0.0)  # 1 MB: any process is over 85 %
    for index in range(20):
        monitor.record(90.0, True, 0.1 * index)
    kinds = {alert.kind for alert in monitor.check(10.0)}
    assert {"high_latency", "low_throughput", "high_memory"} <= kinds  # 20 completions in 10 s = 2 Hz
    calm = PerformanceMonitor(memory_limit_mb=1e9, cores=1, started=0.0)
    for index in range(200):
        calm.record(5.0, True, 0.05 * index)
    assert [alert.kind for alert in calm.check(10.0) if alert.kind != "high_cpu"] == []
    assert calm.summary(10.0)["throughput_hz"] == pytest.approx(20.0, rel=0.01)


# --- deadlines and load ------------------------------------------------------------------------

def test_requests_past_their_deadline_are_dropped_and_counted():
    settings = ProcessorSettings(target_latency_ms=10, max_latency_ms=20)
    pipeline = MetaPipeline(SleepyPredictor(FixedOutputPredictor.seeded(4), lambda: 0.03), settings)
    expired = pipeline.process(SAMPLE, arrival=time.perf_counter() - 0.05)  # waited 50 ms: past its 20 ms deadline
    assert not expired.completed and expired.dropped_at == "perception" and expired.stage_s == ()
    assert expired.latency_ms >= 50
    late = pipeline.process(SAMPLE)  # the model alone takes 30 ms
    assert not late.completed and late.dropped_at == "awareness" and late.stage_s[0] >= 0.03
    on_time = MetaPipeline(FixedOutputPredictor.seeded(4), settings).process(SAMPLE)
    assert on_time.completed and on_time.experience is not None and len(on_time.stage_s) == 5
    assert pipeline.dropped_by_stage == {"perception": 1, "awareness": 1, "confidence": 0, "introspection": 0, "integration": 0}
    assert pipeline.monitor.dropped == 2 and pipeline.monitor.completed == 0


def test_arrivals_fixed_and_poisson():
    assert arrival_offsets(ScenarioConfig(duration_s=2, rate_hz=20)) == [i / 20 for i in range(40)]
    poisson = arrival_offsets(ScenarioConfig(duration_s=100, rate_hz=20, arrivals="poisson", seed=3))
    assert poisson == arrival_offsets(ScenarioConfig(duration_s=100, rate_hz=20, arrivals="poisson", seed=3))
    assert 1800 < len(poisson) < 2200 and all(b > a for a, b in zip(poisson, poisson[1:]))
    gaps = np.diff(poisson)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.1)  # exponential gaps: coefficient of variation 1


def test_a_slow_runtime_drops_frames_and_steps_quality_down_then_back_up():
    """At 20 Hz: 0.4 s fast, then 1.2 s at 160 ms per frame, then fast again until 3 s."""
    settings = ProcessorSettings(controller_window=4)
    begin = time.perf_counter()
    slow_phase = (0.4, 1.6)
    runtime = SleepyPredictor(
        FixedOutputPredictor.seeded(64),
        lambda: 0.16 if slow_phase[0] <= time.perf_counter() - begin < slow_phase[1] else 0.0,
    )
    pipeline = MetaPipeline(runtime, settings)
    samples = np.zeros((8, 1, 40), np.float32)
    result = run_realtime(pipeline, samples, None, ScenarioConfig(duration_s=3.0, rate_hz=20))
    assert result["scheduled"] == 60 and result["requests"] == 60
    assert result["misses"]["over_limit"] >= 5 and result["dropped"] >= 5
    assert result["dropped_by_stage"].get("perception", 0) >= 1  # expired while the slow frames ran
    assert result["completed"] + result["dropped"] == 60
    changes = result["quality_control"]["changes"]
    downs = [c for c in changes if c["reason"] == "over-limit"]
    ups = [c for c in changes if c["reason"] == "headroom" and downs and c["request"] > downs[-1]["request"]]
    assert downs and ups, changes
    assert any(change["new"] in ("reduced", "minimal") for change in downs)
    assert result["latency_ms"]["max"] <= 105  # the deadline is checked before every stage: no slow frame is delivered
    assert result["slowest"][0]["latency_ms"] >= result["slowest"][-1]["latency_ms"]
