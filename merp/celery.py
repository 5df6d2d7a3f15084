import os

from celery import Celery
from celery.utils.threads import bound_open_broker_sockets
from celery.worker.consumer import Consumer as CeleryConsumer
from celery.worker.consumer.consumer import COLLECT_SOCKET_TIMEOUT

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "merp.settings")

app = Celery("merp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class Consumer(CeleryConsumer):
    """Celery's consumer, made to survive a Redis restart with tasks in flight
    (``CELERY_WORKER_CONSUMER``; see docs/troubleshooting.md).

    On a lost broker connection Celery 5.7.0 calls ``connection.collect()`` and
    then ``connection.close()`` (5.6 only collected). With kombu's Redis
    transport, ``collect()`` closes the channel -- which fails on the dead socket
    (its pending BRPOP), an error kombu swallows, leaving the channel open with
    its unacknowledged tasks -- and then detaches the transport
    (``transport.client = None``). ``close()`` closes the channel again; now it
    restores the unacknowledged tasks through the detached transport:
    ``AttributeError: 'NoneType' object has no attribute 'hostname'``, not a
    connection error, so the worker exits ("Unrecoverable error") whenever a task
    was in flight (acks_late) as Redis went away.

    Here the stale channel goes with the collected connection, as in 5.6: its
    unacknowledged tasks stay in Redis's unacked index, which kombu restores after
    ``visibility_timeout``; events never depend on them (the outbox and the beat
    sweep resend whatever a lost task did not mark sent).
    """

    def on_connection_error_after_connected(self, exc):
        connection = self.connection
        if connection is not None:
            bound_open_broker_sockets(connection, COLLECT_SOCKET_TIMEOUT)
            try:
                connection.collect(socket_timeout=COLLECT_SOCKET_TIMEOUT)
            except Exception:  # teardown of a dead connection: best effort
                pass
            # collect() detached the transport; a channel it failed to close must
            # not be closed again through it.
            connection._default_channel = None
        super().on_connection_error_after_connected(exc)
