"""Webhooks: signed HTTP delivery of the outbox's domain events (docs/webhooks.md).

A plug-in on top of ``events``: endpoints are company-scoped configuration, a
fan-out turns outbox rows (by position) into ``Delivery`` rows, Celery tasks POST
them with the Standard Webhooks signature and retry with back-off.
"""
