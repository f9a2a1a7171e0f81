"""Monitoring: the prediction store, its export, drift, live performance and alerts.

Import the submodules directly (``sentiment_mlops.monitoring.store``); this package imports nothing
so that reading one part does not pull in SQLAlchemy or scipy.
"""
