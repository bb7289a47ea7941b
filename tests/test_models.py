import pytest
import torch

from mc.errors import InputError
from mc.models import create_model, get_model_entry, model_names
from mc.models.checkpoint import config_from_dict, config_to_dict
from mc.models.stats import count_macs, count_parameters

FAMILY = ["mobile-tiny", "mobile-small", "mobile-base", "cpu-mlp", "gru-small"]


def test_family_is_registered():
    assert set(FAMILY) <= set(model_names())


@pytest.mark.parametrize("name", FAMILY)
def test_every_model_returns_logits_and_a_confidence_probability(name):
    model = create_model(name).eval()
    logits, confidence = model(torch.randn(5, 1, 40))
    assert logits.shape == (5, 10)
    assert confidence.shape == (5,)
    assert torch.all((confidence >= 0) & (confidence <= 1))


def test_sizes_follow_the_design():
    parameters = {name: count_parameters(create_model(name)) for name in ("mobile-tiny", "mobile-small", "mobile-base")}
    assert parameters["mobile-tiny"] <= 30_000
    assert 80_000 <= parameters["mobile-small"] <= 120_000
    assert 1_200_000 <= parameters["mobile-base"] <= 1_700_000


def test_macs_count_convolutions_attention_and_recurrence():
    tiny, base = create_model("mobile-tiny"), create_model("mobile-base")
    assert count_macs(base, (1, 40)) > 10 * count_macs(tiny, (1, 40))
    # A GRU's MACs are counted (3 gates x (input + hidden) x hidden x 40 steps at least).
    assert count_macs(create_model("gru-small"), (1, 40)) >= 3 * 96 * 97 * 40


def test_confidence_head_does_not_pull_on_task_features():
    model = create_model("mobile-tiny")
    _, confidence = model(torch.randn(4, 1, 40))
    confidence.sum().backward()
    assert model.task_head.weight.grad is None
    assert all(p.grad is None for p in model.perception.parameters())
    assert any(p.grad is not None for p in model.confidence_head.parameters())


def test_config_round_trips_through_plain_data():
    entry = get_model_entry("cpu-mlp")
    config = entry.default_config()
    assert config_from_dict(entry, config_to_dict(config)) == config


def test_unknown_model_suggests_the_nearest_name():
    with pytest.raises(InputError, match="did you mean 'mobile-small'"):
        get_model_entry("mobile-smal")


def test_exported_config_rejects_unknown_keys():
    with pytest.raises(InputError, match="unknown keys"):
        get_model_entry("mobile-small").config_from_dict({"width": 64, "colour": "red"})
