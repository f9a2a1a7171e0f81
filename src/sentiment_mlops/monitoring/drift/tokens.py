"""Per-text OOV rates and window term counts for many texts at once, identical to ``data.text_stats``.

``text_stats`` tokenizes text by text in Python (about 40 us a tweet: 4 s for 100,000 logged
predictions). Here the texts are joined with a separator token, normalised with C-level string methods,
tokenized in one pass (``str.split`` for ASCII texts, one ``findall`` for the others) and mapped to
vocabulary ids with one more, so the drift report over 100k predictions stays within its 2 s budget.
Anything this path cannot reproduce exactly (a tokenizer that does not lowercase, or a text that spells
the separator) falls back to ``text_stats``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from sentiment_mlops.data.text_stats import DEFAULT_TOKEN_PATTERN, make_tokenizer, text_stats

SEPARATOR = "QQDRIFTSEPARATORQQ"
_SEPARATOR_ID = -2
_OOV_ID = -1


def _strip_accents(texts: list[str], mode: str | None) -> list[str]:
    if mode == "unicode":
        out = list(texts)
        changed: list[int] = []
        for i, text in enumerate(texts):
            if not text.isascii():
                decomposed = unicodedata.normalize("NFKD", text)
                if decomposed != text:  # the same condition as text_stats' tokenizer
                    out[i] = decomposed
                    changed.append(i)
        if changed:
            # A translate table covering every character present (most map to themselves): str.translate
            # pays for an exception on each character its table lacks.
            present = set().union(*(out[i] for i in changed))
            table = {ord(c): None if unicodedata.combining(c) else ord(c) for c in present}
            for i in changed:
                out[i] = out[i].translate(table)
        return out
    if mode == "ascii":
        return [unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode("ascii") for t in texts]
    return texts


# After lowercasing, an ASCII character is a regex word character (\w) exactly when it is one of these.
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_ASCII_NON_WORD_TO_SPACE = str.maketrans({chr(c): " " for c in range(128) if chr(c) not in _ASCII_WORD})
_SHORT_ID = -3  # a one-character token: \w\w+ never matches it


def _lookup(vocabulary: Mapping[str, int], separator: str) -> dict[str, int]:
    """Token -> vocabulary id + 1, so that ``map(lookup.get, tokens, repeat(0))`` answers 0 (OOV) in C.

    (A ``defaultdict(int)`` would too, but stores every unseen token it is asked for: 2.5x slower.)
    """
    lookup = {term: i + 1 for term, i in vocabulary.items()}
    lookup[separator] = _SEPARATOR_ID + 1
    return lookup


@dataclass(frozen=True)
class WindowTokens:
    """What the text checks read from a window's tokens."""

    oov_rates: np.ndarray  # per text, the share of its tokens outside the vocabulary
    term_counts: np.ndarray  # per vocabulary id, its count over the window
    # Counted over distinct texts (a text repeated verbatim, say a retweet burst, counts once):
    distinct_texts: int
    unseen_words: dict[str, int]  # per token outside the vocabulary, the texts containing it
    known_texts: np.ndarray  # per vocabulary id, the distinct texts containing it


@dataclass(frozen=True)
class _Group:
    text_of: np.ndarray  # per token, the index of its text in the group
    ids: np.ndarray  # per token, its vocabulary id or -1
    oov_text_of: np.ndarray  # per out-of-vocabulary token, the index of its text in the group
    oov_tokens: list[str]


def _token_ids(tokens: list[str], lookup: Mapping[str, int], n_texts: int) -> _Group | None:
    """Vocabulary ids and texts of the tokens of ``n_texts`` joined texts; None if a text spelled the
    separator (its position would be lost)."""
    ids = np.fromiter(map(lookup.get, tokens, repeat(0)), dtype=np.int64, count=len(tokens)) - 1
    is_separator = ids == _SEPARATOR_ID
    if int(is_separator.sum()) != n_texts - 1:
        return None
    text_of = np.cumsum(is_separator)
    unknown = np.flatnonzero(ids == _OOV_ID)
    return _Group(text_of=text_of[~is_separator], ids=ids[~is_separator], oov_text_of=text_of[unknown],
                  oov_tokens=[tokens[i] for i in unknown.tolist()])


def _canonical(texts: Sequence[str]) -> tuple[int, np.ndarray | None]:
    """``(distinct texts, each text's first position)``; None instead of the positions when all are distinct."""
    # Each text's first position: assigned from the back, the smallest position is the one left.
    first = dict(zip(reversed(texts), range(len(texts) - 1, -1, -1), strict=True))
    if len(first) == len(texts):
        return len(first), None
    return len(first), np.fromiter(map(first.__getitem__, texts), dtype=np.int64, count=len(texts))


def _known_texts(canonical: np.ndarray | None, text_of: np.ndarray, ids: np.ndarray, n_terms: int) -> np.ndarray:
    """Per vocabulary id, the distinct texts containing it (``ids`` all known, ``text_of`` their texts)."""
    if canonical is not None:
        text_of = canonical[text_of]
    pairs = np.unique(text_of * max(n_terms, 1) + ids)  # each (text, term) once
    return np.bincount(pairs % max(n_terms, 1), minlength=n_terms)


