"""What "the version before" means, derived from the append-only history."""

from __future__ import annotations

import pytest

from sentiment_mlops.deployment.history import DeploymentEvent, previous_version, version_stack


def events(*steps: tuple[str, str | None, str | None], environment: str = "production") -> list[DeploymentEvent]:
    return [DeploymentEvent(i, None, environment, action, src, dst, "me@host", None, None)
            for i, (action, src, dst) in enumerate(steps, start=1)]


def test_rollbacks_after_three_promotions_walk_back_one_version_at_a_time():
    history = events(("promote", None, "1"), ("promote", "1", "2"), ("promote", "2", "3"))
    assert previous_version(history, "production", "3") == "2"
    history += events(("rollback", "3", "2"))
    assert previous_version(history, "production", "2") == "1"
    history += events(("rollback", "2", "1"))
    assert previous_version(history, "production", "1") is None


def test_rollback_to_an_explicit_version_pops_back_to_it():
    history = events(("promote", None, "1"), ("promote", "1", "2"), ("promote", "2", "3"),
                     ("rollback", "3", "1"))
    assert version_stack(history, "production") == ["1"]


def test_rollback_to_a_version_never_deployed_pushes_it():
    history = events(("promote", None, "5"), ("rollback", "5", "2"))
    assert version_stack(history, "production") == ["5", "2"]
    assert previous_version(history, "production", "2") == "5"


def test_canary_finish_counts_as_a_deployment_and_auto_rollback_as_an_undo():
    history = events(("promote", None, "1"), ("canary-finish", "1", "2"), ("auto-rollback", "2", "1"))
    assert version_stack(history, "production") == ["1"]


def test_other_environments_and_canary_events_do_not_count():
    history = events(("promote", None, "1")) + events(("promote", None, "7"), environment="staging")
    history += events(("canary-start", "1", "2"), ("canary-abort", "2", "1"), environment="canary")
    assert version_stack(history, "production") == ["1"]
    assert version_stack(history, "staging") == ["7"]


def test_alias_moved_outside_the_tool_goes_back_to_the_last_recorded_version():
    history = events(("promote", None, "1"), ("promote", "1", "2"))
    assert previous_version(history, "production", "9") == "2"


@pytest.mark.parametrize("report", ['{"verdict": "forced"}', {"verdict": "forced"}])
def test_event_reads_report_as_json_text_or_mapping(report):
    event = DeploymentEvent.from_row({"id": 3, "environment": "staging", "action": "promote",
                                      "from_version": 1, "to_version": 2, "report": report})
    assert event.gate_verdict == "forced"
    assert (event.from_version, event.to_version) == ("1", "2")
