"""``sentiment-mlops score``: local and Dask engines give the pipeline's own probabilities, reruns resume,
``--log`` records batch rows, and bad input stops with one line before any work starts.

The LocalCluster (``scheduler``, tests/integration/scaling/conftest.py) is shared with the training tests.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROWS = 1200


@pytest.fixture
def texts(corpus_slice) -> list[str]:
    return list(corpus_slice[0][:ROWS])


def _write(path: Path, frame: pd.DataFrame) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.fixture
def parquet_input(in_workspace, texts) -> Path:
    frame = pd.DataFrame({"id": [f"t{i}" for i in range(len(texts))], "text": texts})
    return _write(in_workspace.root / "input.parquet", frame)


def _expected(in_workspace, texts: list[str]) -> np.ndarray:
    from sentiment_mlops.registry.loading import load_local

    return load_local(in_workspace.models_dir).pipeline.predict_proba(texts)


def _probabilities(out: Path) -> np.ndarray:
    frame = pd.read_parquet(out).sort_values(["file", "row"])
    return frame[["p_negative", "p_neutral", "p_positive"]].to_numpy()


def test_local_and_dask_engines_give_the_pipelines_probabilities(cli_run, in_workspace, parquet_input, texts,
                                                                 scheduler) -> None:
    expected = _expected(in_workspace, texts)
    local = in_workspace.root / "local.parquet"
    code, out, err = cli_run("score", "--data", str(parquet_input), "--out", str(local), "--partition-rows", "500")
    assert code == 0, err
    assert f"scored {ROWS:,} rows in 3 partitions" in out
    on_dask = in_workspace.root / "dask.parquet"
    code, out, err = cli_run("score", "--data", str(parquet_input), "--out", str(on_dask), "--partition-rows", "500",
                             "--engine", "dask", "--scheduler", scheduler)
    assert code == 0, err
    assert "2 workers" in out and "the workers read the input and wrote the parts themselves" in out
    np.testing.assert_allclose(_probabilities(local), expected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(_probabilities(on_dask), _probabilities(local))
    frame = pd.read_parquet(on_dask).sort_values("row")
    assert frame["id"].tolist() == [f"t{i}" for i in range(ROWS)]
    labels = np.array(["negative", "neutral", "positive"])[expected.argmax(axis=1)]
    assert frame["sentiment"].tolist() == labels.tolist()
    np.testing.assert_allclose(frame["confidence"], expected.max(axis=1), atol=1e-9)
    assert set(frame["model_version"]) == {"1"}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_csv_and_json_lines_inputs_score_like_parquet(cli_run, in_workspace, texts, suffix) -> None:
    frame = pd.DataFrame({"body": texts[:300] + ["", "   "], "lang": "en"})
    source = _write(in_workspace.root / f"input{suffix}", frame)
    out_dir = in_workspace.root / f"out{suffix}.parquet"
    code, out, err = cli_run("score", "--data", str(source), "--text-column", "body", "--out", str(out_dir))
    assert code == 0, err
    assert "left unscored: 2 empty texts" in out
    frame = pd.read_parquet(out_dir).sort_values("row")
    assert "id" not in frame.columns and frame["row"].tolist() == list(range(302))
    np.testing.assert_allclose(frame[["p_negative", "p_neutral", "p_positive"]].to_numpy()[:300],
                               _expected(in_workspace, texts[:300]), atol=1e-9)
    assert frame["sentiment"].iloc[300:].isna().all()


def test_a_rerun_skips_the_parts_already_written_and_refuses_another_job(cli_run, in_workspace,
                                                                         parquet_input) -> None:
    out_dir = in_workspace.root / "resumed.parquet"
    args = ["score", "--data", str(parquet_input), "--out", str(out_dir), "--partition-rows", "500"]
    assert cli_run(*args)[0] == 0
    parts = sorted(out_dir.glob("part-*.parquet"))
    first = pd.read_parquet(out_dir)
    parts[1].unlink()  # as if the job had stopped before writing it
    code, out, _ = cli_run(*args)
    assert code == 0
    assert "scored 500 rows in 1 partitions" in out and "skipped 2 partitions already written" in out
    pd.testing.assert_frame_equal(pd.read_parquet(out_dir).sort_values("row").reset_index(drop=True),
                                  first.sort_values("row").reset_index(drop=True))
    code, _, err = cli_run(*args[:-1], "400")
    assert code == 1 and "holds the output of another job (different partition_rows)" in err


def test_log_records_batch_rows_once_even_when_resumed(cli_run, in_workspace, parquet_input, tmp_path,
                                                       monkeypatch) -> None:
    from sentiment_mlops.store import PredictionStore

    url = f"sqlite:///{tmp_path}/predictions.db"
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", url)
    out_dir = tmp_path / "logged.parquet"
    args = ["score", "--data", str(parquet_input), "--out", str(out_dir), "--partition-rows", "500", "--log"]
    code, out, err = cli_run(*args)
    assert code == 0, err
    assert f"logged {ROWS:,} predictions" in out
    next(out_dir.glob("part-00000-000000.parquet")).unlink()
    assert cli_run(*args)[0] == 0
    with PredictionStore(url) as store:
        rows = store.recent_predictions(limit=None, columns=["source", "route", "environment", "model_version"])
    assert len(rows) == ROWS
    assert {(r["source"], r["route"], r["environment"], r["model_version"]) for r in rows} == {
        ("batch", "score", "batch", "1")}


def test_dask_workers_reading_for_themselves_resume_like_the_local_engine(cli_run, in_workspace, texts,
                                                                          scheduler) -> None:
    """Row groups of 350 rows against partitions of 200: runs start inside row groups."""
    source = in_workspace.root / "groups.parquet"
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(ROWS)], "text": texts}), source, row_group_size=350)
    local, on_dask = in_workspace.root / "local-groups.parquet", in_workspace.root / "dask-groups.parquet"
    common = ["score", "--data", str(source), "--partition-rows", "200"]
    assert cli_run(*common, "--out", str(local))[0] == 0
    dask_args = [*common, "--out", str(on_dask), "--engine", "dask", "--scheduler", scheduler]
    assert cli_run(*dask_args)[0] == 0
    for chunk in (1, 4):
        (on_dask / f"part-00000-{chunk:06d}.parquet").unlink()
    code, out, err = cli_run(*dask_args)
    assert code == 0, err
    assert "scored 400 rows in 2 partitions" in out and "skipped 4 partitions already written" in out
    assert "the workers read the input" in out
    assert sorted(p.name for p in on_dask.glob("part-*")) == sorted(p.name for p in local.glob("part-*"))
    for part in local.glob("part-*"):
        pd.testing.assert_frame_equal(pd.read_parquet(on_dask / part.name), pd.read_parquet(part))
    assert not list(on_dask.glob(".*")), "no probe or temporary file is left behind"


def test_a_bad_cell_found_by_a_worker_is_one_line(cli_run, in_workspace, scheduler) -> None:
    source = in_workspace.root / "numbers.parquet"
    pq.write_table(pa.table({"text": list(range(50))}), source)
    code, _, err = cli_run("score", "--data", str(source), "--out", str(in_workspace.root / "numbers-out.parquet"),
                           "--engine", "dask", "--scheduler", scheduler)
    assert code == 1
    assert "the text column of" in _one_error_line(err) and "row 0 is int 0" in err


def _damage_row_group(path: Path, texts: list[str], group: int) -> None:
    """Three uncompressed row groups of ``texts``; the first value's length prefix in ``group`` made huge."""
    pq.write_table(pa.table({"text": texts * 3}), path, row_group_size=len(texts), compression="none",
                   use_dictionary=False)
    offset = pq.ParquetFile(path).metadata.row_group(group).column(0).data_page_offset
    raw = bytearray(path.read_bytes())
    first = texts[0].encode()
    at = raw.index(len(first).to_bytes(4, "little") + first, offset)
    raw[at:at + 4] = b"\xff\xff\xff\x7f"
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_row_group_damaged_half_way_is_one_line_on_either_engine(cli_run, in_workspace, texts, engine,
                                                                    scheduler) -> None:
    source = in_workspace.root / f"damaged-{engine}.parquet"
    _damage_row_group(source, texts[:400], group=2)
    args = ["--engine", "dask", "--scheduler", scheduler] if engine == "dask" else []
    code, _, err = cli_run("score", "--data", str(source), "--out", str(in_workspace.root / f"damaged-{engine}-out"),
                           "--partition-rows", "200", *args)
    assert code == 1
    assert f"cannot read {source} as parquet" in _one_error_line(err)


