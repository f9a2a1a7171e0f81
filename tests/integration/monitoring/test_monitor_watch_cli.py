"""`sentiment-mlops monitor --watch` from the command line: local artifacts, status lines, alerts, bad input,
and Ctrl-C on a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from support.alerts import draw_rows, make_dataset, prediction_rows


@pytest.fixture(scope="module")
def local_models(corpus, tmp_path_factory) -> Path:
    """``models/`` trained on a 3,000-row slice, without MLflow (``--env local``)."""
    from sentiment_mlops.training.run import TrainOptions, train

    models_dir = tmp_path_factory.mktemp("watch") / "models"
    texts, labels = draw_rows(corpus, 3000, seed=31)
    train(make_dataset(texts, labels), TrainOptions(register=False), models_dir=models_dir)
    return models_dir


@pytest.fixture
def env(local_models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store_url = f"sqlite:///{tmp_path}/logs/predictions.db"
    for name, value in {"SENTIMENT_MLOPS_MODELS_DIR": str(local_models), "SENTIMENT_MLOPS_STORE_URL": store_url,
                        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
                        "SENTIMENT_MLOPS_NO_TRAFFIC_MINUTES": "10"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SENTIMENT_MLOPS_ALERT_WEBHOOK", raising=False)
    return store_url


def log_predictions(corpus, store_url, *, minutes_ago: float, count: int = 150, latency_ms: float = 3.0):
    from sentiment_mlops.registry.loading import load_local
    from sentiment_mlops.store import PredictionStore

    loaded = load_local(Path(os.environ["SENTIMENT_MLOPS_MODELS_DIR"]))
    texts, labels = draw_rows(corpus, count, seed=32)
    when = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    with PredictionStore(store_url) as store:
        ids = store.insert_predictions(prediction_rows(loaded.pipeline, texts, environment="local",
                                                       version=loaded.version, created_at=when,
                                                       latency_ms=latency_ms))
        for prediction_id, label in zip(ids[:60], labels[:60], strict=True):
            store.add_feedback(prediction_id, label)
        return store.alerts()


def test_watch_prints_a_status_line_per_pass_and_the_alerts_it_raises(corpus, env, capsys):
    from sentiment_mlops import cli

    log_predictions(corpus, env, minutes_ago=20)  # 20 minutes of silence, over the 10 allowed
    cli.main(["monitor", "--env", "local", "--watch", "--interval", "0.01", "--iterations", "2",
              "--window", "150"])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("20")]
    assert len(lines) == 2  # one status line per pass
    assert "local vlocal" in lines[0] and "live acc" in lines[0] and "(60)" in lines[0]
    assert "est acc" in lines[0] and "drift no" in lines[0] and "firing: no_traffic" in lines[0]
    idle = re.search(r"\[FIRING:WARNING\] no_traffic \(local\): last prediction in local version local was "
                     r"(\d+\.\d) min", out)
    assert idle and 20.0 <= float(idle.group(1)) < 25.0, out  # the clock moved on while the CLI started
    assert out.count("[FIRING") == 1  # the second pass does not repeat it
    from sentiment_mlops.store import PredictionStore

    with PredictionStore(env) as store:
        assert [(a["rule"], a["status"]) for a in store.alerts()] == [("no_traffic", "firing")]


def test_without_watch_monitor_prints_the_drift_report(corpus, env, capsys):
    from sentiment_mlops import cli

    log_predictions(corpus, env, minutes_ago=1)
    cli.main(["monitor", "--env", "local", "--window", "150"])
    out = capsys.readouterr().out
    assert "Drift of the last 150 predictions in local" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--watch", "--interval", "0"], "--interval must be a positive number of seconds, got 0"),
    (["--watch", "--window", "0"], "--window must be at least 1 prediction, got 0"),
    (["--auto-rollback"], "--auto-rollback needs --env staging or production"),
    (["--watch", "--env", "qa"], "--env must be one of local, staging, production, got 'qa'"),
])
def test_bad_options_fail_with_one_line(env, capsys, argv, message):
    from sentiment_mlops import cli

    with pytest.raises(SystemExit) as exited:
        cli.main(["monitor", "--env", "local", *argv])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err


def test_a_missing_model_is_the_model_load_alert(env, tmp_path, monkeypatch, capsys):
    from sentiment_mlops import cli

    monkeypatch.setenv("SENTIMENT_MLOPS_MODELS_DIR", str(tmp_path / "no-models"))
    cli.main(["monitor", "--env", "local", "--watch", "--iterations", "1", "--interval", "0.01"])
    out = " ".join(capsys.readouterr().out.split())
    assert "firing: model_load_failed" in out and "no trained model in" in out


def test_ctrl_c_stops_a_real_watch_process(corpus, env):
    log_predictions(corpus, env, minutes_ago=1)
    command = [sys.executable, "-c", "from sentiment_mlops.cli import main; main()", "monitor", "--env", "local",
               "--watch", "--interval", "0.2"]
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # As from a terminal: a suite started in the background (`pytest &`) hands its children an ignored SIGINT.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not first.startswith("20"):
            first = process.stdout.readline()
        assert first.startswith("20"), first
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, err
    assert "stopped" in out
