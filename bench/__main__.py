"""``python -m bench <name> [<name> ...] [--full] [options]``.

``python -m bench all`` (``make bench``) runs the suite: list, write, bulk,
events, http and asof; ``--full`` runs the 1M-row sizes (``make bench-full``). Other
options go to every benchmark named (run one at a time to pass its own, e.g.
``python -m bench list --sizes 10000 --repeats 20``). The extra benchmarks
``audit_updates``, ``ext_filter``, ``profile_write`` and ``webhooks`` run by
name only.
"""

import importlib
import json
import sys
import time
from datetime import UTC, datetime

SUITE = ["list", "write", "bulk", "events_forward", "http", "asof"]
EXTRA = ["audit_updates", "ext_filter", "profile_write", "webhooks"]
ALIASES = {"events": "events_forward"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("suite:", ", ".join(SUITE), "| extra:", ", ".join(EXTRA))
        return 0
    names: list[str] = []
    while argv and not argv[0].startswith("-"):
        name = argv.pop(0)
        names += SUITE if name == "all" else [ALIASES.get(name, name)]
    unknown = [n for n in names if n not in SUITE + EXTRA]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from all, {SUITE + EXTRA}")
        return 2
    from .harness import RESULTS, setup_django

    setup_django()
    started = time.perf_counter()
    targets = []
    for name in names:
        began = time.perf_counter()
        outcome = importlib.import_module(f"bench.{name}").run(list(argv)) or {}
        print(f"[{name}: {time.perf_counter() - began:.0f} s]", flush=True)
        targets += outcome.get("targets", [])
    elapsed = time.perf_counter() - started
    if targets:
        print("\n== targets ==")
        for target in targets:
            verdict = "met" if target["met"] else "NOT met"
            print(f"{verdict:8s} {target['value']:>6}  {target['target']}")
    print(f"\n{' '.join(names)} {' '.join(argv)}: {elapsed / 60:.1f} min".rstrip())
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "summary.jsonl").open("a") as out:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        line = {
            "at": stamp,
            "benchmarks": names,
            "options": argv,
            "minutes": round(elapsed / 60, 1),
            "targets": targets,
        }
        out.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
