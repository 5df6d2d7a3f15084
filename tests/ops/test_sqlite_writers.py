"""``make run``'s SQLite database with two writers (the server and, in Redis
mode, the Celery worker): a transaction that reads before it writes must wait
for the other writer, not fail with "database is locked" (an undo, a revert and
every service call read first). Runs merp/settings.py in a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sqlite3, sys, threading, time

import django

django.setup()
from django.db import connection, transaction

path = sys.argv[1]
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE t (x integer)")
errors = []


def other_writer():  # the Celery worker's write, on its own connection
    try:
        con = sqlite3.connect(path, timeout=5)
        con.execute("INSERT INTO t VALUES (2)")
        con.commit()
    except Exception as exc:
        errors.append(f"other: {exc}")


with transaction.atomic():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM t")  # plan first ...
        thread = threading.Thread(target=other_writer)
        thread.start()
        time.sleep(0.5)
        try:
            cursor.execute("INSERT INTO t VALUES (1)")  # ... then write
        except Exception as exc:
            errors.append(f"request: {exc}")
thread.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM t")
    print(cursor.fetchone()[0], errors)
"""


def test_a_read_then_write_transaction_waits_for_the_other_writer(tmp_path):
    path = tmp_path / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)],
        cwd=ROOT,
        env={
            **env,
            "DATABASE_URL": f"sqlite:///{path}",
            "DJANGO_SETTINGS_MODULE": "merp.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "2 []"
