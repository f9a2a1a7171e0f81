"""The retraining loop when things go wrong, on a real registry, store and loopback webhook: a candidate the gate
refuses fails the loop with production untouched; a canary whose labelled accuracy trails production's is rolled
back. Both are in the history with their evidence and reached the webhook."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sentiment_mlops.config import Settings
from sentiment_mlops.deployment.actions import promote
from sentiment_mlops.monitoring.alerts import MonitorSnapshot
from sentiment_mlops.monitoring.channels import WebhookChannel
from sentiment_mlops.monitoring.retrain import (
    APPROVAL_RECORD_GRACE,
    LoopAlerts,
    RetrainLoop,
    TrainedCandidate,
    current_cycle,
)
from sentiment_mlops.monitoring.retrain_policy import Promotion, RetrainPolicy
from sentiment_mlops.service import ActionsDeployer
from sentiment_mlops.store.deployments import LoopStep
from support.deployment import GOOD, SHUFFLED, WEAK
from support.webhooks import webhook_receiver

POLICY = RetrainPolicy(min_new_labels=5, require="accuracy_drop", min_labelled_for_accuracy=5, cooldown_minutes=0,
                       canary_percent=20, canary_minutes=0, min_canary_predictions=10, min_canary_labels=10)


def _labelled(store, version: str, count: int, *, right: bool, start: int = 0) -> None:
    rows = [{"environment": "production", "model_version": version, "text": f"text {start + i}",
             "sentiment": "positive", "confidence": 0.9,
             "probabilities": {"negative": 0.05, "neutral": 0.05, "positive": 0.9}} for i in range(count)]
    for prediction_id in store.insert_predictions(rows):
        store.add_feedback(prediction_id, "positive" if right else "negative", actor="feedback-token")


def _snapshot() -> MonitorSnapshot:
    return MonitorSnapshot(environment="production", model_version=WEAK, live_accuracy=0.4, reference_accuracy=0.7,
                           labelled=20, drift={"drift_detected": False})


def test_a_refused_candidate_fails_the_loop_and_a_trailing_canary_is_rolled_back(registry, store, tracking_uri):
    for target in ("staging", "production"):
        promote(registry, store, version=WEAK, to=target, actor="tests")
    _labelled(store, WEAK, 20, right=False)
    candidates = iter([SHUFFLED, GOOD])

    def trainer(policy: RetrainPolicy) -> TrainedCandidate:
        return TrainedCandidate(version=next(candidates), run_id=None, macro_f1=0.7,
                                feedback={"rows": 20, "macro_f1": 0.6})

    with webhook_receiver() as receiver:
        channel = WebhookChannel(receiver.url)
        deployer = ActionsDeployer(Settings(tracking_uri=tracking_uri), registry, store)
        loop = RetrainLoop(POLICY, store=store, deployer=deployer, trainer=trainer,
                           alerts=LoopAlerts(store, [channel], "production"))

        line = loop.step(_snapshot())
        assert "failed at staging" in line and "production stays on version 1" in line
        failed = store.deployment_events()[-1]
        assert failed["action"] == "loop-failed" and failed["report"]["gate"]["verdict"] == "fail"
        assert registry.alias_version("production").version == WEAK and registry.alias_version("canary") is None

        _labelled(store, WEAK, 10, right=False, start=100)  # new labels since the failed loop started
        line = loop.step(_snapshot())
        assert "canary at 20%" in line and registry.alias_version("canary").version == GOOD
        cycle = current_cycle(store.deployment_events())
        assert cycle.version == GOOD and cycle.rollout_started_at is not None and not cycle.closed

        _labelled(store, GOOD, 12, right=False, start=200)    # the canary is wrong on its labelled traffic
        _labelled(store, WEAK, 12, right=True, start=300)     # production is right on the same stretch
        line = loop.step(_snapshot())
        assert "canary rolled back" in line
        assert registry.alias_version("canary") is None and registry.alias_version("production").version == WEAK
        actions = [e["action"] for e in store.deployment_events()]
        assert actions[-2:] == ["canary-abort", "loop-rolled-back"]
        assert channel.flush(10)

    steps = [m["details"]["step"] for m in receiver.received]
    assert steps == ["loop-triggered", "loop-trained", "loop-failed", "loop-triggered", "loop-trained", "staged",
                     "canary", "loop-rolled-back"]
    assert receiver.received[2]["severity"] == "critical" and "refused" in receiver.received[2]["message"]


SHADOW_POLICY = RetrainPolicy(min_new_labels=5, require="accuracy_drop", min_labelled_for_accuracy=5,
                              cooldown_minutes=0, rollout="shadow", shadow_percent=50, shadow_minutes=0,
                              min_shadow_pairs=20, min_shadow_labels=10)


def _shadowed(store, answers: list[tuple[str, str, str | None]], *, start: int) -> None:
    """Live requests production (WEAK) answered and its shadow (GOOD) scored too: (live, shadow, label or None)."""
    probabilities = {"negative": 0.2, "neutral": 0.2, "positive": 0.6}
    live_ids = store.insert_predictions([
        {"environment": "production", "model_version": WEAK, "text": f"shadowed {start + i}", "sentiment": live,
         "confidence": 0.6, "probabilities": probabilities} for i, (live, _, _) in enumerate(answers)])
    store.insert_predictions([
        {"environment": "shadow", "model_version": GOOD, "text": f"shadowed {start + i}", "sentiment": shadow,
         "confidence": 0.6, "probabilities": probabilities, "source": "shadow", "shadow_of": live_id}
        for i, ((_, shadow, _), live_id) in enumerate(zip(answers, live_ids, strict=True))])
    for live_id, (_, _, label) in zip(live_ids, answers, strict=True):
        if label is not None:
            store.add_feedback(live_id, label, actor="feedback-token")


def test_a_trailing_shadow_is_ended_and_so_is_one_the_gate_refuses(registry, store, tracking_uri):
    for target in ("staging", "production"):
        promote(registry, store, version=WEAK, to=target, actor="tests")
    _labelled(store, WEAK, 20, right=False)

    def trainer(policy: RetrainPolicy) -> TrainedCandidate:
        return TrainedCandidate(version=GOOD, run_id=None, macro_f1=0.7, feedback={"rows": 20, "macro_f1": 0.6})

    with webhook_receiver() as receiver:
        channel = WebhookChannel(receiver.url)
        deployer = ActionsDeployer(Settings(tracking_uri=tracking_uri), registry, store)
        loop = RetrainLoop(SHADOW_POLICY, store=store, deployer=deployer, trainer=trainer,
                           alerts=LoopAlerts(store, [channel], "production"))

        line = loop.step(_snapshot())
        assert "shadow of production at 50%" in line, line
        assert registry.alias_version("shadow").version == GOOD and registry.alias_version("canary") is None
        assert loop.step(_snapshot()).endswith("watching the shadow of version 4: 0 of 20 shadowed requests; "
                                               "0 of 10 labels")
        # Loop 1: on the same requests the shadow is wrong where production is right.
        _shadowed(store, [("positive", "negative", "positive")] * 12 + [("neutral", "neutral", None)] * 10, start=0)
        line = loop.step(_snapshot())
        assert "shadow ended: shadow accuracy 0.000 trails production's 1.000 on the same 12 labelled" in line
        assert registry.alias_version("shadow") is None and registry.alias_version("production").version == WEAK
        ended = store.deployment_events()[-1]
        assert ended["action"] == "loop-rolled-back" and ended["report"]["evidence"]["agreement"] == 0.4545

        # Loop 2 (the labels above are new): its own stretch holds up, but over every request it shadowed the
        # gate sees it agree with production too rarely and refuses it.
        assert "shadow of production at 50%" in loop.step(_snapshot())
        _shadowed(store, [("positive", "positive", "positive")] * 10 + [("neutral", "negative", None)] * 20,
                  start=100)
        line = loop.step(_snapshot())
        assert "shadow ended: the gate refused it: version 4 refused" in line and "shadow_agreement" in line, line
        assert registry.alias_version("shadow") is None and registry.alias_version("production").version == WEAK
        events = store.deployment_events()
        assert [e["action"] for e in events[-2:]] == ["shadow-end", "loop-rolled-back"]
        assert events[-1]["report"]["gate"]["verdict"] == "fail"
        assert current_cycle(events).closed_by == "loop-rolled-back"
        assert channel.flush(10)

    steps = [m["details"]["step"] for m in receiver.received]
    assert steps == ["loop-triggered", "loop-trained", "staged", "shadow", "loop-rolled-back"] * 2
    assert receiver.received[4]["severity"] == "warning"


def test_a_loop_waits_for_an_approval_being_recorded_and_fails_one_nobody_records(registry, store, tracking_uri):
    """``promote --approve`` moves the canary into production, then records ``loop-approved``: a watcher that looks
    in between waits instead of failing the loop (CI caught that race); a promotion nobody records within the grace
    fails the loop like any change made outside it."""
    for target in ("staging", "production"):
        promote(registry, store, version=WEAK, to=target, actor="tests")
    _labelled(store, WEAK, 20, right=False)
    skew = [timedelta(0)]  # the loop's clock runs ahead by this much
    policy = POLICY.model_copy(update={"promotion": Promotion.APPROVAL})
    deployer = ActionsDeployer(Settings(tracking_uri=tracking_uri), registry, store)

    def trainer(policy: RetrainPolicy) -> TrainedCandidate:
        return TrainedCandidate(version=GOOD, run_id=None, macro_f1=0.7, feedback={"rows": 20, "macro_f1": 0.6})

    loop = RetrainLoop(policy, store=store, deployer=deployer, trainer=trainer,
                       alerts=LoopAlerts(store, [], "production"), admin_token="admin-token-0123456789",
                       clock=lambda: datetime.now(timezone.utc) + skew[0])
    for cycle_number, start in ((1, 0), (2, 1000)):
        assert "canary at 20%" in loop.step(_snapshot())
        _labelled(store, GOOD, 12, right=True, start=start + 200)
        _labelled(store, WEAK, 12, right=True, start=start + 300)
        assert "waiting for approval" in loop.step(_snapshot())
        cycle = current_cycle(store.deployment_events())
        deployer.promote(GOOD, to="production", reason=f"approved (event {cycle.awaiting_id})")  # approve's first half
        assert registry.alias_version("canary") is None and registry.alias_version("production").version == GOOD
        line = loop.step(_snapshot())
        assert line.endswith("was approved into production; waiting for the approval to be recorded"), line
        if cycle_number == 1:  # approve's second half lands: the loop is closed, nothing failed
            deployer.record(LoopStep.APPROVED, from_version=WEAK, to_version=GOOD, reason="approved",
                            report={"cycle": cycle.triggered_id, "approves": cycle.awaiting_id})
            assert current_cycle(store.deployment_events()).closed_by == "loop-approved"
            promote(registry, store, version=WEAK, to="production", actor="tests", force=True, reason="next loop")
            _labelled(store, WEAK, 20, right=False, start=start + 500)
        else:  # nobody records it: past the grace the loop fails, saying the canary ended outside it
            skew[0] = APPROVAL_RECORD_GRACE + timedelta(seconds=1)
            line = loop.step(_snapshot())
            assert "failed at watch" in line and "was ended outside the loop" in line, line
    actions = [e["action"] for e in store.deployment_events() if e["environment"] == "loop"]
    assert actions.count("loop-failed") == 1 and actions[-1] == "loop-failed"
