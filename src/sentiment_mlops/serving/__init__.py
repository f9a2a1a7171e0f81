"""The inference service: compiled scorer, ``create_app`` (FastAPI), hot-swapping model holder, prediction log."""
