"""Detection rates of our drift report and of Evidently's default data-drift preset, on the same windows.

The shift is real: a model trained without the built-in corpus's Coachella tweets (tests/fixtures_drift.py).
Windows come from kept-topic rows that neither trained the model nor built the reference profile, from
the left-out topic, or mix the two. Evidently sees what its users give it for a text model: the text
column and the predicted label, the reference being the profile's rows. Its default ``DataDriftPreset``
declares dataset drift when at least half the columns drift (here: either of the two).

Evidently needs pandas < 3, so it runs in its own virtual environment, created on first use under
``.bench-venvs/evidently`` (gitignored); it is not a dependency of this project.

    python benchmarks/drift_vs_evidently.py [--windows 20] [--skip-evidently]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import venv
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

VENV = ROOT / ".bench-venvs" / "evidently"
EVIDENTLY_REQUIREMENTS = ["evidently==0.7.23", "pandas<3"]
RUNNER = Path(__file__).resolve().parent / "_evidently_runner.py"
# name, window size, share of the window from the left-out topic
SCENARIOS = [
    ("same topics, 500", 500, 0.0),
    ("new topic, 500", 500, 1.0),
    ("same topics, 300", 300, 0.0),
    ("5% new topic, 300", 300, 0.05),
    ("10% new topic, 300", 300, 0.10),
    ("15% new topic, 300", 300, 0.15),
]


def evidently_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} with {' '.join(EVIDENTLY_REQUIREMENTS)} …", flush=True)
        venv.create(VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS], check=True)
    return python


def main() -> None:
    from fixtures_drift import LEFT_OUT_TOPIC, build_topic_shift, draw_windows
    from sentiment_mlops.monitoring.drift import Reference, drift_report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20, help="Windows per scenario.")
    parser.add_argument("--topic", default=LEFT_OUT_TOPIC,
                        help="Regular expression (case-insensitive) selecting the tweets left out of training.")
    parser.add_argument("--skip-evidently", action="store_true",
                        help="Only our report (Evidently takes seconds per window: use this for 200+ windows).")
    args = parser.parse_args()
    python = None if args.skip_evidently else evidently_python()
    shift = build_topic_shift(topic=re.compile(args.topic, re.IGNORECASE))
    reference = Reference.from_profile(shift.profile)
    print(f"model trained without '{args.topic}' on {shift.train_size:,} rows; reference profile "
          f"{shift.profile_size:,} rows; same-topic pool {len(shift.same_pool):,}, new-topic pool "
          f"{len(shift.new_pool):,}")
    payload: dict = {
        "reference": {"text": shift.profile_texts, "predicted": shift.profile["per_text"]["predicted"]},
        "scenarios": [],
    }
    ours: dict[str, list[bool]] = {}
    fired_by: dict[str, Counter[str]] = {}
    ours_seconds = 0.0
    for index, (name, size, share) in enumerate(SCENARIOS):
        windows = draw_windows(shift, size=size, new_share=share, count=args.windows, seed=100 + index)
        verdicts = []
        entries = []
        for texts in windows:
            predicted, confidences = shift.score(texts)
            started = time.perf_counter()
            report = drift_report(reference, texts, predicted, confidences, model_version="b")
            ours_seconds += time.perf_counter() - started
            verdicts.append(report.drift_detected)
            fired_by.setdefault(name, Counter()).update(report.drifted_checks)
            entries.append({"text": texts, "predicted": predicted})
        ours[name] = verdicts
        payload["scenarios"].append({"name": name, "windows": entries})
    total = args.windows * len(SCENARIOS)
    if python is None:
        print(f"\n{'windows':<22} {'ours':>12}  checks that fired (windows)")
        for name, _, _ in SCENARIOS:
            mine = ours[name]
            checks = ", ".join(f"{check} {n}" for check, n in fired_by[name].most_common()) or "-"
            print(f"{name:<22} {sum(mine):>5}/{len(mine):<3} {sum(mine) / len(mine):>4.0%}  {checks}")
        print(f"\ntime per window: ours {ours_seconds / total * 1000:.0f} ms (report only)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "windows.json"
        data.write_text(json.dumps(payload))
        started = time.perf_counter()
        result = subprocess.run([str(python), str(RUNNER), str(data)], check=True, capture_output=True, text=True)
        evidently_seconds = time.perf_counter() - started
    theirs = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\n{'windows':<22} {'ours':>12} {'Evidently':>12}")
    for name, _, _ in SCENARIOS:
        mine, other = ours[name], theirs[name]
        print(f"{name:<22} {sum(mine):>5}/{len(mine):<3} {sum(mine) / len(mine):>4.0%} "
              f"{sum(other):>5}/{len(other):<3} {sum(other) / len(other):>4.0%}")
    print(f"\ntime per window: ours {ours_seconds / total * 1000:.0f} ms (report only), Evidently "
          f"{evidently_seconds / total * 1000:.0f} ms (report, incl. its start-up)")
    print("same-topic rows are false alarms (lower is better); the others are detections (higher is better)")


if __name__ == "__main__":
    main()
