"""Two (or more) worker hosts sending one issue together: network namespaces
(tests.harness.netns) whose Celery workers reach a PostgreSQL cluster, a Redis and the
scriptable SMTP server that the harness starts on the bridge address, as a Scenario
(tests.harness.send_scenario) so the fault tests' checks apply unchanged.

Each host has its own var and journal directories (journals are per host) and a short
lease; its connections run with short network timeouts (MAILER_DEAD_PEER_SECONDS), so a
cut host's sessions end in seconds.
"""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

from flask import Flask
from sqlalchemy import select, text

from mailer.app import create_app
from mailer.config_network import NetworkSettings
from mailer.migrate import upgrade
from mailer.runtime import Runtime
from mailer.sending.models import Delivery, SendRun
from mailer.sending.states import DeliveryStatus
from tests.harness.databases import PostgresCluster, RedisServer
from tests.harness.netns import Host, HostNetwork
from tests.harness.rabbitmq import Vhost, is_amqp
from tests.harness.relay import HostRelay
from tests.harness.send_scenario import LEASE_SECONDS, SMTP_TIMEOUT_SECONDS, Scenario
from tests.harness.smtp_faults import FaultSMTP
from tests.harness.workers import CeleryWorker

NETWORK = NetworkSettings(
    dead_peer_seconds=3.0,
    statement_timeout_seconds=30.0,
    idle_in_transaction_seconds=2.0,
    # Host A waits for the answer the server holds through the whole cut: the test decides
    # when that answer comes (after the link is back), never A's SMTP timeout, however
    # long the cut phase takes on a slow machine.
    smtp_timeout_seconds=SMTP_TIMEOUT_SECONDS,
)


class HostWorker(CeleryWorker):
    """A `celery worker` started inside a namespace host."""

    def __init__(
        self,
        host: Host,
        env: dict[str, str],
        log_path: Path,
        concurrency: int,
        name: str,
        loglevel: str = "INFO",
    ) -> None:
        super().__init__(env, log_path, concurrency, name=name, pool="prefork", loglevel=loglevel)
        self.host = host

    def command(self) -> list[str]:
        return self.host.command(super().command())


@dataclasses.dataclass
class Hosts:
    net: HostNetwork
    scenario: Scenario
    hosts: list[Host]
    envs: dict[str, dict[str, str]]
    broker: list[HostRelay | Vhost] = dataclasses.field(default_factory=list)

    def start_worker(self, host: Host, concurrency: int = 1) -> HostWorker:
        s = self.scenario
        name = f"{host.name}-{len(s.workers)}"
        worker = HostWorker(host, self.envs[host.name], s.tmp / f"{name}.log", concurrency, name)
        s.workers.append(worker)
        return worker.start()

    def journal_dir(self, host: Host) -> Path:
        return Path(self.envs[host.name]["MAILER_JOURNAL_DIR"])

    def backends_from(self, host: Host) -> int:
        """PostgreSQL sessions the server still keeps for the host (a transaction each
        look: pg_stat_activity is a snapshot per transaction)."""
        with self.scenario.db.engine.connect() as conn:
            query = text(
                "SELECT count(*) FROM pg_stat_activity WHERE client_addr = CAST(:a AS inet)"
            )
            return int(conn.execute(query, {"a": host.address}).scalar() or 0)

    def run_of(self, host: Host) -> SendRun:
        [run] = [r for r in self.scenario.runs() if r.host == host.name]
        return run

    def claimed_by(self, run_id: str) -> set[int]:
        with self.scenario.db.session() as session:
            return set(
                session.scalars(
                    select(Delivery.id).where(
                        Delivery.run_id == run_id, Delivery.status == DeliveryStatus.SENDING
                    )
                )
            )

    def close(self) -> None:
        try:
            self.scenario.close()
        finally:
            try:
                _stop_broker(self.broker)
            finally:
                self.net.close()


