"""Fixtures of the webhooks tests: a real HTTP receiver on 127.0.0.1 (a thread of
this process), settings that allow it, and the events tests' Celery workers."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from businessobjects import services
from businessobjects.models import Partner
from tests.events.conftest import (  # noqa: F401 - fixtures shared with events
    celery_worker_thread,
    events_redis,
    wait_for,
    worker_process,
)
from webhooks import services as webhook_services


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def verify(self, secret: str) -> dict:
        """``standardwebhooks``' own check (raises if the signature is wrong)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """Answers each POST with the next planned ``(status, delay)`` (then 200)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    plan: dict[str, list] = field(default_factory=dict)
    default: tuple[int, float] = (200, 0.0)
    # Set: every request waits until it is cleared (a delivery held in flight).
    hold: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    # Set when a request has come in (before it is held or answered).
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, event_id: str) -> tuple[int, float]:
        with self.lock:
            planned = self.plan.get(event_id) or self.plan.get("*")
            return planned.pop(0) if planned else self.default

    def fail_next(self, event_id: str = "*", *answers: tuple[int, float]) -> None:
        self.plan[event_id] = list(answers)

    def events(self) -> list[dict]:
        with self.lock:
            return [r.json for r in self.requests]

    def event_ids(self) -> list[str]:
        return [e["event_id"] for e in self.events()]

    def wait_for_count(self, count: int, timeout: float = 60) -> list[Received]:
        wait_for(
            lambda: len(self.requests) >= count,
            timeout=timeout,
            what=f"{count} webhook requests (got {len(self.requests)})",
        )
        return list(self.requests)


@pytest.fixture
def receiver():
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            rx: Receiver = state["receiver"]
            event_id = self.headers.get("webhook-id", "")
            status, delay = rx.answer(event_id)
            rx.arrived.set()
            if rx.hold.is_set():
                rx.release.wait(60)
            time.sleep(delay)
            with rx.lock:
                rx.requests.append(
                    Received(
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        self.path,
                    )
                )
            answer = json.dumps({"received": event_id, "status": status}).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the client gave up (timeout)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rx = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    state["receiver"] = rx
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rx
    rx.release.set()
    server.shutdown()
    server.server_close()


def merp_override(settings, **values) -> None:
    settings.MERP = {**settings.MERP, **values}


@pytest.fixture
def fast_webhooks(settings):
    """Private targets allowed (the receiver is on 127.0.0.1), a tiny retry
    schedule and timeout."""
    merp_override(
        settings,
        WEBHOOK_ALLOW_PRIVATE=True,
        WEBHOOK_TIMEOUT=1.0,
        WEBHOOK_RETRY_SCHEDULE=[0.1, 0.1, 0.1],
        WEBHOOK_RETRY_JITTER=0.1,
        WEBHOOK_LEASE_MARGIN=1.0,
    )
    return settings


@pytest.fixture
def make_endpoint(fast_webhooks, receiver):
    def make(company, *, url=None, **data):
        data.setdefault("event_types", ["*"])
        return webhook_services.endpoint_create(
            company=company, url=url or receiver.url, **data
        )

    return make


@pytest.fixture
def make_partner():
    def make(company, name="Acme", **data):
        return services.create(Partner, data={"name": name, **data}, company=company)

    return make
