"""Score one partition: the function every engine runs, in this process or on a Dask worker."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sentiment_mlops.serving.scorer import Scorer

# Texts scored at a time within a partition: the batch path's temporaries (token lists, the sparse matrix)
# stay in the CPU's cache and a worker's memory stays small. 5,000 at a time scored 200,000 texts ~15%
# faster than 50,000 at a time, with the same probabilities.
SCORE_SLICE = 5_000


@dataclass(frozen=True)
class ScoringModel:
    """A verified model ready to score: its compiled scorer and its version. Pickled to Dask workers as is,
    so that no worker loads a model file itself."""

    scorer: Scorer
    version: str

    @property
    def classes(self) -> list[str]:
        return list(self.scorer.classes)


def probability_column(label: str) -> str:
    return f"p_{label}"


def score_partition(model: ScoringModel, texts: list[str], first_row: int, file: str,
                    ids: list[object] | None = None) -> tuple[pd.DataFrame, float]:
    """The scored rows of one partition and the seconds scoring took.

    Columns: ``file``, ``row`` (0-based row of the input file), ``id`` (when the input has one),
    ``sentiment``, ``confidence``, ``p_<label>`` per class, ``model_version``. An empty text is left
    unscored (sentiment null, probabilities NaN), as ``/predict`` refuses one.
    """
    started = time.perf_counter()
    classes = model.classes
    present = np.fromiter(map(bool, texts), dtype=bool, count=len(texts))
    probabilities = np.full((len(texts), len(classes)), np.nan)
    if present.any():
        kept = [t for t in texts if t]
        probabilities[present] = np.vstack([model.scorer.predict_proba(kept[start:start + SCORE_SLICE])
                                            for start in range(0, len(kept), SCORE_SLICE)])
    best = np.where(present, np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1), 0)
    labels = np.array(classes, dtype=object)[best]
    labels[~present] = None
    columns: dict[str, object] = {
        "file": pd.Categorical([file] * len(texts)),
        "row": np.arange(first_row, first_row + len(texts), dtype=np.int64),
    }
    if ids is not None:
        columns["id"] = [None if v is None else str(v) for v in ids]
    columns["sentiment"] = labels
    columns["confidence"] = probabilities[np.arange(len(texts)), best]  # NaN where the text is empty
    for index, label in enumerate(classes):
        columns[probability_column(label)] = probabilities[:, index]
    columns["model_version"] = model.version
    return pd.DataFrame(columns), time.perf_counter() - started
