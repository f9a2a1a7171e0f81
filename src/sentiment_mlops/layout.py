"""The names every part shares: the files a training run writes, and the three sentiment labels.

The first three files are the seed project's names; existing users load them directly, so they never change.
"""

from __future__ import annotations

MODEL_FILE = "sentiment_model.pkl"
VECTORIZER_FILE = "sentiment_model_vectorizer.pkl"
METRICS_FILE = "metrics.json"
CONFUSION_JSON = "confusion_matrix.json"
CONFUSION_PNG = "confusion_matrix.png"
PROFILE_FILE = "reference_profile.json"
HELDOUT_FILE = "heldout.jsonl"
# The held-out part of the production feedback a run trained with (train --with-feedback); absent otherwise.
FEEDBACK_HELDOUT_FILE = "feedback_heldout.jsonl"
# The sha256 of each feedback text a version trained on, one a line: the replay and shadow gates leave out the
# labels of those texts (deployment.replay.unseen_labels).
FEEDBACK_TRAINED_FILE = "feedback_trained_sha256.txt"
MANIFEST_FILE = "manifest.json"
SKOPS_FILE = "model.skops"
# MLflow keeps the logged model under this name and the run's files under this artifact folder.
MODEL_ARTIFACT = "model"
RUN_ARTIFACTS = "training"
# A registered version is tagged incomplete until its training run has published and verified its artifacts;
# a version left incomplete (the run was killed) is never promoted.
TRAINING_STATUS_TAG = "training_status"
TRAINING_INCOMPLETE = "incomplete"
TRAINING_COMPLETE = "complete"
# sha256 of the manifests, recorded as version tags: the run's (logged to MLflow, set at registration) and the
# local models/ one (set once published), so a manifest re-sealed after an artifact was swapped is detected.
RUN_MANIFEST_TAG = "run_manifest_sha256"
LOCAL_MANIFEST_TAG = "local_manifest_sha256"
# The classes, in the order of every probability vector the API returns (``data.labels`` normalises to them).
LABELS = ("negative", "neutral", "positive")
# Who gave a feedback label (the ``actor`` the store keeps): a token, or nobody when feedback is open.
FEEDBACK_ACTOR = "feedback-token"
ADMIN_ACTOR = "admin-token"
ANONYMOUS_ACTOR = "anonymous"
