"""The dashboard: experiments, model versions, live traffic, drift and alerts, served by the inference app.

``dashboard.routes.router`` holds the pages under ``/dashboard`` and their JSON under ``/api/``;
``sentiment_mlops.service.create_service`` includes it in the served app.
"""
