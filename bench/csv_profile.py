#!/usr/bin/env python
"""CSV import, counted: SQL statements and Python calls of one `mailer subscribers import`.

    .venv/bin/python bench/csv_profile.py                          # this checkout
    .venv/bin/python bench/csv_profile.py --baseline /work/main    # and another one

The same file as bench/csv_import.py (N readers, one bad row, one duplicate, one reader who
had left), imported once with ``--already-consented`` (or ``--confirm``: the default mode)
under cProfile, by each checkout's own ``.venv``, into a fresh SQLite database. Counts,
unlike times, do not depend on the machine's load: the calls of the whole process
(``total_calls``) and the statements sent to SQLite (calls of ``Cursor.execute``; those
of ``executemany`` apart: one call, but as many statements as rows). Last line on
stdout: a JSON object with the counts per checkout.
"""

from __future__ import annotations

import argparse
import json
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from csv_import import HERE, _env, _run, _unsubscribe_all, write_csv  # noqa: E402


def profile_once(checkout: Path, csv_file: Path, consented: bool) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix="mailer-bench-csvprof-") as tmp:
        var = Path(tmp)
        env = _env(var)
        if _run(checkout, ["db", "upgrade"], env).returncode:
            raise SystemExit(f"{checkout}: db upgrade failed")
        left = var / "left.csv"
        left.write_text("email,name\nhar.gaatt@example.no,Gikk i fjor\n", encoding="utf-8")
        _run(checkout, ["subscribers", "import", str(left), "--already-consented"], env)
        _unsubscribe_all(var / "mailer.db")
        out = var / "import.prof"
        args = ["subscribers", "import", str(csv_file)]
        if consented:
            args.append("--already-consented")
        venv = checkout / ".venv" / "bin"
        done = subprocess.run(
            [str(venv / "python"), "-m", "cProfile", "-o", str(out), str(venv / "mailer"), *args],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"{checkout}: import failed:\n{done.stdout}\n{done.stderr}")
        print(f"  {checkout}: {done.stdout.strip().splitlines()[-1]}", file=sys.stderr)
        stats = pstats.Stats(str(out))
        total = int(stats.total_calls)  # type: ignore[attr-defined]
        counts = {"python_calls": total, "execute": 0, "executemany": 0}
        for (_file, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
            if name in (
                "<method 'execute' of 'sqlite3.Cursor' objects>",
                "<method 'executemany' of 'sqlite3.Cursor' objects>",
            ):
                counts[name.split("'")[1]] += int(row[1])
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--baseline", type=Path, help="another checkout with its own .venv")
    parser.add_argument("--confirm", action="store_true", help="the default mode, not consented")
    options = parser.parse_args()
    checkouts = {"this": HERE}
    if options.baseline:
        checkouts["baseline"] = options.baseline.resolve()
    summary: dict[str, object] = {
        "rows": options.rows + 3,
        "mode": "confirm" if options.confirm else "consented",
    }
    with tempfile.TemporaryDirectory(prefix="mailer-bench-csvprof-file-") as tmp:
        csv_file = Path(tmp) / "lesere.csv"
        write_csv(csv_file, options.rows)
        for name, checkout in checkouts.items():
            summary[name] = profile_once(checkout, csv_file, not options.confirm)
            print(f"{name}: {summary[name]}", file=sys.stderr)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
