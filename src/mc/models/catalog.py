"""The family as a table: size, cost, and the checkpoint a zoo name resolves to with its accuracy."""

from __future__ import annotations

from typing import Any

from mc.artifact import read_record
from mc.models._registry import get_model_entry, model_names
from mc.models.source import find_zoo_checkpoint
from mc.models.stats import count_macs, count_parameters


def model_catalog() -> list[dict[str, Any]]:
    rows = []
    for name in model_names():
        entry = get_model_entry(name)
        config = entry.default_config()
        if entry.describe is not None:  # e.g. a pretrained text model: facts from its files, no build
            rows.append({"name": name, "description": entry.description, "modality": entry.modality,
                         "test_accuracy": None, "confidence_auroc": None, **entry.describe(config)})
            continue
        module = entry.build(config)
        row: dict[str, Any] = {
            "name": name,
            "description": entry.description,
            "modality": entry.modality,
            "parameters": count_parameters(module),
            "macs": count_macs(module, config.input_shape),
            "input_shape": list(config.input_shape),
            "checkpoint": None,
            "checkpoint_kind": None,
            "test_accuracy": None,
            "confidence_auroc": None,
            "hard_accuracy": None,  # on mnist1d-hard, the harder built-in setting (the checkpoint's metrics["hard_test"])
        }
        found = find_zoo_checkpoint(name)
        if found is not None:
            path, kind = found
            row["checkpoint"], row["checkpoint_kind"] = str(path), kind
            record = read_record(path)
            test = (record.metrics.get("test") if record else None) or {}
            row["test_accuracy"] = test.get("accuracy")
            row["confidence_auroc"] = test.get("confidence_auroc")
            row["hard_accuracy"] = ((record.metrics.get("hard_test") if record else None) or {}).get("accuracy")
        rows.append(row)
    return rows
