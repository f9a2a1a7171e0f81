"""The topic shift now lives in tests/support/drift.py; this name stays for benchmarks/drift_vs_evidently.py
(which puts tests/ on sys.path) until it imports ``support.drift``."""

from support.drift import LEFT_OUT_TOPIC, TOPIC_PATTERN, TopicShift, build_topic_shift, draw_windows

__all__ = ["LEFT_OUT_TOPIC", "TOPIC_PATTERN", "TopicShift", "build_topic_shift", "draw_windows"]
