from __future__ import annotations

import json

import pytest

from sentiment_mlops.errors import ConfigurationError
from sentiment_mlops.training.run import TrainOptions, train
from sentiment_mlops.training.search import random_search


def test_random_search_scores_each_trial_by_cross_validation(corpus_slice):
    texts, labels = corpus_slice
    seen = []
    trials = random_search("complement_nb", texts[:1500], labels[:1500], trials=2, seed=1, on_trial=seen.append)
    assert [t.number for t in trials] == [1, 2] and seen == trials
    assert all(0.3 < t.cv_macro_f1 < 1 and t.cv_std >= 0 for t in trials)
    assert trials[0].params != trials[1].params


@pytest.mark.parametrize(("options", "message"), [
    (TrainOptions(model="forest"), "unknown model"),
    (TrainOptions(test_size=0.9), "--test-size"),
    (TrainOptions(search_trials=-1), "--search"),
])
def test_invalid_options_are_refused(options, message):
    with pytest.raises(ConfigurationError, match=message):
        options.validate()


def test_train_without_tracker_writes_artifacts_and_a_held_out_profile(tmp_path, builtin_dataset, corpus_slice):
    from sentiment_mlops.data.loading import Dataset

    texts, labels = corpus_slice
    data = Dataset(texts=texts[:2000], labels=labels[:2000], summary=builtin_dataset.summary)
    result = train(data, TrainOptions(), models_dir=tmp_path / "models")
    assert result.run_id is None and result.model_version is None
    assert set(result.timings) >= {"split", "fit", "evaluate", "artifacts", "publish"}
    profile = json.loads((tmp_path / "models" / "reference_profile.json").read_text())
    assert profile["size"] == result.test_size == 400
    assert len(profile["per_text"]["oov_rate"]) == 400
    assert 0 < sum(profile["per_text"]["oov_rate"]) / 400 < 1  # held-out texts do have unseen words
    assert not any(p.name.startswith(".train-") for p in tmp_path.iterdir())
