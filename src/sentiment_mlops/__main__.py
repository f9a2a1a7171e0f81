"""``python -m sentiment_mlops``: the same as the ``sentiment-mlops`` console script."""

from __future__ import annotations

if __name__ == "__main__":
    from sentiment_mlops.cli import run

    run()
