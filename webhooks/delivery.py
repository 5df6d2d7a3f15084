"""Sending deliveries: claim, POST (signed), record, schedule the retry.

Each step is a short transaction; nothing is held open across the HTTP request.
A claim reserves a delivery by moving its ``next_attempt_at`` to the end of a
lease (the timeout plus a margin) and counting the attempt; the result is then
recorded. A worker that dies in between leaves the delivery pending: the sweep
claims it again when the lease ends (at least once).
"""

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.db import connection, transaction
from django.db.models import F, Min, OuterRef, Subquery
from django.utils import timezone

from businessobjects.conf import merp_settings

from . import addresses, signing
from .models import Delivery, Endpoint

logger = logging.getLogger(__name__)

# Characters of the receiver's answer kept on the delivery.
EXCERPT_CHARS = 1000
# Bytes of the answer read at most (the rest is not waited for).
READ_LIMIT = 64 * 1024
USER_AGENT = "M-ERP-Webhooks/1"


@dataclass
class Outcome:
    ok: bool
    status_code: int | None = None
    duration_ms: int = 0
    excerpt: str = ""
    error: str = ""


@dataclass
class DeliverResult:
    claimed: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    more: bool = False


def retry_delay(attempts: int) -> float | None:
    """Seconds before the next try after ``attempts`` failed ones, with jitter;
    None when the schedule is exhausted (the delivery fails)."""
    schedule = merp_settings.WEBHOOK_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    jitter = merp_settings.WEBHOOK_RETRY_JITTER
    return float(schedule[attempts - 1]) * random.uniform(1 - jitter, 1 + jitter)


def due(endpoint_id: int, *, now=None):
    """Pending deliveries of the endpoint that may go now, oldest due first: due,
    and no earlier delivery of the same object still pending (per-object order).
    """
    now = now or timezone.now()
    earlier = (
        Delivery.objects.filter(
            endpoint_id=OuterRef("endpoint_id"),
            aggregate_type=OuterRef("aggregate_type"),
            aggregate_id=OuterRef("aggregate_id"),
            state=Delivery.State.PENDING,
            position__lt=OuterRef("position"),
        )
        .order_by()
        .values("pk")[:1]
    )
    # A scalar subquery rather than NOT EXISTS: PostgreSQL turns NOT EXISTS into
    # an anti join, which with the statistics of a freshly filled table compares
    # every pending row with every other; the subquery is one index probe per
    # row, and the walk down webhook_dlv_due stops after the batch.
    return (
        Delivery.objects.filter(
            endpoint_id=endpoint_id,
            state=Delivery.State.PENDING,
            next_attempt_at__lte=now,
        )
        .alias(earlier_pending=Subquery(earlier))
        .filter(earlier_pending__isnull=True)
        .order_by("next_attempt_at")
    )


def claim(endpoint: Endpoint, batch_size: int) -> list[Delivery]:
    """Reserve up to ``batch_size`` due deliveries no other worker holds."""
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # As the relay's claim: right after a burst the statistics say "few
            # rows" and a bitmap scan would read every pending row to sort them.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_bitmapscan = off")
        rows = list(
            due(endpoint.pk, now=now)
            .select_for_update(skip_locked=True)
            .only("pk", "event_id", "body", "attempts")[:batch_size]
        )
        if rows:
            # The batch is sent one by one: the lease covers all of it.
            lease = timedelta(
                seconds=len(rows) * merp_settings.WEBHOOK_TIMEOUT
                + merp_settings.WEBHOOK_LEASE_MARGIN
            )
            Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(
                attempts=F("attempts") + 1,
                next_attempt_at=now + lease,
                last_attempt_at=now,
                updated_at=now,
            )
    for row in rows:
        row.attempts += 1
    return rows


def signing_secrets(endpoint: Endpoint, now=None) -> list[str]:
    now = now or timezone.now()
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > now:
        found.append(endpoint.previous_secret)
    return found


def send(client: httpx.Client, endpoint: Endpoint, delivery: Delivery) -> Outcome:
    """POST one delivery; never raises for the receiver's or the network's faults."""
    timeout = float(merp_settings.WEBHOOK_TIMEOUT)
    started = time.monotonic()
    try:
        target = addresses.resolve(endpoint.url)
    except addresses.AddressRefused as exc:
        return Outcome(ok=False, error=f"Refused before connecting: {exc}")
    body = delivery.body.encode()
    msg_id = str(delivery.event_id)
    now = timezone.now()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signing.signature_header(
            signing_secrets(endpoint, now), msg_id=msg_id, timestamp=now, body=body
        ),
    }
    try:
        url, extensions = _pinned(endpoint.url, target, headers)
    except httpx.InvalidURL as exc:
        return Outcome(ok=False, error=f"Invalid URL: {exc}")
    deadline = started + timeout
    try:
        with client.stream(
            "POST",
            url,
            content=body,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            extensions=extensions,
        ) as response:
            excerpt = _read_excerpt(response, deadline)
    except _DeadlinePassed:
        return _failure(started, f"No complete answer within {timeout:g} s.")
    except httpx.TimeoutException as exc:
        return _failure(started, f"Timed out after {timeout:g} s ({_name(exc)}).")
    except httpx.HTTPError as exc:
        return _failure(started, f"{_name(exc)}: {exc}")
    duration = _ms(started)
    ok = 200 <= response.status_code < 300
    return Outcome(
        ok=ok,
        status_code=response.status_code,
        duration_ms=duration,
        excerpt=excerpt,
        error="" if ok else f"The receiver answered {response.status_code}.",
    )


class _DeadlinePassed(Exception):
    pass


