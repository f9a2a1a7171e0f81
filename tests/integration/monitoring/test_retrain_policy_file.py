"""The retraining loop's policy file: every mistake is one line naming the file and the field."""

from __future__ import annotations

import pytest

from sentiment_mlops.errors import ConfigurationError
from sentiment_mlops.monitoring.retrain_policy import load_policy


@pytest.mark.parametrize(("text", "message"), [
    ("canary_percent: 0\n", "policy.yml: canary_percent: Input should be greater than 0"),
    ("promotion: sometimes\n", "policy.yml: promotion: Input should be 'auto' or 'approval'"),
    ("cooldown: 5\n", "policy.yml: cooldown: Extra inputs are not permitted"),
    ("- a list\n", "must be a mapping of policy fields, got list"),
    ("min_new_labels: [\n", "is not valid YAML (line 2)"),
    ("rollout: blue-green\n", "policy.yml: rollout: Input should be 'canary' or 'shadow'"),
    ("rollout: shadow\nshadow_percent: 150\n", "policy.yml: shadow_percent: Input should be less than or equal to 100"),
    ("rollout: shadow\ncanary_percent: 20\n", "policy.yml: canary_percent applies to rollout: canary, but this policy "
                                              "has rollout: shadow; remove it, or set rollout: canary"),
    ("min_shadow_pairs: 50\n", "policy.yml: min_shadow_pairs applies to rollout: shadow, but this policy has "
                               "rollout: canary"),
])
def test_a_bad_policy_file_is_one_line(tmp_path, text, message):
    path = tmp_path / "policy.yml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_policy(path)


def test_a_shadow_policy_reads_back_as_written(tmp_path):
    path = tmp_path / "policy.yml"
    path.write_text("rollout: shadow\nshadow_percent: 25\nmin_shadow_labels: 40\n")
    policy = load_policy(path)
    assert (policy.rollout.value, policy.rollout.alias, policy.shadow_percent, policy.min_shadow_labels) == (
        "shadow", "shadow", 25.0, 40)


def test_the_cli_refuses_retrain_without_watch_and_a_missing_policy(isolated, cli_run):
    code, _, err = cli_run("monitor", "--retrain", "policy.yml")
    assert code == 1 and "--retrain needs --watch" in err
    code, _, err = cli_run("monitor", "--watch", "--retrain", "nowhere.yml")
    assert code == 1 and "cannot read the retrain policy nowhere.yml" in err and len(err.strip().splitlines()) == 1