def test_dask_with_log_reads_on_the_client_and_logs_every_row(cli_run, in_workspace, parquet_input, tmp_path,
                                                              monkeypatch, scheduler) -> None:
    from sentiment_mlops.store import PredictionStore

    url = f"sqlite:///{tmp_path}/dask-predictions.db"
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", url)
    code, out, err = cli_run("score", "--data", str(parquet_input), "--out", str(tmp_path / "dask-logged.parquet"),
                             "--partition-rows", "500", "--log", "--engine", "dask", "--scheduler", scheduler)
    assert code == 0, err
    assert f"logged {ROWS:,} predictions" in out and "the workers read" not in out
    with PredictionStore(url) as store:
        assert len(store.recent_predictions(limit=None, columns=["id"])) == ROWS


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_a_missing_column_stops_before_any_work(cli_run, in_workspace, parquet_input) -> None:
    out_dir = in_workspace.root / "never.parquet"
    code, _, err = cli_run("score", "--data", str(parquet_input), "--text-column", "body", "--out", str(out_dir))
    assert code == 1
    assert "column 'body' not found in" in _one_error_line(err) and "columns found: id, text" in err
    assert not out_dir.exists()


@pytest.mark.parametrize("content, expected", [(b"PAR1 not really", "cannot read"), (None, "no file matches")])
def test_an_unreadable_or_missing_file_is_one_line(cli_run, in_workspace, content, expected) -> None:
    if content is None:
        data = str(in_workspace.root / "nowhere" / "*.parquet")
    else:
        data = str(in_workspace.root / "broken.parquet")
        Path(data).write_bytes(content)
    code, _, err = cli_run("score", "--data", data, "--out", str(in_workspace.root / "never.parquet"))
    assert code == 1 and expected in _one_error_line(err)


