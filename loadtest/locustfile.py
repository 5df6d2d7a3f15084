"""Load test of the M-ERP API: reads, writes and custom-field filters (docs/scaling.md).

Each simulated client authenticates with one of the tokens in
``MERP_LOAD_TOKENS`` (comma-separated; tests/scale/test_load.py makes them) and
works on the partners of its company, which has the custom fields ``tier``
(integer) and ``region`` (string). Each create is read back at once through a
list page, which must show it (read-your-writes with a replica). A client edits
only partners it created itself, with their current ``version``, so no write
fails on a lost-update conflict: every write must succeed.

    locust -f loadtest/locustfile.py --headless --users 50 --spawn-rate 25 \\
        --run-time 60s --host http://127.0.0.1:8850
"""

import itertools
import os
import random

from locust import HttpUser, between, task

TOKENS = [t for t in os.environ.get("MERP_LOAD_TOKENS", "").split(",") if t]
REGIONS = ("north", "south", "east", "west")
_next_token = itertools.count()


class ApiClient(HttpUser):
    wait_time = between(
        float(os.environ.get("MERP_LOAD_WAIT_MIN", "0.1")),
        float(os.environ.get("MERP_LOAD_WAIT_MAX", "0.5")),
    )

    def on_start(self) -> None:
        if not TOKENS:
            raise RuntimeError("set MERP_LOAD_TOKENS to API tokens of one company")
        token = TOKENS[next(_next_token) % len(TOKENS)]
        self.client.headers["Authorization"] = f"Token {token}"
        self.mine: dict[int, int] = {}  # partner id -> version

    @task(4)
    def list_partners(self) -> None:
        self.client.get("/api/partners/?page_size=20", name="list")

    @task(2)
    def filter_by_custom_fields(self) -> None:
        tier = random.randint(1, 5)
        region = random.choice(REGIONS)
        self.client.get(
            f"/api/partners/?ext__tier__gte={tier}&ext__region={region}&page_size=20",
            name="list ext filter",
        )

    @task(2)
    def read_one(self) -> None:
        if self.mine:
            pk = random.choice(list(self.mine))
            self.client.get(f"/api/partners/{pk}/", name="detail")

    @task(2)
    def create(self) -> None:
        email = f"load-{random.randrange(10**12)}@example.test"
        with self.client.post(
            "/api/partners/",
            json={
                "name": f"Load partner {random.randrange(10**9)}",
                "email": email,
                "extensions": {
                    "tier": random.randint(1, 5),
                    "region": random.choice(REGIONS),
                },
            },
            name="create",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            body = response.json()
            self.mine[body["id"]] = body["version"]
        # Read your write at once, through a list page (served by the replica
        # when one is configured, unless it has not replayed this write yet).
        with self.client.get(
            f"/api/partners/?email={email}", name="list own write", catch_response=True
        ) as response:
            found = response.ok and [r["id"] for r in response.json()["results"]]
            if found != [body["id"]]:
                response.failure(f"own write {body['id']} not listed: {found}")

    @task(1)
    def update(self) -> None:
        if not self.mine:
            return
        pk = random.choice(list(self.mine))
        with self.client.patch(
            f"/api/partners/{pk}/",
            # A new name every time: an update that changes nothing writes no
            # event, and the test counts one event per successful write.
            json={
                "version": self.mine[pk],
                "name": f"Load partner {random.randrange(10**9)}",
                "extensions": {"tier": random.randint(1, 5)},
            },
            name="update",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            self.mine[pk] = response.json()["version"]

    @task(1)
    def history(self) -> None:
        if self.mine:
            pk = random.choice(list(self.mine))
            self.client.get(f"/api/partners/{pk}/history/", name="history")
