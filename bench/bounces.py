"""Bounce reports per second: the listener (`mailer bounces serve`'s handler: store, commit,
queue the id on the filesystem broker) against raw SMTP to a sink that keeps nothing, in
interleaved rounds of the same run; then the judging (parse, match by VERP, policy) that
the worker task does, per second.

    .venv/bin/python bench/bounces.py                 # 3 rounds of 500 DSNs, SQLite
    .venv/bin/python bench/bounces.py --n 2000 --rounds 5

Prints one line per phase and round, then one JSON object: raw/s and listener/s (mean of
the rounds), their ratio, judged/s.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _env(tmp: Path) -> None:
    os.environ.update(
        {
            "MAILER_VAR_DIR": str(tmp / "var"),
            "MAILER_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
            "MAILER_BROKER_URL": "filesystem://",
            "MAILER_SECRET_KEY": "bench-secret-key-0123456789",
            "MAILER_SMTP_HOST": "127.0.0.1",
            "MAILER_DEV_OUTBOX": "",
            "MAILER_FROM": "Bench <nyhetsbrev@europakontor.example.no>",
            "MAILER_QUEUE": "mailer-bench-bounces",
        }
    )


def _push(port: int, mails: list[tuple[str, bytes]]) -> float:
    """Seconds to hand every mail over one SMTP connection (each answered before the next)."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for rcpt, data in mails:
            client.sendmail("", [rcpt], data)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mailer-bench-bounces-"))
    _env(tmp)
    from sqlalchemy import insert, select

    from mailer.app import create_app
    from mailer.bounces.listener import ReportListener, database_store
    from mailer.bounces.models import BounceReport
    from mailer.bounces.service import process_report
    from mailer.config import load_settings
    from mailer.migrate import upgrade
    from mailer.sending.models import Delivery
    from mailer.subscribers.models import Subscriber, Subscription
    from mailer.subscribers.subscriptions import default_newsletter
    from mailer.tokens import Purpose
    from tests.bounces import reports
    from tests.harness import factories
    from tests.harness.processes import free_port
    from tests.harness.smtp import SinkHandler

    settings = load_settings()
    upgrade(settings.database_url)
    app = create_app(settings)
    rt = app.extensions["mailer"]
    total = args.n * args.rounds
    with rt.db.session() as s:
        issue = factories.drafted_issue(s)
        newsletter = default_newsletter(s).id
        s.execute(insert(Subscriber), [{"email": f"l{i}@example.no"} for i in range(total)])
        subscriber_ids = s.scalars(select(Subscriber.id).order_by(Subscriber.id)).all()
        s.execute(
            insert(Subscription),
            [
                {"subscriber_id": sid, "newsletter_id": newsletter, "status": "active"}
                for sid in subscriber_ids
            ],
        )
        subs = s.scalars(select(Subscription.id).order_by(Subscription.id)).all()
        s.execute(
            insert(Delivery),
            [{"issue_id": issue.id, "subscription_id": sub, "status": "sent"} for sub in subs],
        )
        deliveries = s.scalars(select(Delivery.id).order_by(Delivery.id)).all()
        s.commit()

    def mails(round_no: int) -> list[tuple[str, bytes]]:
        out = []
        for i in range(args.n):
            d = deliveries[round_no * args.n + i]
            verp = f"bounces+{rt.tokens.sign_short(Purpose.BOUNCE, d)}@b.example.no"
            hard = i % 2 == 0
            out.append(
                (
                    verp,
                    reports.dsn(
                        to=verp,
                        recipient=f"l{d}@example.no",
                        action="failed",
                        status="5.1.1" if hard else "4.2.2",
                        diagnostic=f"smtp; {'550 5.1.1' if hard else '452 4.2.2'} round {round_no}",
                    ),
                )
            )
        return out

    from aiosmtpd.controller import Controller

    sink = Controller(SinkHandler(keep=False), hostname="127.0.0.1", port=free_port())
    sink.start()
    listener = ReportListener(
        database_store(rt.db, settings, "smtp"),
        "127.0.0.1",
        free_port(),
        max_bytes=settings.bounces.max_bytes,
    )
    listener.start()
    raw_rates, listener_rates = [], []
    try:
        for r in range(args.rounds):
            batch = mails(r)
            raw = args.n / _push(sink.port, batch)
            got = args.n / _push(listener.port, batch)
            raw_rates.append(raw)
            listener_rates.append(got)
            print(f"round {r + 1}: raw {raw:.0f}/s  listener {got:.0f}/s  ratio {got / raw:.3f}")
    finally:
        listener.stop()
        sink.stop()

    with rt.db.session() as s:
        ids = s.scalars(select(BounceReport.id).order_by(BounceReport.id)).all()
        assert len(ids) == total, f"stored {len(ids)} of {total}"
        started = time.perf_counter()
        for report_id in ids:
            process_report(s, settings, rt.tokens, report_id)
        judged = len(ids) / (time.perf_counter() - started)
    print(f"judged (parse, match, policy, commit): {judged:.0f}/s")
    result = {
        "n": args.n,
        "rounds": args.rounds,
        "raw_per_s": round(mean(raw_rates)),
        "listener_per_s": round(mean(listener_rates)),
        "ratio": round(mean(g / r for g, r in zip(listener_rates, raw_rates, strict=True)), 3),
        "judged_per_s": round(judged),
        "backend": "sqlite + filesystem broker",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
