"""PostgreSQL restarted under load. The restart happens on a private, throwaway cluster (initdb into a
temporary directory, its own port), so the shared test server is never touched. A real ``carewindow
serve`` process keeps running through the outage: requests during it get 503 ``unavailable``; afterwards
the same process serves again; clients retrying with an idempotency key (and Meta retrying webhooks) end
with every message and event stored exactly once."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from liveserver import carewindow_env, free_port, spawn, stop, wait_ready
from reliability import record
from test_server_kill import SECRET, delivery

from carewindow.wire.signature import HEADER, sign

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("pg_restart")]
KEY = "pg-restart-admin-key"


class Cluster:
    def __init__(self, bindir: str, datadir: Path, port: int) -> None:
        self.bindir, self.datadir, self.port = bindir, datadir, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/cw"

    def _run(self, *args: str) -> None:
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.datadir / "log"), "-w", "-t", "30",
            "-o", f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) for a private cluster")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start a private PostgreSQL cluster")
    bindir = os.path.dirname(bins[-1])
    tmp = Path(tempfile.mkdtemp(prefix="cw-pg-"))
    datadir = tmp / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
        shutil.chown(datadir, "postgres")
    c = Cluster(bindir, datadir, free_port())
    try:
        try:
            c._run("initdb", "-D", str(datadir), "-A", "trust", "-U", "postgres", "--no-sync")
            c.start()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            pytest.skip(f"could not set up a private PostgreSQL cluster: {exc}")
        with psycopg.connect(c.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE cw")
        yield c
    finally:
        try:
            c.stop()
        except Exception:  # already stopped, or never started
            pass
        shutil.rmtree(tmp, ignore_errors=True)


def test_postgres_restart_under_load(cluster: Cluster, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = spawn(
        ["serve", "--port", str(port)],
        env=carewindow_env(
            CAREWINDOW_DATABASE_URL=cluster.url,
            CAREWINDOW_API_KEYS=f"{KEY}:admin",
            CAREWINDOW_META_APP_SECRET=SECRET,
            CAREWINDOW_PUBLIC_URL=url,
            CAREWINDOW_LOG_LEVEL="WARNING",
        ),
        log=tmp_path / "serve.log",
    )
    statuses: Counter[int] = Counter()
    bad: list[str] = []
    done = threading.Event()
    wa = "34600777000"
    ts = int(time.time()) - 600
    sent_keys: list[str] = []
    acked_events: set[int] = set()

    def load() -> None:
        i = 0
        with httpx.Client(base_url=url, timeout=5) as http:
            http.post(f"/sandbox/customers/{wa}/messages", json={"text": "hola"})
            while not done.is_set():
                key = f"k-{i}"
                body = delivery(10_000 + i, ts)
                # A client retries with the same idempotency key; Meta retries webhooks until a 200.
                for _ in range(200):
                    rs = [
                        http.post(
                            "/v1/messages",
                            headers={"Authorization": f"Bearer {KEY}", "Idempotency-Key": key},
                            json={"to": wa, "type": "text", "text": {"body": f"m {i}"}},
                        ),
                        http.post("/webhooks/whatsapp", content=body, headers={HEADER: sign(body, SECRET)}),
                    ]
                    for r in rs:
                        statuses[r.status_code] += 1
                        if r.status_code >= 500 and (
                            r.status_code != 503 or r.json()["error"]["code"] != "unavailable"
                        ):
                            bad.append(f"{r.status_code} {r.text[:200]}")
                    if [r.status_code for r in rs] == [202, 200]:
                        break
                    time.sleep(0.05)
                sent_keys.append(key)
                acked_events.add(10_000 + i)
                i += 1

    try:
        wait_ready(url, server)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        time.sleep(1.5)
        cluster.stop()
        time.sleep(2.0)  # the outage
        cluster.start()
        time.sleep(3.0)
        done.set()
        t.join(30)
        assert server.poll() is None, "the server died with its database"
        health = httpx.get(f"{url}/healthz", timeout=5)
    finally:
        stop(server)

    assert not bad, bad[:5]
    assert statuses[503] > 0, f"the outage was not observed: {statuses}"
    assert health.status_code == 200
    with psycopg.connect(cluster.url) as conn:
        per_key = dict(
            conn.execute(
                "SELECT idempotency_key, COUNT(*) FROM messages WHERE idempotency_key IS NOT NULL "
                "GROUP BY idempotency_key"
            ).fetchall()
        )
        events = dict(
            conn.execute(
                "SELECT wamid, COUNT(*) FROM messages WHERE direction = 'in' AND wamid LIKE 'wamid.flood.%' "
                "GROUP BY wamid"
            ).fetchall()
        )
        orphans = conn.execute(
            "SELECT COUNT(*) FROM messages m WHERE m.direction = 'out' AND m.status = 'queued' "
            "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_seq = m.seq)"
        ).fetchone()
    assert set(per_key) == set(sent_keys) and set(per_key.values()) == {1}
    assert len(events) == len(acked_events) and set(events.values()) == {1}
    assert orphans is not None and orphans[0] == 0  # no queued message without its outbox row
    total = sum(statuses.values())
    record(
        "pg:restart",
        area="fault",
        fault=(
            "PostgreSQL stopped for 2 s and started again under send + webhook load "
            "(private cluster; `carewindow serve` keeps running)"
        ),
        cases=total,
        result=(
            f"{statuses[503]} × 503 `unavailable` during the outage, 0 other 5xx; served again without a "
            f"restart; {len(sent_keys)} sends and {len(acked_events)} events stored once each, 0 half-written"
        ),
        test="tests/acceptance/test_pg_restart.py",
    )
