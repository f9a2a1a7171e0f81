"""One router per resource: predict, feedback, health, admin, metrics, ui."""