def _pinned(url: str, target: addresses.Target, headers: dict) -> tuple[str, dict]:
    """Return the URL with the checked IP as its host, plus the request extensions
    that keep TLS (SNI and the certificate check) and the Host header on the
    original name."""
    default = 443 if target.scheme == "https" else 80
    headers["host"] = (
        target.host if target.port == default else f"{target.host}:{target.port}"
    )
    pinned = httpx.URL(url).copy_with(host=target.ip)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return str(pinned), extensions


def _read_excerpt(response: httpx.Response, deadline: float) -> str:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if time.monotonic() > deadline:
            raise _DeadlinePassed
        if size >= READ_LIMIT:
            break
    if time.monotonic() > deadline:
        raise _DeadlinePassed
    text = b"".join(chunks).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    return text.replace("\x00", "\ufffd")  # PostgreSQL text holds no NUL


def _failure(started: float, error: str) -> Outcome:
    return Outcome(ok=False, duration_ms=_ms(started), error=error[:EXCERPT_CHARS])


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _name(exc: Exception) -> str:
    return type(exc).__name__


def record(delivery: Delivery, outcome: Outcome) -> str:
    """Store one attempt's outcome and the next state; return the state."""
    return record_all([(delivery, outcome)])[0]


def _next_state(delivery: Delivery, outcome: Outcome, now) -> tuple[str, object]:
    if outcome.ok:
        return Delivery.State.SUCCEEDED, None
    delay = retry_delay(delivery.attempts)
    if delay is None:
        return Delivery.State.FAILED, None
    return Delivery.State.PENDING, now + timedelta(seconds=delay)


def record_all(results: list[tuple[Delivery, Outcome]]) -> list[str]:
    """Store the outcomes of a batch in one short transaction; return the states.

    Only the holder of the lease records: a row whose attempt count changed
    meanwhile (a replay reset it) is left alone.
    """
    now = timezone.now()
    rows = []
    for row, outcome in results:
        state, next_at = _next_state(row, outcome, now)
        rows.append((row, outcome, state, next_at))
        if not outcome.ok:
            logger.info(
                "Webhook delivery %s attempt %d: %s (%s)",
                row.pk,
                row.attempts,
                outcome.error,
                state,
            )
    with transaction.atomic():
        if connection.vendor != "postgresql":
            for row, outcome, state, next_at in rows:
                Delivery.objects.filter(pk=row.pk, attempts=row.attempts).update(
                    state=state,
                    next_attempt_at=next_at,
                    status_code=outcome.status_code,
                    duration_ms=outcome.duration_ms,
                    response_excerpt=outcome.excerpt,
                    error=outcome.error,
                    updated_at=now,
                )
            return [state for _, _, state, _ in rows]
        with connection.cursor() as cursor:
            # A result lost in a database crash only means the delivery is sent
            # again (at least once); not waiting for the WAL flush is most of
            # the throughput on a busy disk.
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(
                f"UPDATE {Delivery._meta.db_table} AS d SET state = v.state, "
                "next_attempt_at = v.next_at, status_code = v.code, "
                "duration_ms = v.ms, response_excerpt = v.excerpt, "
                "error = v.error, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::int[], %s::text[], "
                "%s::timestamptz[], %s::int[], %s::int[], %s::text[], %s::text[]) "
                "AS v(id, attempts, state, next_at, code, ms, excerpt, error) "
                "WHERE d.id = v.id AND d.attempts = v.attempts",
                [
                    now,
                    [r.pk for r, *_ in rows],
                    [r.attempts for r, *_ in rows],
                    [str(state) for _, _, state, _ in rows],
                    [next_at for *_, next_at in rows],
                    [o.status_code for _, o, *_ in rows],
                    [o.duration_ms for _, o, *_ in rows],
                    [o.excerpt for _, o, *_ in rows],
                    [o.error for _, o, *_ in rows],
                ],
            )
    return [state for _, _, state, _ in rows]


def make_client() -> httpx.Client:
    # No redirects (a 3xx is a failure: following one would skip the address
    # check); no proxies from the environment (they would hide the target).
    return httpx.Client(follow_redirects=False, trust_env=False, verify=True)


def deliver_due(
    endpoint_id: int,
    *,
    batch_size: int | None = None,
    time_budget: float | None = None,
    client: httpx.Client | None = None,
) -> DeliverResult:
    """Send the endpoint's due deliveries until none is left or the time budget
    is spent (``more``)."""
    result = DeliverResult()
    endpoint = Endpoint.objects.filter(pk=endpoint_id, is_active=True).first()
    if endpoint is None:
        return result
    batch_size = batch_size or merp_settings.WEBHOOK_BATCH_SIZE
    budget = merp_settings.WEBHOOK_TIME_BUDGET if time_budget is None else time_budget
    deadline = time.monotonic() + budget
    own_client = client is None
    client = client or make_client()
    try:
        while True:
            rows = claim(endpoint, batch_size)
            if not rows:
                return result
            result.claimed += len(rows)
            # Recorded together after the batch: the lease covers the batch, and
            # a worker dying mid-batch has the batch sent again (at least once).
            outcomes = [(row, send(client, endpoint, row)) for row in rows]
            for state in record_all(outcomes):
                if state == Delivery.State.SUCCEEDED:
                    result.succeeded += 1
                elif state == Delivery.State.FAILED:
                    result.failed += 1
                else:
                    result.retrying += 1
            if time.monotonic() >= deadline:
                result.more = True
                return result
    finally:
        if own_client:
            client.close()


def next_due_in(endpoint_id: int) -> float | None:
    """Seconds until the endpoint's next pending delivery is due (None: none)."""
    soonest = Delivery.objects.filter(
        endpoint_id=endpoint_id, state=Delivery.State.PENDING
    ).aggregate(at=Min("next_attempt_at"))["at"]
    if soonest is None:
        return None
    return max(0.0, (soonest - timezone.now()).total_seconds())
