"""Promotion between environments: the gate (pure policy), promote / rollback actions, and the history."""

from __future__ import annotations