def test_an_unreachable_scheduler_names_its_address(cli_run, in_workspace, parquet_input, monkeypatch) -> None:
    pytest.importorskip("distributed")
    from sentiment_mlops.scaling import engine

    monkeypatch.setattr(engine, "CONNECT_TIMEOUT_SECONDS", 1.0)
    code, _, err = cli_run("score", "--data", str(parquet_input), "--out", str(in_workspace.root / "x.parquet"),
                           "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in _one_error_line(err)


def test_without_dask_installed_the_error_says_how_to_install_it(cli_run, in_workspace, parquet_input,
                                                                 monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    code, _, err = cli_run("score", "--data", str(parquet_input), "--out", str(in_workspace.root / "x.parquet"),
                           "--engine", "dask")
    assert code == 1 and "pip install 'sentiment-mlops[dask]'" in _one_error_line(err)


def test_the_job_file_records_what_was_scored(cli_run, in_workspace, parquet_input) -> None:
    out_dir = in_workspace.root / "job.parquet"
    assert cli_run("score", "--data", str(parquet_input), "--out", str(out_dir), "--version", "1")[0] == 0
    job = json.loads((out_dir / "_job.json").read_text())
    assert job["model_version"] == "1" and job["text_column"] == "text" and job["id_column"] == "id"
    assert job["inputs"][0]["path"] == str(parquet_input.resolve())


def test_a_task_the_cluster_dropped_is_one_clear_error(scheduler) -> None:
    """What a worker dying mid-task looks like to the client (FutureCancelledError): a ClusterError, which the
    CLI prints as one line, not a traceback."""
    import time

    import distributed

    from sentiment_mlops.errors import ClusterError
    from sentiment_mlops.scaling.engine import DaskEngine

    with distributed.Client(scheduler, set_as_default=False) as client:
        future = client.submit(time.sleep, 0.5, pure=False)
        future.cancel()
        with pytest.raises(ClusterError, match="dropped a score_run task .* rerun the same command to resume"):
            DaskEngine._result(future, "score_run")


def test_runs_left_going_after_the_client_stops_write_no_part(in_workspace, texts, scheduler) -> None:
    """Ctrl-C in the client while the workers score: Dask does not interrupt a running task, so the runs in
    flight finish on the workers after the client has gone. They must leave only hidden temporaries, never a
    part the client did not accept (a new job in the same --out would get them). The rerun completes the job
    with the parts the local engine writes."""
    import distributed

    from sentiment_mlops.registry.loading import load_local
    from sentiment_mlops.scaling.engine import DaskEngine, LocalEngine
    from sentiment_mlops.scaling.inputs import expand_inputs
    from sentiment_mlops.scaling.partition import ScoringModel
    from sentiment_mlops.scaling.score import ScoreJob, score_files
    from sentiment_mlops.serving.scorer import compile_scorer

    source = in_workspace.root / "interrupted.parquet"
    pq.write_table(pa.table({"text": texts * 5}), source, row_group_size=600)  # 6,000 rows, 60 parts of 100
    model = ScoringModel(compile_scorer(load_local(in_workspace.models_dir).pipeline), "1")
    job = ScoreJob(files=expand_inputs(str(source)), out=in_workspace.root / "interrupted-out", partition_rows=100)
    accepted = []

    def stop_after_the_first_run(rows: int) -> None:
        accepted.append(rows)
        raise KeyboardInterrupt

    engine = DaskEngine(scheduler)
    try:
        with pytest.raises(KeyboardInterrupt):
            score_files(job, model, engine, on_progress=stop_after_the_first_run)
    finally:
        engine.close()
    with distributed.Client(scheduler, set_as_default=False) as client:  # let the orphaned runs finish
        deadline = time.monotonic() + 30
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert len(list(job.out.glob("part-*"))) == len(accepted) == 1, "only the part the client accepted"
    engine = DaskEngine(scheduler)
    try:
        summary = score_files(job, model, engine)
    finally:
        engine.close()
    assert summary.partitions_skipped == 1 and summary.partitions_written == 59
    local = ScoreJob(files=job.files, out=in_workspace.root / "interrupted-local", partition_rows=100)
    score_files(local, model, LocalEngine())
    for part in local.out.glob("part-*"):
        pd.testing.assert_frame_equal(pd.read_parquet(job.out / part.name), pd.read_parquet(part))
