#!/usr/bin/env python
"""CSV import benchmark: `mailer subscribers import` of N rows, this checkout against another.

    .venv/bin/python bench/csv_import.py                         # 3 000 rows, 3 rounds
    .venv/bin/python bench/csv_import.py --baseline /work/main   # side by side with a checkout
    .venv/bin/python bench/csv_import.py --rows 10000 --rounds 5

Each round runs, for every checkout (interleaved, so a load that drifts weighs on both),
the real command from that checkout's own ``.venv`` in a fresh SQLite database and
filesystem broker under a temporary var dir, migrated first (not timed). The file has N
readers with Norwegian names, æøå and IDN addresses, topics, one bad row, one duplicate
and one reader who had left before (unsubscribed in the database first). Both modes:
``--already-consented`` (active at once) and the default (confirmation mails queued for every
reader). The time is the command's wall clock; the ratio is baseline / this checkout.

Output: one line per run on stderr, then a JSON object on stdout's last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
TOPICS = ["Klima", "Forskning", "Innovasjon"]


def write_csv(path: Path, rows: int) -> None:
    lines = ["email,name,language,topics"]
    for i in range(rows):
        domain = "blåbær.no" if i % 10 == 0 else "example.no"
        lines.append(f"leser{i}@{domain},Åse Ødegård {i},{'nb' if i % 3 else 'en'},{TOPICS[i % 3]}")
    lines.append("ikke-en-adresse,Feil Rad,nb,")
    lines.append("leser1@example.no,Dublett,nb,")
    lines.append("har.gaatt@example.no,Gikk i fjor,nb,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        MAILER_DATABASE_URL=f"sqlite:///{var / 'mailer.db'}",
        MAILER_BROKER_URL="filesystem://",
        MAILER_VAR_DIR=str(var),
        MAILER_SECRET_KEY="bench-secret-key-bench-secret-key-0123",
        MAILER_FROM="Europakontoret <nyhetsbrev@europakontor.example.no>",
        MAILER_DEV_OUTBOX="true",
        MAILER_TOPICS=",".join(TOPICS),
    )
    return env


def _run(checkout: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checkout / ".venv" / "bin" / "mailer"), *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def one_run(checkout: Path, csv_file: Path, consented: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="mailer-bench-csv-") as tmp:
        var = Path(tmp)
        env = _env(var)
        done = _run(checkout, ["db", "upgrade"], env)
        if done.returncode:
            raise SystemExit(f"{checkout}: db upgrade failed:\n{done.stderr}")
        # The reader who left before: imported once, then unsubscribed (not timed).
        left = var / "left.csv"
        left.write_text("email,name\nhar.gaatt@example.no,Gikk i fjor\n", encoding="utf-8")
        _run(checkout, ["subscribers", "import", str(left), "--already-consented"], env)
        _unsubscribe_all(var / "mailer.db")
        args = ["subscribers", "import", str(csv_file)]
        if consented:
            args.append("--already-consented")
        start = time.perf_counter()
        done = _run(checkout, args, env)
        elapsed = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"{checkout}: import failed:\n{done.stdout}\n{done.stderr}")
        print(f"  {checkout}: {done.stdout.strip().splitlines()[-1]}", file=sys.stderr)
        return elapsed


def _unsubscribe_all(db: Path) -> None:
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE subscription SET status = 'unsubscribed'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout with its own .venv")
    options = parser.parse_args()
    checkouts = {"this": HERE}
    if options.baseline:
        checkouts["baseline"] = options.baseline.resolve()
    results: dict[str, dict[str, list[float]]] = {
        mode: {name: [] for name in checkouts} for mode in ("consented", "confirm")
    }
    with tempfile.TemporaryDirectory(prefix="mailer-bench-csv-file-") as tmp:
        csv_file = Path(tmp) / "lesere.csv"
        write_csv(csv_file, options.rows)
        for round_no in range(1, options.rounds + 1):
            for mode in results:
                # Alternate which checkout goes first, so neither always runs on a warm cache.
                order = list(checkouts.items())
                if round_no % 2 == 0:
                    order.reverse()
                for name, checkout in order:
                    seconds = one_run(checkout, csv_file, mode == "consented")
                    results[mode][name].append(seconds)
                    print(f"round {round_no} {mode} {name}: {seconds:.2f} s", file=sys.stderr)
    summary: dict[str, object] = {"rows": options.rows + 3, "rounds": options.rounds}
    for mode, by_name in results.items():
        medians = {name: statistics.median(times) for name, times in by_name.items()}
        summary[mode] = {"median_seconds": medians, "runs": by_name}
        if "baseline" in medians:
            summary[mode]["ratio_baseline_over_this"] = medians["baseline"] / medians["this"]  # type: ignore[index]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
