"""The six topical collections the built-in corpus concatenates, each selected by keywords.

Shared by the out-of-topic evaluation (benchmarks/quality.py) and the drift benchmarks and tests
(tests/fixtures_drift.py, benchmarks/drift_topics.py). About 2% of the tweets match none and 0.3% more
than one pattern; the patterns were written from the collections' hashtags, handles and subjects.
"""

from __future__ import annotations

import re

TOPICS: dict[str, re.Pattern[str]] = {
    "airline": re.compile(r"@(united|americanair|usairways|southwestair|jetblue|virginamerica)\b", re.I),
    "deflategate": re.compile(r"deflate|brady|patriots|\bnfl\b|goodell", re.I),
    "driverless cars": re.compile(r"driverless|driver-less|self[- ]driving|autonomous|google car", re.I),
    "apple": re.compile(r"\bapple|iphone|\bipad|\bmac\b|itunes|\baapl\b", re.I),
    "coachella": re.compile(r"coachella", re.I),
    "claritin": re.compile(r"claritin|allerg", re.I),
}
