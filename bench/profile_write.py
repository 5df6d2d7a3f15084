"""Where an API create and update spend their time and statements, in-process.

``python -m bench profile_write [--repeats 200]``: the same requests as
``bench write`` (``POST /api/partners/`` with a ``credit_limit`` value,
``PATCH /api/partners/{id}/`` of the name; token authentication, audit and
events on, ``X-Company-ID`` sent as ``bench http`` does) through the test
client. Prints each request's SQL statements with their time, a pyinstrument
profile (wall clock: Python and waits) of ``--repeats`` requests of each, and
the functions taking the most CPU time in another ``--repeats`` (cProfile with
``time.process_time``: what a loaded machine's waits do not blur). The full
trees go to ``bench/results/profile-<op>.txt`` and ``.html``.
"""

import argparse
import cProfile
import io
import pstats
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext

from .harness import RESULTS, delete_companies
from .write import _setup

WARMUP = 30


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench profile_write")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.001, help="seconds")
    args = parser.parse_args(argv)
    from pyinstrument import Profiler

    from businessobjects.models import Partner

    company, _, client = _setup()
    client.credentials(
        HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"],
        HTTP_X_COMPANY_ID=str(company.pk),
    )
    try:
        counter = iter(range(10**9))
        target = client.post("/api/partners/", {"name": "target"}, format="json")
        target_id = target.json()["id"]

        def create():
            i = next(counter)
            response = client.post(
                "/api/partners/",
                {"name": f"P{i}", "extensions": {"credit_limit": f"{i % 1000}.50"}},
                format="json",
            )
            assert response.status_code == 201, response.content

        def update():
            response = client.patch(
                f"/api/partners/{target_id}/",
                {"name": f"U{next(counter)}"},
                format="json",
            )
            assert response.status_code == 200, response.content

        for _ in range(WARMUP):
            create()
            update()
        RESULTS.mkdir(exist_ok=True)
        for op, fn in (("create", create), ("update", update)):
            with CaptureQueriesContext(connection) as queries:
                fn()
            print(f"\n== {op}: {len(queries)} statements ==")
            for n, query in enumerate(queries.captured_queries, 1):
                sql = " ".join(query["sql"].split())
                print(f"{n:3d} {float(query['time']) * 1000:6.2f} ms  {sql[:150]}")
            profiler = Profiler(interval=args.interval)
            profiler.start()
            for _ in range(args.repeats):
                fn()
            profiler.stop()
            text = profiler.output_text(unicode=True, color=False, show_all=False)
            (RESULTS / f"profile-{op}.txt").write_text(text)
            (RESULTS / f"profile-{op}.html").write_text(profiler.output_html())
            print(f"\n== {op}: pyinstrument, {args.repeats} requests ==")
            print("\n".join(text.splitlines()[:90]))
            started = time.process_time()
            for _ in range(args.repeats):
                fn()
            bare = (time.process_time() - started) / args.repeats * 1000
            cpu = cProfile.Profile(time.process_time)
            started = time.process_time()
            cpu.runcall(_repeat, fn, args.repeats)
            per_request = (time.process_time() - started) / args.repeats * 1000
            out = io.StringIO()
            stats = pstats.Stats(cpu, stream=out).sort_stats("cumulative")
            stats.print_stats(45)
            print(
                f"\n== {op}: CPU {bare:.1f} ms per request in this process "
                f"({per_request:.1f} ms under cProfile) =="
            )
            print(out.getvalue())
        assert Partner.objects.filter(company=company).exists()
    finally:
        delete_companies([company.pk])
    return {}


def _repeat(fn, times: int) -> None:
    for _ in range(times):
        fn()
