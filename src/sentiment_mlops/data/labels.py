"""Normalise user labels to ``negative`` / ``neutral`` / ``positive``."""

from __future__ import annotations

from collections.abc import Iterable

from sentiment_mlops.errors import DataError
from sentiment_mlops.layout import LABELS

__all__ = ["LABELS", "normalise_labels"]

_ALIASES = {
    "negative": "negative", "neg": "negative",
    "neutral": "neutral", "neu": "neutral",
    "positive": "positive", "pos": "positive",
}
_THREE_CLASS_ZERO_BASED = {0: "negative", 1: "neutral", 2: "positive"}
_THREE_CLASS_SIGNED = {-1: "negative", 0: "neutral", 1: "positive"}
_TWO_CLASS = {0: "negative", 1: "positive"}


def _as_int(value: object) -> int | None:
    """The integer a label stands for (``2``, ``"2"``, ``2.0``), or None if it is not one."""
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _numeric_mapping(codes: set[int]) -> dict[int, str] | None:
    if codes <= {0, 1}:
        return _TWO_CLASS  # the binary convention: 0 negative, 1 positive
    if codes <= {-1, 1}:
        return _THREE_CLASS_SIGNED
    if codes <= {0, 1, 2}:
        return _THREE_CLASS_ZERO_BASED
    if codes <= {-1, 0, 1}:
        return _THREE_CLASS_SIGNED
    return None


def normalise_labels(values: Iterable[object]) -> list[str]:
    """Map raw labels to ``negative``/``neutral``/``positive``.

    Words are matched without regard to case or surrounding whitespace (``" Positive"``, ``"neg"``);
    integers follow the usual codings: ``0/1/2`` and ``-1/0/1`` for three classes, ``0/1`` for two.

    >>> normalise_labels(["Positive ", "neg", "neutral"])
    ['positive', 'negative', 'neutral']
    >>> normalise_labels([0, 2, 1])
    ['negative', 'positive', 'neutral']
    """
    raw = list(values)
    words = [_ALIASES.get(str(v).strip().lower()) if isinstance(v, str) else None for v in raw]
    if all(w is not None for w in words):
        return [w for w in words if w is not None]
    codes = [_as_int(v) for v in raw]
    if all(c is not None for c in codes):
        mapping = _numeric_mapping({c for c in codes if c is not None})
        if mapping is not None:
            return [mapping[c] for c in codes if c is not None]
    unknown = sorted({repr(v) for v, w in zip(raw, words, strict=False) if w is None})[:10]
    raise DataError(
        f"unrecognised label values {', '.join(unknown)}; expected negative/neutral/positive "
        "(any case, or neg/neu/pos), 0/1/2, -1/0/1, or 0/1 for two classes"
    )
