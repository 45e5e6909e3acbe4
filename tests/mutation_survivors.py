"""After `make mutate`: per-module counts and every surviving mutant with the line it
changed, as Markdown, for tests/MUTATION.md: `.venv/bin/python -m tests.mutation_survivors`
from the repository root (as a module: tests/queue would hide the standard library's queue).

Uses mutmut's own readers of mutants/ (the same ones `mutmut results` and `mutmut show`
use), so the counts are the run's own.
"""

from __future__ import annotations

from collections import Counter

from mutmut.__main__ import SourceFileMutationData, get_diff_for_mutant, walk_mutatable_files
from mutmut.stats import status_by_exit_code


def _changed(diff: str) -> str:
    minus = [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("-") and not line.startswith("---")
    ]
    plus = [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return f"`{' '.join(minus)[:90]}` → `{' '.join(plus)[:90]}`"


def main() -> None:
    rows = []
    survivors = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        if not data.exit_code_by_key:
            continue
        counts = Counter(status_by_exit_code[v] for v in data.exit_code_by_key.values())
        rows.append((str(path), counts))
        for key, code in sorted(data.exit_code_by_key.items()):
            if status_by_exit_code[code] in ("survived", "suspicious"):
                survivors.append((str(path), key, _changed(get_diff_for_mutant(key, path=path))))
    print("| module | killed | survived | not reached in-process | not run yet | score |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for path, c in rows:
        caught = c["killed"] + c["timeout"] + c["segfault"]
        reached = caught + c["survived"] + c["suspicious"]
        score = f"{100 * caught / reached:.0f} %" if reached else "–"
        print(
            f"| {path} | {caught} | {c['survived'] + c['suspicious']} | {c['no tests']} "
            f"| {c['not checked']} | {score} |"
        )
    print()
    for path, key, change in survivors:
        print(f"- `{key.split('.')[-1]}` ({path}): {change}")


if __name__ == "__main__":
    main()
