"""No file runs code unless it was verified: the skops model is what loads, a pickle only with
``allow_pickle``, every file a loader reads must be listed in the manifest, a re-sealed manifest is caught by
the digest the registry recorded, and a server refuses a swapped artifact, keeps its model and says so."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import time
from pathlib import Path

import pytest

from sentiment_mlops.errors import IntegrityError
from sentiment_mlops.integrity import sha256_file
from sentiment_mlops.registry import ModelRegistry, load_local
from sentiment_mlops.registry.loading import verify_local_seal


class _Payload:
    """Unpickling this runs ``os.system``: what a crafted ``sentiment_model.pkl`` could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def models_copy(trained_workspace, tmp_path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(trained_workspace.models_dir, copy)
    return copy


def _plant_pickle(models_dir: Path, marker: Path, *, reseal: bool, unlist: bool = False) -> None:
    (models_dir / "sentiment_model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    manifest = json.loads((models_dir / "manifest.json").read_text())
    if reseal:
        manifest["files"]["sentiment_model.pkl"] = sha256_file(models_dir / "sentiment_model.pkl")
    if unlist:
        del manifest["files"]["sentiment_model.pkl"]
    (models_dir / "manifest.json").write_text(json.dumps(manifest))


def test_the_default_load_reads_the_skops_model_and_never_the_pickle(models_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _plant_pickle(models_copy, marker, reseal=True)
    loaded = load_local(models_copy)
    assert loaded.pipeline.predict(["lovely crew"])[0] in {"negative", "neutral", "positive"}
    assert not marker.exists()


def test_an_unlisted_pickle_is_refused_before_it_is_read(models_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _plant_pickle(models_copy, marker, reseal=False, unlist=True)
    with pytest.raises(IntegrityError, match="sentiment_model.pkl but its manifest does not list it"):
        load_local(models_copy, allow_pickle=True)
    assert not marker.exists()


def test_a_resealed_manifest_is_caught_by_the_digest_the_registry_recorded(models_copy: Path, tmp_path: Path,
                                                                           trained_workspace) -> None:
    registry = ModelRegistry(trained_workspace.tracking_uri, "SentimentAnalysisModel")
    verify_local_seal(models_copy, registry)  # as published: fine
    marker = tmp_path / "pwned"
    _plant_pickle(models_copy, marker, reseal=True)
    with pytest.raises(IntegrityError, match="re-sealed"):
        verify_local_seal(models_copy, registry)
    assert not marker.exists()


def test_predict_refuses_a_resealed_folder_with_or_without_pickles(in_workspace, cli_run, tmp_path) -> None:
    models = in_workspace.models_dir
    backup = tmp_path / "backup"
    shutil.copytree(models, backup)
    try:
        code, out, _ = cli_run("predict", "what a lovely flight")
        assert code == 0 and "model version 1 (local)" in out
        marker = tmp_path / "pwned"
        _plant_pickle(models, marker, reseal=True)
        for argv in (["predict"], ["predict", "--allow-pickle"]):
            code, _, err = cli_run(*argv, "what a lovely flight")
            assert code == 1 and "re-sealed" in " ".join(err.split()), err
        assert not marker.exists()
    finally:
        shutil.rmtree(models)
        shutil.copytree(backup, models)


def test_a_server_refuses_a_swapped_artifact_keeps_its_model_and_turns_degraded(models_copy: Path,
                                                                               tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sentiment_mlops.config import Settings
    from sentiment_mlops.serving.app import create_app
    from sentiment_mlops.store import PredictionStore

    # The prediction log inserts from its thread: no store writer process to start and wait for (this is about
    # the poller, and no logged row is read back).
    settings = Settings(models_dir=models_copy, store_url=f"sqlite:///{tmp_path / 'p.db'}", poll_seconds=0.1,
                        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'none.db'}", log_writer_process=False)
    with TestClient(create_app(settings, environment="local")) as client:
        before = client.post("/predict", json={"text": "lovely crew"}).json()
        skops_file = models_copy / "model.skops"
        data = bytearray(skops_file.read_bytes())
        data[-10] ^= 0xFF  # the manifest is left alone
        skops_file.write_bytes(bytes(data))
        deadline = time.monotonic() + 10
        while client.get("/health").json()["status"] != "degraded" and time.monotonic() < deadline:
            time.sleep(0.1)
        health = client.get("/health").json()
        assert health["status"] == "degraded"
        after = client.post("/predict", json={"text": "lovely crew"}).json()
        assert after["probabilities"] == before["probabilities"]  # the verified model still answers
    with PredictionStore(settings.store_url) as store:
        alert = store.open_alert("model_load_failed", "local")
    assert alert is not None and "model.skops" in alert["message"]


def test_a_forged_or_planted_list_of_training_feedback_is_refused(tmp_path: Path) -> None:
    """The digests of the feedback a version trained on decide which labels the gate may count: a version
    whose list was edited, or that gained one nobody sealed, does not load."""
    from sentiment_mlops.layout import FEEDBACK_TRAINED_FILE
    from sentiment_mlops.training.feedback import assemble_feedback
    from sentiment_mlops.training.run import TrainOptions, train
    from support.serving import corpus_slice

    data = corpus_slice(rows=900)
    rows = [{"prediction_id": str(i), "text": text, "label": label, "actor": "feedback-token"}
            for i, (text, label) in enumerate(zip(data.texts[800:], data.labels[800:], strict=True))]
    base = corpus_slice(rows=800)
    feedback = assemble_feedback(rows, base_texts=base.texts, test_size=0.2)
    train(base, TrainOptions(register=False), models_dir=tmp_path / "with", feedback=feedback)
    listed = (tmp_path / "with" / FEEDBACK_TRAINED_FILE).read_text().splitlines()
    assert len(listed) == len(feedback.train_texts) and load_local(tmp_path / "with").feedback_trained_path
    (tmp_path / "with" / FEEDBACK_TRAINED_FILE).write_text("\n".join(listed[1:]) + "\n")  # hide one trained text
    with pytest.raises(IntegrityError):
        load_local(tmp_path / "with")

    train(base, TrainOptions(register=False), models_dir=tmp_path / "without")
    (tmp_path / "without" / FEEDBACK_TRAINED_FILE).write_text("")  # claim it trained on nothing listed
    with pytest.raises(IntegrityError):
        load_local(tmp_path / "without")


def test_the_seal_checked_in_a_child_process_refuses_a_resealed_folder(models_copy: Path, tmp_path: Path,
                                                                       trained_workspace, monkeypatch) -> None:
    """A command's cold start checks the seal in a spawned child while it imports the loader
    (registry/uri.py): the child gives the verdict, and a re-sealed folder fails with the serial check's error."""
    from sentiment_mlops.config import Settings
    from sentiment_mlops.registry import uri

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_workspace.tracking_uri)
    settings = Settings(models_dir=models_copy)

    def no_check_here(*args, **kwargs) -> None:
        raise AssertionError("the seal was checked in this process, not in the child")

    monkeypatch.setattr(uri, "check_local_seal", no_check_here)  # the spawned child imports its own
    uri._check_local_seal_while_importing(settings, models_copy)
    marker = tmp_path / "pwned"
    _plant_pickle(models_copy, marker, reseal=True)
    with pytest.raises(IntegrityError, match="re-sealed"):
        uri._check_local_seal_while_importing(settings, models_copy)
    assert not marker.exists()


def test_a_seal_check_child_that_dies_or_cannot_start_falls_back_to_the_check_here(models_copy: Path,
                                                                                     trained_workspace,
                                                                                     monkeypatch) -> None:
    """No hang and no other error than the serial check's: the check runs again in this process."""
    import threading

    from sentiment_mlops.config import Settings
    from sentiment_mlops.registry import uri
    from support.processes import exit_abruptly

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_workspace.tracking_uri)
    settings = Settings(models_dir=models_copy)
    checked_here: list[Path] = []
    serial_check = uri.check_local_seal
    monkeypatch.setattr(uri, "check_local_seal", lambda s, d: (checked_here.append(d), serial_check(s, d)))

    def run_bounded() -> None:
        worker = threading.Thread(target=uri._check_local_seal_while_importing, args=(settings, models_copy))
        worker.start()
        worker.join(120)
        assert not worker.is_alive(), "the seal check hung"

    monkeypatch.setattr(uri, "_check_in_child", exit_abruptly)  # the child dies without answering
    run_bounded()
    assert checked_here == [models_copy]

    class NoProcesses:
        def __getattr__(self, name: str):
            raise OSError("no processes here")

    monkeypatch.setattr(uri.multiprocessing, "get_context", lambda method: NoProcesses())  # the pool cannot start
    run_bounded()
    assert checked_here == [models_copy, models_copy]
