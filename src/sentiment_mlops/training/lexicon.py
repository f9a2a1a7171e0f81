"""A sentiment-lexicon prior for the word features: VADER's lexicon turned into a few marker tokens.

The built-in corpus is six topics of tweets; a model fitted on it learns topic words ("flight",
"delayed", "brady") as sentiment and has never seen most sentiment words of other domains. The VADER
lexicon (the PyPI package ``vaderSentiment``, MIT, about 7,500 human-rated words, emoticons and
emoji descriptions) knows them. :func:`tokenize_with_sentiment`, the word vectorizer's tokenizer, splits
the text as ``TfidfVectorizer`` does by default and puts marker tokens in front, which the vectorizer
counts like any word (repeated ``MARKER_REPEAT`` times, see there):

- ``_pos_`` / ``_neg_`` for each lexicon word (``_pos2_`` / ``_neg2_`` again for strong ones, |valence|
  >= 2), with the polarity flipped when a negation ("not", "never", "isn't", ...) is among the three
  words before it — "not bad" counts positive, "never disappointed" too;
- lexicon words before a contrast ("but", "however") are not counted: in "great but awful", what
  follows the contrast is what the writer means;
- ``_none_`` when the text has no lexicon word at all: statements of fact ("the meeting is at 3pm").

The vectorizer stays a plain ``TfidfVectorizer`` (lowercase, accents stripped, this tokenizer), so the
compiled scorer and the drift profile's tokenizer (the default token pattern) work unchanged. The common
case costs two set tests beside the token regex; only texts with a negation or a contrast are walked
token by token.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.metadata import distribution
from pathlib import Path

POSITIVE, NEGATIVE, STRONG_POSITIVE, STRONG_NEGATIVE, NO_SENTIMENT = "_pos_", "_neg_", "_pos2_", "_neg2_", "_none_"
MARKERS = frozenset({POSITIVE, NEGATIVE, STRONG_POSITIVE, STRONG_NEGATIVE, NO_SENTIMENT})
STRONG_VALENCE = 2.0
# Weaker entries ("like" 2.0 is strong, "ok" 0.9, "no" -1.2) still count; below this they are noise.
MIN_VALENCE = 0.5
# Each marker is written this many times. TF-IDF gives a token in a third of all texts a small weight
# beside rare topic words; repeated (sublinear tf: 1 + log 6) the prior counts. Measured with
# benchmarks/quality.py's loop on MultinomialNB, 3 splits and the six topics: 1x lifted out-of-topic
# macro-F1 by 0.022, 3x by 0.036, 6x by 0.043, in-domain macro-F1 +0.008 / +0.007 / +0.005.
MARKER_REPEAT = 6
NEGATION_SCOPE = 3
# As the vectorizer's token pattern leaves them: "don't" is "don", "isn't" is "isn". "can't" and "won't"
# ("can", "won") are left out: those tokens are far more often the verbs.
NEGATIONS = frozenset({
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "nowhere", "without", "cannot",
    "cant", "dont", "don", "doesnt", "doesn", "didnt", "didn", "isnt", "isn", "wasnt", "wasn", "arent", "aren",
    "werent", "weren", "wont", "wouldnt", "wouldn", "couldnt", "couldn", "shouldnt", "shouldn", "aint", "ain",
    "hasnt", "hasn", "havent", "haven", "hadnt", "hadn", "rarely", "seldom", "hardly",
})
CONTRASTS = frozenset({"but", "however", "although", "though", "yet"})
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default


def _read(name: str) -> list[str]:
    path = Path(str(distribution("vaderSentiment").locate_file(f"vaderSentiment/{name}")))
    return path.read_text(encoding="utf-8").splitlines()


@cache
def lexicon() -> dict[str, float]:
    """VADER's word and emoticon valences (-4 to 4), lowercased; entries weaker than MIN_VALENCE left out."""
    valences: dict[str, float] = {}
    for line in _read("vader_lexicon.txt"):
        parts = line.split("\t")
        if len(parts) >= 2 and abs(float(parts[1])) >= MIN_VALENCE:
            valences[parts[0].lower()] = float(parts[1])
    return valences


@cache
def emoji_valences() -> dict[str, float]:
    """Each emoji's valence: the sum of VADER's valences of the words of its description."""
    words = lexicon()
    valences: dict[str, float] = {}
    for line in _read("emoji_utf8_lexicon.txt"):
        emoji, _, description = line.partition("\t")
        value = sum(words.get(word, 0.0) for word in description.lower().split())
        if emoji and abs(value) >= MIN_VALENCE:
            valences[emoji] = value
    return valences


def _markers(valence: float) -> tuple[str, ...]:
    if valence > 0:
        return (POSITIVE, STRONG_POSITIVE) if valence >= STRONG_VALENCE else (POSITIVE,)
    return (NEGATIVE, STRONG_NEGATIVE) if valence <= -STRONG_VALENCE else (NEGATIVE,)


@cache
def _word_markers() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Each lexicon entry's markers, as it is and negated."""
    words = lexicon()
    return ({w: _markers(v) for w, v in words.items()}, {w: _markers(-v) for w, v in words.items()})


@cache
def _emoticons() -> frozenset[str]:
    """The lexicon's entries that are not words (":)", ":-(", "<3")."""
    return frozenset(entry for entry in lexicon() if not TOKEN_PATTERN.fullmatch(entry))


def sentiment_markers(tokens: list[str], text: str) -> list[str]:
    """The marker tokens of a text's tokens (see the module docstring); ``text`` is for emoticons and emoji."""
    plain, negated = _word_markers()
    markers: list[str] = []
    if not plain.keys().isdisjoint(tokens):
        if NEGATIONS.isdisjoint(tokens) and CONTRASTS.isdisjoint(tokens):
            markers = [m for token in tokens if token in plain for m in plain[token]]
        else:
            since_negation = NEGATION_SCOPE + 1
            for token in tokens:
                if token in CONTRASTS:
                    markers, since_negation = [], NEGATION_SCOPE + 1  # the contrast outweighs what came before
                elif token in NEGATIONS:
                    since_negation = 0
                else:
                    since_negation += 1
                    found = (negated if since_negation <= NEGATION_SCOPE else plain).get(token)
                    if found:
                        markers.extend(found)
    # Emoticons (":)", ":(", "<3") are whitespace-separated entries the token pattern cannot see.
    pieces = text.split()
    emoticons = _emoticons().intersection(pieces)
    if emoticons:
        markers.extend(m for piece in pieces if piece in emoticons for m in plain[piece])
    if not text.isascii():
        emojis = emoji_valences()
        markers.extend(m for char in text if char in emojis for m in _markers(emojis[char]))
    return markers or [NO_SENTIMENT]


def tokenize_with_sentiment(text: str) -> list[str]:
    """The vectorizer's tokens (default token pattern) with the marker tokens in front.

    ``text`` arrives preprocessed (lowercased, accents stripped) by the vectorizer.

    >>> tokenize_with_sentiment("not bad at all").count("_pos_"), tokenize_with_sentiment("not bad at all")[-4:]
    (6, ['not', 'bad', 'at', 'all'])
    >>> sorted(set(tokenize_with_sentiment("the meeting is at 3pm")[:-5]))
    ['_none_']
    """
    tokens = TOKEN_PATTERN.findall(text)
    return sentiment_markers(tokens, text) * MARKER_REPEAT + tokens