def _stop_broker(parts: list[HostRelay | Vhost]) -> None:
    for part in parts:
        if isinstance(part, HostRelay):
            part.stop()
        else:
            part.delete()


def build_hosts(app: Flask, rt: Runtime, test_env: dict[str, str], tmp: Path, count: int) -> Hosts:
    """With the suite on RabbitMQ, the broker is the machine's RabbitMQ (a vhost of the
    test's own) reached through a relay on the bridge address; otherwise the Redis."""
    net = HostNetwork()
    smtp = redis = postgres = None
    broker: list[HostRelay | Vhost] = []
    try:
        hosts = [net.add_host() for _ in range(count)]
        postgres = PostgresCluster(host=net.gateway, clients=str(net.subnet))
        postgres.init()
        postgres.start()
        database_url = postgres.create_database("mailer")
        upgrade(database_url)
        # Bound to the test bridge only, so protected mode (loopback clients only) is off;
        # Redis drops a vanished client's connection after a second of silence too.
        redis = RedisServer(
            tmp / "redis", net.gateway, "--protected-mode", "no", "--tcp-keepalive", "1"
        )
        redis.start()
        broker_url = redis.url
        if is_amqp(test_env["MAILER_BROKER_URL"]):
            vhost = Vhost(test_env["MAILER_BROKER_URL"])
            broker.append(vhost)
            relay = HostRelay(net.gateway, ("127.0.0.1", 5672), 0)
            broker.append(relay)
            broker_url = f"amqp://guest:guest@{net.gateway}:{relay.port}/{vhost.name}"
        smtp = FaultSMTP(net.gateway)
        smtp.start()
        queue = f"{rt.settings.queue}-hosts-{secrets.token_hex(3)}"
        settings = dataclasses.replace(
            rt.settings,
            var_dir=tmp / "here" / "var",
            broker_url=broker_url,
            redis_url=redis.url,
            queue=queue,
            database_url=database_url,
            smtp_host=net.gateway,
            smtp_port=smtp.port,
            journal_dir=tmp / "here" / "journal",
            claim_lease_seconds=LEASE_SECONDS,
            reconcile_interval_seconds=LEASE_SECONDS,
            network=NETWORK,
        )
        common = {
            **test_env,
            "MAILER_BROKER_URL": broker_url,
            "MAILER_REDIS_URL": redis.url,
            "MAILER_QUEUE": queue,
            "MAILER_DATABASE_URL": database_url,
            "MAILER_SMTP_HOST": net.gateway,
            "MAILER_SMTP_PORT": str(smtp.port),
            "MAILER_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS),
            "MAILER_RECONCILE_INTERVAL_SECONDS": str(LEASE_SECONDS),
            "MAILER_DEAD_PEER_SECONDS": str(NETWORK.dead_peer_seconds),
            "MAILER_DB_STATEMENT_TIMEOUT_SECONDS": str(NETWORK.statement_timeout_seconds),
            "MAILER_DB_IDLE_IN_TRANSACTION_SECONDS": str(NETWORK.idle_in_transaction_seconds),
            "MAILER_SMTP_TIMEOUT_SECONDS": str(NETWORK.smtp_timeout_seconds),
        }
        envs = {
            h.name: {
                **common,
                "MAILER_VAR_DIR": str(tmp / h.name / "var"),
                "MAILER_JOURNAL_DIR": str(tmp / h.name / "journal"),
            }
            for h in hosts
        }
        scenario = Scenario(
            app=create_app(settings, RATELIMIT_STORAGE_URI=app.config["RATELIMIT_STORAGE_URI"]),
            smtp=smtp,
            worker_env=common,
            tmp=tmp,
            settings=settings,
            redis=redis,
            postgres=postgres,
        )
        return Hosts(net, scenario, hosts, envs, broker)
    except BaseException:
        _stop_broker(broker)
        for stop in (
            smtp and smtp.stop,
            redis and redis.kill,
            postgres and postgres.destroy,
            net.close,
        ):
            if stop:
                stop()
        raise
