"""Drift detection for every topic of the built-in corpus, left out of training one at a time.

For each topic (tests/support/corpus_topics.py): train the default model without it (tests/fixtures_drift.py:
60% training, 20% reference profile, 20% pool for drift-free windows), then windows of 300 texts —
kept topics only (false alarms), the left-out topic only, and 5%, 10%, 20% of it mixed in — ``--windows``
of each. Evidently's default ``DataDriftPreset`` runs on the same windows in its own virtual environment,
as in benchmarks/drift_vs_evidently.py. Goals (issue 11), for every topic: false alarms <= 5%, pure >= 95%,
10% mix >= 80%.

Every text of a topic holds one of the keywords that select it (tests/support/corpus_topics.py), and the model
never saw them: one word shared by the whole topic, which the new-terms check finds at once. A new topic in
real traffic need not have one. ``--spread`` removes each keyword's token from the topic's texts, so what is
left of the topic spreads over its other words ("flight", "delayed", "cars", "balls", "allergy" ...).

    python benchmarks/drift_topics.py [--windows 50] [--skip-evidently] [--topics coachella,apple] [--spread]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

SIZE = 300
SCENARIOS = [("same", 0.0), ("pure", 1.0), ("5%", 0.05), ("10%", 0.10), ("20%", 0.20)]
GOALS = {"same": ("<=", 0.05), "pure": (">=", 0.95), "10%": (">=", 0.80)}


def met(name: str, rate: float) -> str:
    if name not in GOALS:
        return ""
    op, bound = GOALS[name]
    return "" if (rate <= bound if op == "<=" else rate >= bound) else "!"


def main() -> None:
    from drift_vs_evidently import RUNNER, evidently_python
    from fixtures_drift import build_topic_shift, draw_windows
    from sentiment_mlops.monitoring.drift import Reference, drift_report
    from support.corpus_topics import TOPICS
    from support.drift import spread_topic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=50, help="Windows per scenario and topic.")
    parser.add_argument("--topics", default=",".join(TOPICS))
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--evidently-windows", type=int, default=None,
                        help="Give Evidently only the first N windows of each cell (it takes seconds per window).")
    parser.add_argument("--spread", action="store_true",
                        help="Remove the tokens holding the topic's selecting keywords from its texts.")
    args = parser.parse_args()
    python = None if args.skip_evidently else evidently_python()
    rows = []
    for topic in args.topics.split(","):
        shift = build_topic_shift(topic=TOPICS[topic])
        if args.spread:
            shift = spread_topic(shift, TOPICS[topic])
        reference = Reference.from_profile(shift.profile)
        predicted_reference = shift.profile["per_text"]["predicted"]
        payload: dict = {"reference": {"text": shift.profile_texts, "predicted": predicted_reference}, "scenarios": []}
        ours: dict[str, float] = {}
        fired: dict[str, Counter[str]] = {}
        for index, (name, share) in enumerate(SCENARIOS):
            windows = draw_windows(shift, size=SIZE, new_share=share, count=args.windows, seed=100 + index)
            hits, entries, counter = 0, [], Counter[str]()
            for texts in windows:
                predicted, confidences = shift.score(texts)
                report = drift_report(reference, texts, predicted, confidences, model_version="b")
                hits += report.drift_detected
                counter.update(report.drifted_checks)
                entries.append({"text": texts, "predicted": predicted})
            ours[name], fired[name] = hits / len(windows), counter
            payload["scenarios"].append({"name": name, "windows": entries[:args.evidently_windows]})
        theirs: dict[str, float] = {}
        if python is not None:
            with tempfile.TemporaryDirectory() as tmp:
                data = Path(tmp) / "windows.json"
                data.write_text(json.dumps(payload))
                result = subprocess.run([str(python), str(RUNNER), str(data)], check=True, capture_output=True,
                                        text=True)
            verdicts = json.loads(result.stdout.strip().splitlines()[-1])
            theirs = {name: sum(v) / len(v) for name, v in verdicts.items()}
        rows.append((topic, len(shift.new_pool), ours, theirs, fired))
        print(f"{topic}: trained on {shift.train_size:,}, profile {shift.profile_size:,}, "
              f"topic {len(shift.new_pool):,} texts; checks that fired in the 10% windows: "
              + (", ".join(f"{c} {n}" for c, n in fired["10%"].most_common()) or "-"), flush=True)
    evidently = f"Evidently DataDriftPreset ({args.evidently_windows or args.windows} per cell)"
    print(f"\n{'spread (keywords removed)' if args.spread else 'topics as they are'}: "
          f"windows of {SIZE} texts, {args.windows} per cell; ours / {evidently}; "
          "'!' marks a missed goal (false alarms <= 5%, pure >= 95%, 10% >= 80%)")
    print(f"{'topic left out':<16} " + " ".join(f"{name:>15}" for name, _ in SCENARIOS))
    for topic, _, ours, theirs, _ in rows:
        cells = []
        for name, _ in SCENARIOS:
            other = f"{theirs[name]:4.0%}" if name in theirs else "   -"
            cells.append(f"{ours[name]:5.0%}{met(name, ours[name]):1} / {other}")
        print(f"{topic:<16} " + " ".join(f"{c:>15}" for c in cells))


if __name__ == "__main__":
    main()
