"""``python -m bench <name> [--full]``; ``python -m bench all`` runs every one."""

import importlib
import sys

BENCHMARKS = ["list", "write", "bulk", "audit_updates", "events_forward", "ext_filter"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(BENCHMARKS))
        return 0
    names = BENCHMARKS if argv[0] == "all" else [argv[0]]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
        return 2
    from .harness import setup_django

    setup_django()
    for name in names:
        importlib.import_module(f"bench.{name}").run(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
