"""``parquet_chunks``: chunk k is rows [k·rows, (k+1)·rows) of the file whichever chunk the reading starts
from and however the file's row groups fall, so a Dask worker that reads a run of partitions itself gets
the rows the local engine's reading from the top gives, and ``plan_runs`` cuts runs along them."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment_mlops.scaling.inputs import expand_inputs, parquet_chunks, read_chunks
from sentiment_mlops.scaling.output import ScoreOutput, write_part
from sentiment_mlops.scaling.parts import plan_runs


def _file(directory: Path, total: int, group: int) -> Path:
    path = directory / f"rows-{total}-{group}.parquet"
    if not path.exists():
        table = pa.table({"row": list(range(total)), "text": [f"t{i}" for i in range(total)]})
        pq.write_table(table, path, row_group_size=group)
    return path


@settings(max_examples=60, deadline=None)
@given(total=st.integers(1, 120), group=st.integers(1, 50), rows=st.integers(1, 40), data=st.data())
def test_any_chunk_reads_the_rows_reading_from_the_top_gives(tmp_path_factory, total, group, rows, data) -> None:
    [file] = expand_inputs(str(_file(tmp_path_factory.getbasetemp(), total, group)))
    from_top = [frame["row"].tolist() for frame in read_chunks(file, ["row", "text"], rows)]
    assert [r for chunk in from_top for r in chunk] == list(range(total))
    assert all(len(chunk) == rows for chunk in from_top[:-1])
    first = data.draw(st.integers(0, len(from_top) - 1))
    count = data.draw(st.integers(1, len(from_top) - first))
    read = [frame["row"].tolist() for frame in parquet_chunks(file, ["row"], rows, first, count)]
    assert read == from_top[first:first + count]


def test_past_the_last_chunk_nothing_is_read(tmp_path) -> None:
    [file] = expand_inputs(str(_file(tmp_path, 10, 4)))
    assert list(parquet_chunks(file, ["row"], 5, first_chunk=2)) == []


@pytest.mark.parametrize("group, expected_length", [(100, 1), (250, 3), (10_000, 3)])
def test_runs_span_a_row_group_but_leave_each_worker_several(tmp_path, group, expected_length) -> None:
    """2,000 rows in partitions of 100: 20 partitions; with 2 workers a run is at most 20 / 8 → 3 long."""
    [file] = expand_inputs(str(_file(tmp_path, 2000, group)))
    output = ScoreOutput(tmp_path / "out", {"job": 1})
    output.path.mkdir()
    runs, skipped = plan_runs([file], output, 100, workers=2)
    assert skipped == [] and max(len(run.parts) for run in runs) == expected_length
    assert [part for run in runs for part in run.parts] == [output.part(0, chunk) for chunk in range(20)]


def test_runs_leave_out_the_parts_already_written(tmp_path) -> None:
    files = expand_inputs(str(_file(tmp_path, 950, 1000)))
    output = ScoreOutput(tmp_path / "out", {"job": 1})
    output.path.mkdir()
    for chunk in (0, 3, 9):  # 9 is the short last partition (50 rows)
        write_part(output.part(0, chunk), pa.table({"x": [1]}).to_pandas())
    runs, skipped = plan_runs(files, output, 100, workers=1)
    assert sorted(skipped) == [50, 100, 100]
    assert [(run.first_chunk, len(run.parts)) for run in runs] == [(1, 2), (4, 2), (6, 2), (8, 1)]


def test_reading_in_chunks_holds_one_chunk_not_the_file(tmp_path) -> None:
    """pyarrow's default pre-buffering kept every row group read so far (memory grew with the file)."""
    path = tmp_path / "long.parquet"
    rng = random.Random(0)
    texts = [rng.randbytes(50).hex() for _ in range(100_000)]  # incompressible: ~11 MB in the file
    pq.write_table(pa.table({"text": texts}), path, row_group_size=5_000)
    [file] = expand_inputs(str(path))
    before, held = pa.total_allocated_bytes(), []
    for frame in parquet_chunks(file, ["text"], 5_000):
        held.append(pa.total_allocated_bytes() - before)
        del frame
    assert len(held) == 20
    assert max(held) < 4_000_000, f"arrow held {max(held):,} bytes while reading"  # 12 MB with pre-buffering


def test_a_worker_writes_temporaries_and_the_client_puts_them_in_place(tmp_path, monkeypatch, corpus_slice) -> None:
    """A run still going on a worker after the client stopped must not write parts into ``--out``."""
    from sentiment_mlops.scaling.partition import ScoringModel
    from sentiment_mlops.scaling.parts import RunOptions, accept, score_run
    from sentiment_mlops.serving.scorer import compile_scorer
    from sentiment_mlops.training.pipeline import build_pipeline

    model = ScoringModel(compile_scorer(build_pipeline().fit(*corpus_slice)), "1")
    monkeypatch.chdir(tmp_path)
    _file(tmp_path, 30, 7)
    [file] = expand_inputs("rows-30-7.parquet")  # relative, as a user types it
    output = ScoreOutput(Path("out"), {"job": 1})
    output.path.mkdir()
    runs, _ = plan_runs([file], output, 10, workers=1)
    assert all(run.file.path.is_absolute() and all(p.is_absolute() for p in run.parts) for run in runs)
    written = [part for run in runs for part in score_run(run, model, RunOptions("text", None, 10))]
    assert [w.rows for w in written] == [10, 10, 10]
    assert not list(output.path.glob("part-*")), "no part before the client accepts it"
    for part in written:
        accept(part)
    assert sorted(p.name for p in output.path.iterdir()) == [f"part-00000-{c:06d}.parquet" for c in range(3)]
