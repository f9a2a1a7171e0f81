"""Monitoring: drift, live performance, alerts and their channels, the watch loop, auto-rollback.

Import the submodules directly (``sentiment_mlops.monitoring.drift``); this package imports nothing
so that reading one part does not pull in scipy.
"""