def _unseen_stats(canonical: np.ndarray | None, text_of: np.ndarray, tokens: list[str]) -> dict[str, int]:
    """``{token: distinct texts containing it}`` for the tokens outside the vocabulary."""
    if not tokens:
        return {}
    if canonical is not None:
        text_of = canonical[text_of]
    codes = {token: code for code, token in enumerate(dict.fromkeys(tokens))}  # in order of first appearance
    token_codes = np.fromiter(map(codes.__getitem__, tokens), dtype=np.int64, count=len(tokens))
    pairs = np.unique(text_of * len(codes) + token_codes)  # each (text, token) once
    per_token = np.bincount(pairs % len(codes), minlength=len(codes))
    return dict(zip(codes, per_token.tolist(), strict=True))  # codes iterate in code order


def batch_text_stats(texts: Sequence[str], vocabulary: Mapping[str, int], tokenizer: Mapping[str, Any]
                     ) -> WindowTokens:
    """Per-text OOV shares, window totals per vocabulary id, and the texts each unseen token appears in."""
    texts = list(texts)  # a numpy array or a pandas Series (any index) works too
    pattern = tokenizer.get("token_pattern") or DEFAULT_TOKEN_PATTERN
    if not tokenizer.get("lowercase", True) or not texts:
        return _slow(texts, vocabulary, tokenizer)
    groups: list[tuple[np.ndarray, _Group]] = []  # (positions of the group's texts, its tokens)
    if pattern == DEFAULT_TOKEN_PATTERN:
        # The same tokens as the default pattern, twice as fast: after a greedy run of word characters the
        # scanner restarts on a non-word character, so every match of \w\w+ starts and ends on a boundary.
        pattern = r"\w\w+"
        # ASCII texts (most tweets) skip the regex. Once lowercased, their non-word characters become
        # spaces and str.split leaves exactly the runs of word characters, of which the pattern keeps
        # those of two or more; accent stripping leaves ASCII as it is. They are joined with the separator
        # in lowercase (the group is lowercased after joining): a text that spells it falls back.
        ascii_at = np.fromiter(map(str.isascii, texts), dtype=bool, count=len(texts))
        positions = np.flatnonzero(ascii_at)
        if len(positions):
            group = texts if len(positions) == len(texts) else [texts[i] for i in positions]
            lookup = _lookup(vocabulary, SEPARATOR.lower())
            for char in _ASCII_WORD:
                lookup[char] = _SHORT_ID + 1
            joined = f" {SEPARATOR.lower()} ".join(group).lower().translate(_ASCII_NON_WORD_TO_SPACE)
            found = _token_ids(joined.split(), lookup, len(group))
            if found is None:
                return _slow(texts, vocabulary, tokenizer)
            keep = found.ids != _SHORT_ID
            groups.append((positions, _Group(text_of=found.text_of[keep], ids=found.ids[keep],
                                             oov_text_of=found.oov_text_of, oov_tokens=found.oov_tokens)))
        positions = np.flatnonzero(~ascii_at)
    else:
        positions = np.arange(len(texts))
    if len(positions):
        # Inserted after lowercasing, so no token of a text can equal the (uppercase) separator.
        group = [texts[i] for i in positions]
        normalised = _strip_accents([t.lower() for t in group], tokenizer.get("strip_accents", "unicode"))
        tokens = re.findall(pattern, f" {SEPARATOR} ".join(normalised))
        found = _token_ids(tokens, _lookup(vocabulary, SEPARATOR), len(group))
        if found is None:
            return _slow(texts, vocabulary, tokenizer)  # a text spelled the separator (or the pattern split it)
        groups.append((positions, found))
    text_of = np.concatenate([positions[g.text_of] for positions, g in groups])
    ids = np.concatenate([g.ids for _, g in groups])
    known = ids >= 0
    totals = np.bincount(text_of, minlength=len(texts))
    known_per_text = np.bincount(text_of[known], minlength=len(texts))
    oov = np.zeros(len(texts), dtype=np.float64)
    has_tokens = totals > 0
    oov[has_tokens] = 1.0 - known_per_text[has_tokens] / totals[has_tokens]
    term_counts = np.bincount(ids[known], minlength=len(vocabulary)).astype(np.float64)
    oov_text_of = np.concatenate([positions[g.oov_text_of] for positions, g in groups])
    oov_tokens = [token for _, g in groups for token in g.oov_tokens]
    return _window_tokens(texts, oov, term_counts, (text_of[known], ids[known]), oov_text_of, oov_tokens)


def _window_tokens(texts: Sequence[str], oov: np.ndarray, term_counts: np.ndarray,
                   known_tokens: tuple[np.ndarray, np.ndarray], oov_text_of: np.ndarray,
                   oov_tokens: list[str]) -> WindowTokens:
    distinct, canonical = _canonical(texts)
    return WindowTokens(oov_rates=oov, term_counts=term_counts, distinct_texts=distinct,
                        unseen_words=_unseen_stats(canonical, oov_text_of, oov_tokens),
                        known_texts=_known_texts(canonical, *known_tokens, len(term_counts)))


def _slow(texts: Sequence[str], vocabulary: Mapping[str, int], tokenizer: Mapping[str, Any]) -> WindowTokens:
    stats = text_stats(texts, vocabulary, make_tokenizer(**tokenizer))
    flat = np.fromiter((i for ids in stats.term_ids for i in ids), dtype=np.int64)
    flat_text_of = np.fromiter((i for i, ids in enumerate(stats.term_ids) for _ in ids), dtype=np.int64,
                               count=len(flat))
    text_of = np.fromiter((i for i, terms in enumerate(stats.oov_terms) for _ in terms), dtype=np.int64)
    return _window_tokens(texts, stats.oov_rates, np.bincount(flat, minlength=len(vocabulary)).astype(np.float64),
                          (flat_text_of, flat), text_of, [t for terms in stats.oov_terms for t in terms])
