"""Domain events: the transactional outbox, its relay to Redis Streams,
consumers and replay (docs/events.md).

Public API (imported lazily, so that importing the app stays cheap)::

    from events import Consumer, Event, forward_outbox, replay_events
"""

_EXPORTS = {
    "Consumer": "events.consumer",
    "Event": "events.consumer",
    "forward_outbox": "events.relay",
    "sequence_outbox": "events.relay",
    "prune_sent": "events.relay",
    "select_events": "events.replay",
    "replay_events": "events.replay",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'events' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_EXPORTS[name]), name)
