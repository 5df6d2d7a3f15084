"""The production processes driven over HTTP and Redis, as a client would."""

import json
import uuid
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import redis

from .conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


class Assets(HTMLParser):
    """The scripts and linked files (stylesheets, icons) a page loads."""

    def __init__(self):
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.links.append((attrs.get("rel", ""), attrs["href"]))


def page_assets(html: str) -> Assets:
    parser = Assets()
    parser.feed(html)
    return parser


def assert_served_here(stack, page_url: str, refs: list[str]) -> None:
    """Each reference resolves to this installation and answers 200 with a body."""
    here = urlsplit(stack.base_url).netloc
    for ref in refs:
        url = urljoin(page_url, ref)
        assert urlsplit(url).netloc == here, f"{page_url} loads {url}"
        answer = httpx.get(url)
        assert answer.status_code == 200, f"{url}: {answer.status_code}"
        assert answer.content, url


def test_ready_checks_database_redis_celery_and_outbox(stack):
    answer = httpx.get(f"{stack.base_url}/health/ready/", timeout=10)
    assert answer.status_code == 200, answer.text
    checks = answer.json()["checks"]
    for name in ("database", "redis", "celery", "outbox"):
        assert checks[name]["status"] in ("ok", "warning"), checks
    assert checks["celery"]["status"] == "ok", checks


def test_beat_schedules_the_outbox_sweep_and_the_worker_runs_it(stack):
    beat, worker = stack.processes["beat"], stack.processes["worker"]
    wait_for(
        lambda: "Sending due task events-forward-outbox" in beat.output,
        f"beat to send the sweep:\n{stack.logs()}",
    )
    wait_for(
        lambda: (
            "events.tasks.forward_outbox" in worker.output
            and "succeeded" in worker.output
        ),
        f"the worker to run it:\n{stack.logs()}",
    )


def test_token_crud_custom_fields_history_and_events(stack):
    streams = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    group = f"e2e-{uuid.uuid4().hex[:8]}"
    # A consumer group created before the writes sees exactly what follows.
    streams.xgroup_create("partner_events", group, id="$", mkstream=True)

    token = stack.token()
    http = httpx.Client(
        base_url=stack.base_url, headers={"Authorization": f"Token {token}"}
    )
    field = http.post(
        "/api/custom-fields/",
        json={
            "model": "partner",
            "name": "e2e_tier",
            "field_type": "choice",
            "choices": ["gold", "silver"],
        },
    )
    assert field.status_code == 201, field.text

    created = http.post(
        "/api/partners/",
        json={"name": "Deployed Co", "extensions": {"e2e_tier": "gold"}},
    )
    assert created.status_code == 201, created.text
    partner = created.json()
    pk = partner["id"]
    assert (partner["version"], partner["extensions"]["e2e_tier"]) == (1, "gold")

    patched = http.patch(
        f"/api/partners/{pk}/",
        json={
            "version": 1,
            "phone": "+49 30 1234",
            "extensions": {"e2e_tier": "silver"},
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2
    assert patched.json()["extensions"]["e2e_tier"] == "silver"

    stale = http.patch(f"/api/partners/{pk}/", json={"version": 1, "name": "Lost"})
    assert stale.status_code == 409, stale.text

    listed = http.get("/api/partners/", params={"ext__e2e_tier": "silver"})
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["results"]] == [pk]

    deleted = http.delete(f"/api/partners/{pk}/", params={"version": 2})
    assert deleted.status_code == 204, deleted.text
    assert http.get(f"/api/partners/{pk}/").status_code == 404

    history = http.get(f"/api/partners/{pk}/history/")
    assert history.status_code == 200, history.text
    entries = history.json()["results"]
    assert [e["action"] for e in entries] == ["deleted", "updated", "created"]
    assert entries[1]["changes"]["extensions.e2e_tier"] == {
        "old": "gold",
        "new": "silver",
    }

    # The worker relays the outbox to the stream; a consumer group reads it.
    received: list[dict] = []

    def read_all_three():
        for _stream, entries in streams.xreadgroup(
            group, "e2e-consumer", {"partner_events": ">"}, count=100, block=500
        ):
            for entry_id, fields in entries:
                streams.xack("partner_events", group, entry_id)
                if fields["aggregate_id"] == str(pk):
                    received.append(fields)
        return len(received) >= 3

    wait_for(read_all_three, f"3 events of partner {pk}:\n{stack.logs()}", 60)
    assert [(e["event_type"], e["version"]) for e in received] == [
        ("partner.created", "1"),
        ("partner.updated", "2"),
        ("partner.deleted", "2"),
    ]
    assert json.loads(received[0]["payload"])["extensions"]["e2e_tier"] == "gold"
    assert json.loads(received[1]["changes"])["extensions.e2e_tier"]["new"] == (
        "silver"
    )
    assert {e["company_id"] for e in received} == {str(stack.company_id)}
    assert streams.xpending("partner_events", group)["pending"] == 0


def test_admin_login_page_and_its_styles(stack):
    page_url = f"{stack.base_url}/admin/login/"
    page = httpx.get(page_url)
    assert page.status_code == 200, page.text
    assets = page_assets(page.text)
    stylesheets = [href for rel, href in assets.links if rel == "stylesheet"]
    assert stylesheets, page.text
    assert_served_here(stack, page_url, stylesheets + assets.scripts)
    css = httpx.get(urljoin(page_url, stylesheets[0]))
    assert css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_only_the_installations_files(stack, path):
    page_url = f"{stack.base_url}{path}"
    page = httpx.get(page_url)
    assert page.status_code == 200, page.text
    assets = page_assets(page.text)
    assert assets.scripts, page.text
    assert_served_here(stack, page_url, assets.scripts + [h for _, h in assets.links])
    # The page's script reads the schema from the installation too.
    assert httpx.get(f"{stack.base_url}/api/schema/").status_code == 200
