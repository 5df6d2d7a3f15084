"""Webhook delivery throughput: outbox events fanned out to an endpoint and POSTed,
signed, to a local receiver (``http.server`` on 127.0.0.1, in a thread of this
process), by 1 and by ``--threads`` concurrent deliverers; beside plain httpx
POSTs of the same bodies over one kept-alive connection, and the ratio.

Runs against the bench database of ``bench.harness``; it makes its own company
(deleted afterwards, with its endpoint and deliveries) and removes its outbox
rows.
"""

import argparse
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .harness import Report, ratio


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would
    count = 0

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).count += 1
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _seed(company_id: int, n: int, stream: str) -> None:
    from businessobjects.db import insert_rows
    from events.models import OutboxEvent
    from events.outbox import build_event

    events = []
    for i in range(n):
        aggregate_id = i % max(1, n // 2) + 1
        version = i // max(1, n // 2) + 1
        event = build_event(
            aggregate_type="partner",
            action="updated" if version > 1 else "created",
            aggregate_id=aggregate_id,
            company_id=company_id,
            user_id=None,
            correlation_id=str(uuid.uuid4()),
            version=version,
            payload={
                "id": aggregate_id,
                "company": company_id,
                "version": version,
                "name": f"Partner {aggregate_id}",
                "email": f"p{aggregate_id}@example.com",
                "phone": "+33 1 23 45 67 89",
                "is_active": True,
                "extensions": {"credit_limit": "1000.00"},
            },
            changes={"phone": {"old": "", "new": "+33 1 23 45 67 89"}},
        )
        event.stream = stream
        events.append(event)
    insert_rows(OutboxEvent, events)


def _deliver(endpoint_id: int, threads: int) -> float:
    from django.db import connection

    from webhooks import delivery

    def work() -> None:
        try:
            delivery.deliver_due(endpoint_id, time_budget=1e9)
        finally:
            connection.close()

    start = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def run(argv: list[str]) -> dict:
    import httpx
    from django.conf import settings
    from django.db import connection

    from businessobjects.models import Company
    from events import relay
    from events.models import OutboxEvent
    from webhooks import fanout, services
    from webhooks.models import Delivery

    parser = argparse.ArgumentParser(prog="python -m bench webhooks")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    n = args.events * (5 if args.full else 1)
    settings.MERP["WEBHOOK_ALLOW_PRIVATE"] = True  # the receiver is on 127.0.0.1

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    tag = f"bench_{uuid.uuid4().hex[:8]}"
    company = Company.objects.create(name=tag)
    report = Report("webhooks")
    rows = {}
    try:
        endpoint = services.endpoint_create(
            company=company, url=url, event_types=["partner.*"]
        )
        _seed(company.pk, n, f"{tag}_partner_events")
        relay.sequence_outbox()
        start = time.perf_counter()
        while fanout.fan_out(time_budget=1e9).scanned:
            pass
        t_fanout = time.perf_counter() - start
        assert Delivery.objects.filter(endpoint=endpoint).count() == n

        timings = {}
        for threads in sorted({1, args.threads}):
            if threads != 1:
                services.replay(endpoint, since=company.created_at)
            _Handler.count = 0
            timings[threads] = _deliver(endpoint.pk, threads)
            assert _Handler.count == n, (_Handler.count, n)
            states = set(
                Delivery.objects.filter(endpoint=endpoint).values_list(
                    "state", flat=True
                )
            )
            assert states == {"succeeded"}, states

        bodies = list(
            Delivery.objects.filter(endpoint=endpoint).values_list("body", flat=True)
        )
        with httpx.Client() as client:
            start = time.perf_counter()
            for body in bodies:
                client.post(url, content=body.encode()).raise_for_status()
            t_raw = time.perf_counter() - start
    finally:
        OutboxEvent.objects.filter(stream=f"{tag}_partner_events").delete()
        company.delete()
        server.shutdown()
        server.server_close()
        connection.close()

    report.add(
        "fan-out (outbox -> delivery rows)",
        events=n,
        seconds=round(t_fanout, 2),
        per_s=round(n / t_fanout),
    )
    report.add(
        "raw httpx POST, one connection",
        events=n,
        seconds=round(t_raw, 2),
        per_s=round(n / t_raw),
    )
    for threads, seconds in timings.items():
        rows[threads] = round(n / seconds)
        report.add(
            f"webhook delivery, {threads} deliverer(s)",
            events=n,
            seconds=round(seconds, 2),
            per_s=rows[threads],
            vs_raw=ratio(t_raw, seconds),
        )
    report.emit()
    print(
        f"webhook deliveries per second to a local receiver: {rows[1]} (1 "
        f"deliverer), {rows[max(rows)]} ({max(rows)} deliverers); raw httpx "
        f"{round(n / t_raw)}/s; fan-out {round(n / t_fanout)} events/s"
    )
    return {}
