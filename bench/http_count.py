"""SQL statements per request, counted in-process under the app's own settings.

``bench.http`` calls :func:`capture` in-process for M-ERP (its settings are
loaded there) and runs this module as a subprocess for the hand-written app
(``DJANGO_SETTINGS_MODULE=bench.handwritten.settings``): it reads the requests
as JSON on stdin and writes the statements as JSON on stdout. Each request runs
twice (a write with another name) and the second is counted (the first may
fill caches). Never during the
timing: counting forces Django's debug cursor.
"""

import json
import sys


def capture(requests: list[dict]) -> dict[str, list[str]]:
    """``{case: [sql, ...]}`` for each ``{case, method, path, headers, body}``."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    found = {}
    for spec in requests:
        for attempt in range(2):
            body = spec.get("body")
            if body and "name" in body:  # the second write must change something
                body = {**body, "name": f"{body['name']} {attempt}"}
            kwargs = {"headers": spec["headers"]}
            if body is not None:
                kwargs.update(data=json.dumps(body), content_type="application/json")
            with CaptureQueriesContext(connection) as queries:
                response = client.generic(spec["method"], spec["path"], **kwargs)
            if response.status_code >= 400:
                raise RuntimeError(
                    f"{spec['case']}: {response.status_code} {response.content[:300]}"
                )
            if attempt:
                found[spec["case"]] = [q["sql"] for q in queries.captured_queries]
    return found


if __name__ == "__main__":
    import django

    django.setup()
    json.dump(capture(json.load(sys.stdin)), sys.stdout)
