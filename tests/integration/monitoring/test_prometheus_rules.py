"""deploy/prometheus/alerts.yml: valid for promtool, firing on the series it is meant for (promtool's own rule
unit tests), covering every built-in rule, and using only metric names the service's /metrics exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sentiment_mlops.monitoring.alerts import RULES

RULES_DIR = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
RULES_FILE = RULES_DIR / "alerts.yml"
# The built-in rule each Prometheus alert mirrors.
MIRRORS = {
    "drift": "SentimentDriftDetected",
    "live_accuracy": "SentimentLiveAccuracyLow",
    "estimated_accuracy_drop": "SentimentEstimatedAccuracyDrop",
    "error_rate": "SentimentHighErrorRate",
    "p95_latency": "SentimentHighLatencyP95",
    "no_traffic": "SentimentNoTraffic",
    "model_load_failed": "SentimentModelLoadFailed",
}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": ("",), "summary": ("", "_sum", "_count", "_created")}


@pytest.fixture(scope="module")
def rules() -> list[dict]:
    document = yaml.safe_load(RULES_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def exported_names(exposition: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


@pytest.fixture(scope="module")
def service_metrics(tmp_path_factory) -> set[str]:
    """The sample names of a real app's /metrics, with the server monitor's gauges registered as create_app
    does when SENTIMENT_MLOPS_MONITOR_IN_SERVER is on."""
    from fastapi.testclient import TestClient

    from sentiment_mlops.config import Settings
    from sentiment_mlops.monitoring.gauges import MonitorGauges
    from sentiment_mlops.serving.app import create_app

    root = tmp_path_factory.mktemp("prom")
    settings = Settings(models_dir=root / "models", store_url=f"sqlite:///{root}/p.db")
    with TestClient(create_app(settings, environment="local", poll=False)) as client:
        MonitorGauges(client.app_state["serving"].metrics.registry)
        client.post("/predict", json={"text": "no model yet"})  # a 503 still counts a request
        response = client.get("/metrics")
    assert response.status_code == 200
    return exported_names(response.text)


def test_every_rule_is_complete_and_named_once(rules):
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert rule["expr"].strip(), rule["alert"]


def test_every_built_in_rule_has_its_prometheus_twin(rules):
    assert set(MIRRORS) == set(RULES)
    assert set(MIRRORS.values()) <= {rule["alert"] for rule in rules}


def test_thresholds_match_the_settings_defaults(rules):
    from sentiment_mlops.config import Settings

    defaults = Settings()
    exprs = {rule["alert"]: rule["expr"] for rule in rules}
    assert f"< {defaults.accuracy_floor}" in exprs["SentimentLiveAccuracyLow"]
    assert f"> {defaults.error_rate_threshold}" in exprs["SentimentHighErrorRate"]
    assert f"> {defaults.p95_latency_ms / 1000:g}" in exprs["SentimentHighLatencyP95"]
    assert f"[{defaults.no_traffic_minutes:g}m]" in exprs["SentimentNoTraffic"]
    assert f"> {defaults.estimated_accuracy_drop}" in exprs["SentimentEstimatedAccuracyDrop"]


def test_every_metric_a_rule_uses_is_exported_by_the_service(rules, service_metrics):
    used = {name for rule in rules for name in re.findall(r"\bsentiment_[a-z0-9_]+", rule["expr"])}
    assert used, "no metric names found in the rules"
    missing = sorted(used - service_metrics)
    assert not missing, f"rules use metrics the service does not export: {missing}"


@pytest.mark.parametrize("command", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]])
def test_promtool_accepts_the_rules_and_their_unit_tests(command):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    result = subprocess.run([promtool, *command], cwd=RULES_DIR, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
