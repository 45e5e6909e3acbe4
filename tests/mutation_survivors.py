"""After `make mutate`: per-module counts and every surviving mutant with the line it
changed, as Markdown, for tests/MUTATION.md: `.venv/bin/python -m tests.mutation_survivors`
from the repository root (as a module: tests/queue would hide the standard library's queue).

Uses mutmut's own readers of mutants/ (the same ones `mutmut results` and `mutmut show`
use), so the counts are the run's own. The time columns are mutmut's own durations: the
wall time of each mutant's pytest session (fork to exit), summed per module, so "s/mutant"
is what one worker spends on a mutant of that module (`max_children` run side by side).
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
    total_time, total_run = 0.0, 0
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        if not data.exit_code_by_key:
            continue
        counts = Counter(status_by_exit_code[v] for v in data.exit_code_by_key.values())
        # Mutants that ran a session (not "no tests", not "not checked"): their durations.
        ran = [
            data.durations_by_key[key]
            for key, code in data.exit_code_by_key.items()
            if key in data.durations_by_key and status_by_exit_code[code] != "no tests"
        ]
        total_time += sum(ran)
        total_run += len(ran)
        rows.append((str(path), counts, sum(ran), len(ran)))
        for key, code in sorted(data.exit_code_by_key.items()):
            if status_by_exit_code[code] in ("survived", "suspicious"):
                survivors.append((str(path), key, _changed(get_diff_for_mutant(key, path=path))))
    print(
        "| module | killed | survived | not reached in-process | not run yet | score "
        "| worker-s | s/mutant |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path, c, seconds, run in rows:
        caught = c["killed"] + c["timeout"] + c["segfault"]
        reached = caught + c["survived"] + c["suspicious"]
        score = f"{100 * caught / reached:.0f} %" if reached else "–"
        per = f"{seconds / run:.1f}" if run else "–"
        print(
            f"| {path} | {caught} | {c['survived'] + c['suspicious']} | {c['no tests']} "
            f"| {c['not checked']} | {score} | {seconds:.0f} | {per} |"
        )
    if total_run:
        print(
            f"\n{total_run} mutant sessions took {total_time / 60:.1f} worker-minutes "
            f"({total_time / total_run:.1f} s each)."
        )
    print()
    for path, key, change in survivors:
        print(f"- `{key.split('.')[-1]}` ({path}): {change}")


if __name__ == "__main__":
    main()
