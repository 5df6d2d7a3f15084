"""What DATABASE_REPLICA_URL and DATABASE_POOLER change in the settings (and that
nothing changes without them). Each case loads merp/settings.py in a fresh
interpreter with its own environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SHOW = """
import json
from merp import settings
print(json.dumps({
    "databases": settings.DATABASES,
    "routers": getattr(settings, "DATABASE_ROUTERS", []),
    "middleware": settings.MIDDLEWARE,
}, default=str))
"""


def load(**environ):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DATABASE_REPLICA_URL", "DATABASE_POOLER")
    }
    run = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env={**env, **environ},
        capture_output=True,
        text=True,
    )
    return run.returncode, (json.loads(run.stdout) if run.returncode == 0 else run)


def test_without_replica_or_pooler_nothing_changes():
    code, loaded = load()
    assert code == 0, loaded
    assert list(loaded["databases"]) == ["default"]
    assert loaded["databases"]["default"]["ENGINE"].endswith("sqlite3")
    assert loaded["routers"] == []
    assert not any("routing" in m for m in loaded["middleware"])
    assert "DISABLE_SERVER_SIDE_CURSORS" not in loaded["databases"]["default"]


def test_a_replica_adds_the_alias_the_router_and_the_middleware():
    code, loaded = load(
        DATABASE_URL="postgres://app@primary:5432/merp",
        DATABASE_REPLICA_URL="postgres://app@standby:5432/merp",
    )
    assert code == 0, loaded
    replica = loaded["databases"]["replica"]
    assert (replica["HOST"], replica["NAME"]) == ("standby", "merp")
    assert replica["TEST"] == {"MIRROR": "default"}
    assert loaded["routers"] == ["businessobjects.routing.ReplicaRouter"]
    middleware = loaded["middleware"]
    assert (
        middleware.index("businessobjects.routing.ReplicaRoutingMiddleware")
        == middleware.index("businessobjects.middleware.RequestContextMiddleware") + 1
    )


def test_pgbouncer_turns_off_server_side_cursors_and_prepared_statements():
    code, loaded = load(
        DATABASE_URL="postgres://app@bouncer:6432/merp",
        DATABASE_REPLICA_URL="postgres://app@bouncer:6433/merp",
        DATABASE_POOLER="pgbouncer",
    )
    assert code == 0, loaded
    for alias in ("default", "replica"):
        database = loaded["databases"][alias]
        assert database["DISABLE_SERVER_SIDE_CURSORS"] is True
        assert database["OPTIONS"]["prepare_threshold"] is None
        assert database["OPTIONS"]["server_side_binding"] is False


def test_an_unknown_pooler_is_refused_by_name():
    code, run = load(DATABASE_POOLER="pgpool")
    assert code != 0
    assert "DATABASE_POOLER must be empty or pgbouncer, not 'pgpool'" in run.stderr
