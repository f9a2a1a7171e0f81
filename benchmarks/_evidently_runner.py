"""Runs inside the Evidently virtual environment (see drift_vs_evidently.py); prints one JSON line.

Input: a JSON file {"reference": {"text": [...], "predicted": [...]}, "scenarios": [{"name", "windows":
[{"text": [...], "predicted": [...]}]}]}. Output: {scenario name: [dataset drift per window]}.
"""

from __future__ import annotations

import json
import sys
import warnings

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

DRIFT_SHARE = 0.5  # DataDriftPreset's default: dataset drift when at least half the columns drift


def dataset(frame: pd.DataFrame) -> Dataset:
    definition = DataDefinition(text_columns=["text"], categorical_columns=["predicted"])
    return Dataset.from_pandas(frame, data_definition=definition)


def drifted_share(snapshot: object) -> float:
    for metric in snapshot.dict()["metrics"]:  # type: ignore[attr-defined]
        name = str(metric.get("metric_name") or metric.get("metric_id") or "")
        if name.startswith("DriftedColumnsCount"):
            return float(metric["value"]["share"])
    raise RuntimeError("the DataDriftPreset result has no DriftedColumnsCount metric")


def main() -> None:
    warnings.filterwarnings("ignore")
    payload = json.loads(open(sys.argv[1]).read())
    reference = dataset(pd.DataFrame(payload["reference"]))
    results: dict[str, list[bool]] = {}
    for scenario in payload["scenarios"]:
        verdicts = []
        for window in scenario["windows"]:
            snapshot = Report([DataDriftPreset()]).run(current_data=dataset(pd.DataFrame(window)),
                                                       reference_data=reference)
            verdicts.append(drifted_share(snapshot) >= DRIFT_SHARE)
        results[scenario["name"]] = verdicts
    print(json.dumps(results))


if __name__ == "__main__":
    main()
