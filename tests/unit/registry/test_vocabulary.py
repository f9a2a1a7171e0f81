from __future__ import annotations

import numpy as np
import pytest
import skops.io

from sentiment_mlops.serialization import SKOPS_TRUSTED_TYPES, restore_vocabularies, vocabularies_as_arrays
from sentiment_mlops.training.pipeline import build_pipeline, vectorizers


@pytest.fixture(scope="module", params=["mnb", "linear_svc"])
def fitted(request, corpus_slice):
    texts, labels = corpus_slice
    return build_pipeline(request.param).fit(texts[:2000], labels[:2000]), texts[2000:2300]


def test_skops_round_trip_predicts_identically_lazily_and_after_restore(fitted):
    pipeline, held_out = fitted
    expected = pipeline.predict_proba(held_out)
    with vocabularies_as_arrays(pipeline):
        data = skops.io.dumps(pipeline)
        assert all(isinstance(v.vocabulary, np.ndarray) for v in vectorizers(pipeline))
    assert all(v.vocabulary is None and v.vocabulary_ for v in vectorizers(pipeline))  # put back after the block
    assert skops.io.get_untrusted_types(data=data) == sorted(
        t for t in SKOPS_TRUSTED_TYPES if t in skops.io.get_untrusted_types(data=data))
    lazy = skops.io.loads(data, trusted=SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(lazy.predict_proba(held_out), expected)  # MLflow's pyfunc path
    restored = restore_vocabularies(skops.io.loads(data, trusted=SKOPS_TRUSTED_TYPES))
    for original, loaded in zip(vectorizers(pipeline), vectorizers(restored), strict=True):
        assert loaded.vocabulary_ == original.vocabulary_
        assert all(type(term) is str for term in loaded.vocabulary_)
        assert loaded.vocabulary is None and loaded.fixed_vocabulary_ is False
    np.testing.assert_array_equal(restored.predict_proba(held_out), expected)


def test_the_dict_is_restored_when_serialisation_fails(fitted):
    pipeline, _ = fitted
    before = [dict(v.vocabulary_) for v in vectorizers(pipeline)]
    with pytest.raises(RuntimeError), vocabularies_as_arrays(pipeline):
        raise RuntimeError("disk full")
    assert [v.vocabulary_ for v in vectorizers(pipeline)] == before
