"""`sentiment-mlops logs export`: the prediction log as JSON Lines, oldest first, written atomically."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentiment_mlops import cli
from sentiment_mlops.errors import StoreError
from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.export import export_jsonl

T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def run_cli(monkeypatch, store_url: str, *args: str) -> None:
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", store_url)
    cli.main(list(args))


def seed(store: PredictionStore, count: int) -> list[dict]:
    rows = []
    for i in range(count):
        logged = i % 3 != 2  # every third prediction was served with SENTIMENT_MLOPS_LOG_TEXT=false
        text = f"review number {i} ✓"
        rows.append({
            "id": f"id{i:03d}", "created_at": T0 + timedelta(seconds=count - i),  # inserted newest first
            "environment": "production" if i % 2 else "staging", "model_version": str(1 + i % 2),
            "text": text if logged else None,
            "text_sha256": hashlib.sha256(text.encode()).hexdigest(), "text_length": len(text),
            "sentiment": ("negative", "neutral", "positive")[i % 3], "confidence": 0.5 + i / 100,
            "probabilities": {"negative": 0.2, "neutral": 0.3, "positive": 0.5}, "latency_ms": 2.0,
        })
    store.insert_predictions(rows)
    return rows


def test_export_writes_one_object_per_prediction_oldest_first(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with PredictionStore(store_url) as store:
        rows = seed(store, 7)
    run_cli(monkeypatch, store_url, "logs", "export")
    out = tmp_path / "logs" / "predictions.jsonl"
    assert "wrote 7 predictions to logs/predictions.jsonl" in capsys.readouterr().out

    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7
    expected = sorted(rows, key=lambda r: r["created_at"])
    for line, row in zip(lines, expected, strict=True):
        record = json.loads(line)
        assert record["id"] == row["id"]
        assert datetime.fromisoformat(record["timestamp"]) == row["created_at"]
        assert record["timestamp"].endswith("+00:00")
        assert (record["environment"], record["model_version"]) == (row["environment"], row["model_version"])
        assert (record["sentiment"], record["confidence"]) == (row["sentiment"], row["confidence"])
        assert record["probabilities"] == row["probabilities"]
        if row["text"] is None:
            assert "text" not in record
            assert (record["text_sha256"], record["text_length"]) == (row["text_sha256"], row["text_length"])
        else:
            assert record["text"] == row["text"] and "text_sha256" not in record


def test_export_to_a_chosen_path_replaces_the_old_file(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "exports" / "log.jsonl"
    target.parent.mkdir()
    target.write_text("stale\n")
    with PredictionStore(store_url) as store:
        seed(store, 3)
    run_cli(monkeypatch, store_url, "logs", "export", "--format", "jsonl", "--out", str(target))
    assert f"wrote 3 predictions to {target}" in capsys.readouterr().out
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == ["id002", "id001", "id000"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["log.jsonl"]  # no temporary file left


def test_export_streams_in_batches(tmp_path):
    with PredictionStore(f"sqlite:///{tmp_path}/p.db") as store:
        seed(store, 11)
        assert export_jsonl(store, tmp_path / "out.jsonl", batch=4) == 11
        assert export_jsonl(store, tmp_path / "empty" / "out.jsonl", batch=4) == 11
    ids = [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert ids == [f"id{i:03d}" for i in range(10, -1, -1)]


def test_a_failed_export_keeps_the_previous_file(tmp_path, monkeypatch):
    store = PredictionStore(f"sqlite:///{tmp_path}/p.db")
    seed(store, 5)
    target = tmp_path / "predictions.jsonl"
    target.write_text("previous export\n")
    real_iter = store.iter_predictions

    def failing_iter(batch):
        rows = real_iter(batch=batch)
        yield next(rows)
        raise StoreError("database went away")

    monkeypatch.setattr(store, "iter_predictions", failing_iter)
    with pytest.raises(StoreError, match="went away"):
        export_jsonl(store, target, batch=2)
    assert target.read_text() == "previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    store.close()


def test_export_errors_are_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    with pytest.raises(SystemExit) as exited:
        run_cli(monkeypatch, f"sqlite:///{tmp_path}/p.db", "logs", "export", "--out", str(blocker / "x.jsonl"))
    assert exited.value.code == 1
    assert "cannot write the export" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exited:
        run_cli(monkeypatch, "postgresql://u:pw@127.0.0.1:1/db", "logs", "export")
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "cannot use the prediction store" in err and ":pw@" not in err
    assert not Path("logs/predictions.jsonl").exists()


def test_unknown_export_format_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        run_cli(monkeypatch, f"sqlite:///{tmp_path}/p.db", "logs", "export", "--format", "csv")
    assert exited.value.code == 2
    assert "csv" in capsys.readouterr().err
