"""Deploying to real ``serve`` processes: hot swap under load, two servers converging, canary traffic share."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from sentiment_mlops.deployment.actions import promote, rollback
from sentiment_mlops.deployment.history import read_history
from sentiment_mlops.deployment.policy import GateRules
from support.deployment import BETTER, GOOD, WEAK
from support.polling import wait_for
from support.processes import child_env, health, serve

# Real serve processes following alias moves under load: replica tests, run with the others in
# `make test-deploy` rather than in the five-minute `make test`.
pytestmark = [pytest.mark.slow, pytest.mark.cluster]

POLL_SECONDS = 1.0
SWITCH_BUDGET = POLL_SECONDS + 2.0  # the bound: poll interval plus 2 s
ANY_QUALITY = GateRules(max_macro_f1_drop=1.0)  # these tests are about moving traffic, not model quality
TEXTS = ["the crew were lovely", "lost my luggage again", "flight 22 boards at gate 9", "worst delay ever",
         "thanks for the upgrade"]


@pytest.fixture
def server_env(tracking_uri, tmp_path):
    return child_env(MLFLOW_TRACKING_URI=tracking_uri, SENTIMENT_MLOPS_POLL_SECONDS=str(POLL_SECONDS),
                     SENTIMENT_MLOPS_STORE_URL=f"sqlite:///{tmp_path}/logs/served.db")


def to_production(registry, store, version):
    if (registry.alias_version("staging") or None) is None or registry.alias_version("staging").version != version:
        promote(registry, store, version=version, to="staging", rules=ANY_QUALITY)
    return promote(registry, store, version=None, to="production", rules=ANY_QUALITY)


@dataclass
class Load:
    """A client thread sending single and batch predictions back to back, recording every answer."""

    url: str
    results: list[tuple[float, int, str | None, bool]] = field(default_factory=list)  # start, status, version, ok
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    max_requests: int = 60_000

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            for i in range(self.max_requests):
                if self.stop.is_set():
                    return
                started = time.monotonic()
                try:
                    if i % 2:
                        response = client.post("/predict/batch", json={"texts": TEXTS})
                        body = response.json()
                        versions = {item["model_version"] for item in body.get("predictions", [])}
                        one_version = versions == {body.get("model_version")}
                        self.results.append((started, response.status_code, body.get("model_version"), one_version))
                    else:
                        response = client.post("/predict", json={"text": TEXTS[i % len(TEXTS)]})
                        self.results.append((started, response.status_code, response.json().get("model_version"),
                                             True))
                except httpx.HTTPError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")


def test_hot_swap_under_load_promote_and_roll_back_twice(registry, store, server_env, tmp_path):
    to_production(registry, store, WEAK)
    promote(registry, store, version=BETTER, to="staging", rules=ANY_QUALITY)
    with serve("production", env=server_env, cwd=tmp_path) as url:
        assert health(url)["model_version"] == WEAK
        load = Load(url)
        thread = threading.Thread(target=load.run, name="load", daemon=True)
        thread.start()
        moves: list[tuple[float, float, str]] = []  # (step called, step returned, version)
        try:
            time.sleep(1.0)
            steps = [lambda: promote(registry, store, version=None, to="production", rules=ANY_QUALITY),
                     lambda: rollback(registry, store, environment="production"),
                     lambda: promote(registry, store, version=None, to="production", rules=ANY_QUALITY),
                     lambda: rollback(registry, store, environment="production")]
            for step in steps:
                called_at = time.monotonic()
                result = step()
                moves.append((called_at, time.monotonic(), result.to_version))
                wait_for(lambda v=result.to_version: load.results and load.results[-1][2] == v,
                         timeout=30, interval=0.05, what=f"responses from version {result.to_version}")
                time.sleep(SWITCH_BUDGET)  # traffic on the new version before the next move
        finally:
            load.stop.set()
            thread.join(timeout=30)

    assert not load.errors, load.errors[:5]
    statuses = [status for _, status, _, _ in load.results]
    assert len(statuses) > 200 and set(statuses) == {200}, f"{len(statuses)} requests, statuses {set(statuses)}"
    assert all(one for *_, one in load.results), "a batch mixed model versions"
    switch_times, late = [], []
    for i, (_, moved_at, version) in enumerate(moves):
        # A move's window ends when the next step is called: the alias moves inside the step, before it
        # returns, and a fast server already answers with the next version by then.
        until = moves[i + 1][0] if i + 1 < len(moves) else float("inf")
        window = [(start, v) for start, _, v, _ in load.results if moved_at <= start < until]
        # The switch: the first request after which only the new version answers.
        old_starts = [start for start, v in window if v != version]
        switch_times.append(round((max(old_starts) - moved_at) if old_starts else 0.0, 3))
        late += [(i + 1, version) for start in old_starts if start > moved_at + SWITCH_BUDGET][:1]
    print(f"\nhot swap: {len(statuses)} requests, all 200; switch after each move (s): {switch_times}")
    assert not late and max(switch_times) <= SWITCH_BUDGET, (
        f"responses switched after {switch_times} s; budget {SWITCH_BUDGET} s")
    steps = [(e.action, e.to_version) for e in read_history(store, "production")]
    assert steps == [("promote", WEAK), ("promote", BETTER), ("rollback", WEAK), ("promote", BETTER),
                     ("rollback", WEAK)]


def test_two_servers_converge_and_a_10_percent_canary_gets_about_10_percent(registry, store, server_env, tmp_path):
    to_production(registry, store, WEAK)
    with serve("production", env=server_env, cwd=tmp_path, log_name="a") as first, \
            serve("production", env=server_env, cwd=tmp_path, log_name="b") as second:
        servers = (first, second)
        assert {health(url)["model_version"] for url in servers} == {WEAK}

        to_production(registry, store, BETTER)
        moved = time.monotonic()
        wait_for(lambda: all(health(url)["model_version"] == BETTER for url in servers), timeout=30,
                 interval=0.1, what="both servers on the promoted version")
        converged = time.monotonic() - moved
        assert converged <= SWITCH_BUDGET + 1.0, f"servers took {converged:.1f} s to converge"

        promote(registry, store, version=GOOD, to="staging", rules=ANY_QUALITY)
        promote(registry, store, version=None, to="production", canary_percent=10, rules=ANY_QUALITY)
        wait_for(lambda: all(health(url)["canary_version"] == GOOD for url in servers), timeout=30,
                 interval=0.1, what="both servers loading the canary")
        counts: dict[str, int] = {}
        for url in servers:
            with httpx.Client(base_url=url, timeout=10) as client:
                for i in range(1000):
                    response = client.post("/predict", json={"text": TEXTS[i % len(TEXTS)]})
                    assert response.status_code == 200
                    version = response.json()["model_version"]
                    counts[version] = counts.get(version, 0) + 1
        assert set(counts) == {BETTER, GOOD}
        share = counts[GOOD] / 2000
        assert 0.05 <= share <= 0.15, counts

        rollback(registry, store, environment="canary", reason="test over")
        wait_for(lambda: all(health(url)["canary_version"] is None for url in servers), timeout=30,
                 interval=0.1, what="both servers dropping the canary")
        with httpx.Client(base_url=first, timeout=10) as client:
            versions = {client.post("/predict", json={"text": t}).json()["model_version"] for t in TEXTS * 20}
        assert versions == {BETTER}
