"""Print `make mutate`'s score from mutmut's CI/CD stats: killed among the mutants the
in-process tests reach (DECISIONS.md: mutants no test reaches in this process, e.g. only
through a worker subprocess, do not count)."""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    stats = json.load(open(path, encoding="utf-8"))
    caught = stats["killed"] + stats["timeout"] + stats["segfault"]
    reached = caught + stats["survived"] + stats["suspicious"]
    score = 100.0 * caught / reached if reached else 0.0
    print(
        f"mutation score: {score:.1f} % ({caught} of {reached} reached mutants killed; "
        f"{stats['no_tests']} not reached in-process; {stats['total']} in all)"
    )


if __name__ == "__main__":
    main(sys.argv[1])
