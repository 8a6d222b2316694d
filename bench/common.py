"""Shared pieces of the benchmarks: real server processes, databases, signed payloads, load generators.

Everything here runs on loopback, every load loop is bounded in count and in time, and every process
started is killed in a ``finally`` (see :func:`server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import psycopg
import uvloop

from carewindow.wire import signature
from carewindow.wire.webhook import build_message_webhook, build_status_webhook

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-app-secret"
API_KEY = "benchkey"
WABA_ID = "200000000000001"
PHONE_NUMBER_ID = "100000000000001"
DISPLAY = "15550000001"
PG_URL = os.environ.get("CAREWINDOW_TEST_PG_URL") or "postgresql://postgres@127.0.0.1:5432/test"
# uvicorn settings shared by the ceiling app and `carewindow serve` (which sets the same ones).
# The processes run the code of the checkout beside this bench (started with its root as the working
# directory), not whatever the venv's console script would import: an editable install points that
# at one checkout, and an A/B run from a second work tree must not measure the first one's code.
CAREWINDOW = [sys.executable, "-m", "carewindow"]
UVICORN_ARGS = ["--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]


# --------------------------------------------------------------------------------------------- machine


def python_loop_seconds() -> float:
    """Best of 3 of a fixed pure-Python loop (10 M additions): how fast this machine runs Python now.
    Rates here are comparable across machines only after scaling by it; ratios (to the ceiling) are."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - t0)
    return round(best, 3)


def syscall_microseconds() -> float:
    """Best of 3 of the cost of a trivial system call: on a nested virtual machine it is several times a
    bare host's, and an HTTP server makes a few per request (the ceiling moves with it)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(100_000):
            os.getppid()
        best = min(best, (time.perf_counter() - t0) / 100_000 * 1e6)
    return round(best, 3)


def load_average() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(max_load: float, *, max_wait: float) -> float:
    """Wait (bounded) until the 1-minute load average drops below ``max_load``; returns the last value."""
    deadline = time.monotonic() + max_wait
    load = load_average()
    while load > max_load and time.monotonic() < deadline:
        time.sleep(5)
        load = load_average()
    return load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (Linux /proc)."""
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """``cpu_seconds`` of ``pid`` and of its children (e.g. uvicorn's worker processes), recursively."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        total += sum(tree_cpu_seconds(int(c)) for c in children)
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, not idle or waiting on I/O)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by this machine's PostgreSQL processes (0 when none run here)."""
    total = 0.0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "comm").read_text().startswith("postgres"):
                total += cpu_seconds(int(proc.name))
        except (OSError, ValueError):
            continue  # exited meanwhile
    return total


# ------------------------------------------------------------------------------------------- databases


def pg_available() -> bool:
    if not PG_URL:
        return False
    try:
        psycopg.connect(plain_url(PG_URL), connect_timeout=3).close()
    except Exception:
        return False
    return True


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh empty database URL of ``kind`` (sqlite | postgresql), removed afterwards."""
    if kind == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix="cw-bench-"))
        try:
            yield f"sqlite:///{tmp}/b.db"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    name = f"cw_bench_{uuid.uuid4().hex[:10]}"
    admin = plain_url(PG_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str) -> None:
    from carewindow.storage.engine import make_engine
    from carewindow.storage.migrate import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------- servers


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def server_env(db_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWINDOW_")}
    env.update(
        CAREWINDOW_DATABASE_URL=db_url,
        CAREWINDOW_API_KEYS=f"{API_KEY}:admin",
        CAREWINDOW_META_APP_SECRET=SECRET,
        CAREWINDOW_PUBLIC_URL=f"http://127.0.0.1:{port}",
        CAREWINDOW_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        CAREWINDOW_WABA_ID=WABA_ID,
        CAREWINDOW_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def processes() -> Iterator[list[Proc]]:
    """A list to start processes into; all of them are stopped on exit, also on error."""
    started: list[Proc] = []
    try:
        yield started
    finally:
        for p in reversed(started):
            _stop(p.popen)


def start(
    started: list[Proc], argv: Sequence[str], env: Mapping[str, str], *, port: int, wait_http: bool = True
) -> Proc:
    log = Path(tempfile.mkstemp(prefix="cw-bench-", suffix=".log")[1])
    with open(log, "wb") as out:
        popen = subprocess.Popen(argv, env=dict(env), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    proc = Proc(popen, port, log)
    started.append(proc)
    if wait_http:
        deadline = time.monotonic() + 60
        while True:
            if popen.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited early:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{proc.url}/healthz", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not answer within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
    return proc


def start_serve(started: list[Proc], db_url: str, **extra_env: str) -> Proc:
    port = free_port()
    env = server_env(db_url, port, **extra_env)
    argv = [*CAREWINDOW, "serve", "--host", "127.0.0.1", "--port", str(port)]
    return start(started, argv, env, port=port)


def start_sandbox(started: list[Proc], *, port: int, callback_port: int) -> Proc:
    """The sandbox as its own process, as Meta's servers are: carewindow reaches it by URL."""
    env = server_env("sqlite://", port)
    argv = [
        *CAREWINDOW,
        "sandbox",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--callback-url",
        f"http://127.0.0.1:{callback_port}/webhooks/whatsapp",
    ]
    return start(started, argv, env, port=port)


def meta_env(sandbox_port: int) -> dict[str, str]:
    """Settings that point carewindow's real Meta client at a standalone sandbox."""
    return {
        "CAREWINDOW_PROVIDER": "meta",
        "CAREWINDOW_META_BASE_URL": f"http://127.0.0.1:{sandbox_port}/sandbox/graph",
        "CAREWINDOW_META_TOKEN": "sandbox-access-token",
    }


def start_serve_on(started: list[Proc], db_url: str, port: int, **extra_env: str) -> Proc:
    env = server_env(db_url, port, **extra_env)
    argv = [*CAREWINDOW, "serve", "--host", "127.0.0.1", "--port", str(port)]
    return start(started, argv, env, port=port)


def start_worker(started: list[Proc], db_url: str, serve: Proc, **extra_env: str) -> Proc:
    env = server_env(
        db_url, serve.port, **{"CAREWINDOW_META_BASE_URL": f"{serve.url}/sandbox/graph", **extra_env}
    )
    return start(started, [*CAREWINDOW, "worker"], env, port=0, wait_http=False)


# -------------------------------------------------------------------------------------------- payloads


def message_payload(wa_id: str, wamid: str, ts: int, text: str) -> bytes:
    return orjson.dumps(
        build_message_webhook(
            waba_id=WABA_ID,
            phone_number_id=PHONE_NUMBER_ID,
            display_phone_number=DISPLAY,
            wa_id=wa_id,
            profile_name=f"Customer {wa_id[-4:]}",
            wamid=wamid,
            timestamp=ts,
            content={"body": text},
        )
    )


def media_payload(wa_id: str, wamid: str, ts: int, media_id: str) -> bytes:
    """A customer's photo, shaped as Meta sends it (tests/fixtures/meta/messages__image.json)."""
    return orjson.dumps(
        build_message_webhook(
            waba_id=WABA_ID,
            phone_number_id=PHONE_NUMBER_ID,
            display_phone_number=DISPLAY,
            wa_id=wa_id,
            profile_name=f"Customer {wa_id[-4:]}",
            wamid=wamid,
            timestamp=ts,
            message_type="image",
            content={
                "caption": "the router",
                "mime_type": "image/jpeg",
                "sha256": "Kq2+cvRj4PbR3tvYdqvp8UQ6Nq3nQxgsxBJoRRsYCXM=",
                "id": f"99{abs(hash(media_id)) % 10**14:014d}",
            },
        )
    )


def status_payload(wa_id: str, wamid: str, status: str, ts: int) -> bytes:
    return orjson.dumps(
        build_status_webhook(
            waba_id=WABA_ID,
            phone_number_id=PHONE_NUMBER_ID,
            display_phone_number=DISPLAY,
            wamid=wamid,
            status=status,
            timestamp=ts,
            recipient_id=wa_id,
            pricing={
                "billable": False,
                "pricing_model": "PMP",
                "category": "service",
                "type": "free_customer_service",
            },
        )
    )


def wa_id_for(i: int) -> str:
    return f"346{i:08d}"  # 34 + nine digits starting with 6: a possible Spanish mobile


def out_wamid(i: int) -> str:
    return f"wamid.bench-out-{i:09d}"


def other_wamid(i: int, tag: str = "") -> str:
    """The wamid of a message another tool sent from the business number (never stored here)."""
    return f"wamid.bench-other{tag}-{i:09d}"


@dataclass(frozen=True)
class WebhookMix:
    """Signed webhook bodies in the order a load generator should send them: groups of 1 message
    (a customer writes) followed by 3 statuses (sent, delivered, read of a business message)."""

    bodies: list[bytes]
    signatures: list[str]
    outbound_messages: int  # business messages the statuses refer to (seed them first)


def webhook_mix(
    count: int, *, contacts: int, now: int, tag: str = "", others: bool = False, media: float = 0.0
) -> WebhookMix:
    """With ``others``, the statuses are of messages carewindow never sent (another tool sending from
    the same number): no stored message has their wamids. With ``media`` (a share, e.g. 0.2), that
    share of the customer messages are photos (each one a media fetch job written with it)."""
    bodies: list[bytes] = []
    groups = (count + 3) // 4
    every = round(1 / media) if media > 0 else 0
    for g in range(groups):
        wa_id = wa_id_for(g % contacts)
        wamid = f"wamid.bench-in{tag}-{g:09d}"
        if every and g % every == 0:
            bodies.append(media_payload(wa_id, wamid, now - 5, f"{tag}{g}"))
        else:
            bodies.append(message_payload(wa_id, wamid, now - 5, f"hola {g}"))
        wamid = other_wamid(g, tag) if others else out_wamid(g)
        for k, status in enumerate(("sent", "delivered", "read")):
            bodies.append(status_payload(wa_id, wamid, status, now - 4 + k))
    bodies = bodies[:count]
    return WebhookMix(bodies, [signature.sign(b, SECRET) for b in bodies], outbound_messages=groups)


def seed_outbound(db_url: str, *, messages: int, contacts: int, now_ts: int) -> None:
    """Contacts and queued-then-sent business messages the status webhooks of a mix refer to."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from carewindow.storage.engine import make_engine, write_tx
    from carewindow.storage.tables import contacts as contacts_t
    from carewindow.storage.tables import messages as messages_t

    now = datetime.fromtimestamp(now_ts - 60, UTC)
    engine = make_engine(db_url)
    try:
        with write_tx(engine) as conn:
            conn.execute(
                insert(contacts_t),
                [
                    {
                        "id": i + 1,
                        "phone_number_id": PHONE_NUMBER_ID,
                        "wa_id": wa_id_for(i),
                        "consent_status": "unknown",
                        "reengagement_count": 0,
                        "unread_count": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(contacts)
                ],
            )
            rows = [
                {
                    "id": f"msg_bench_{i:09d}",
                    "contact_id": (i % contacts) + 1,
                    "direction": "out",
                    "wamid": out_wamid(i),
                    "type": "text",
                    "kind": "session",
                    "status": "sending",
                    "content": {"to": wa_id_for(i % contacts)},
                    "text": "hi",
                    "ts": now,
                    "created_at": now,
                    "updated_at": now,
                    "charge_billable": False,
                    "charge_mismatch": False,
                }
                for i in range(messages)
            ]
            for start_i in range(0, len(rows), 5000):
                conn.execute(insert(messages_t), rows[start_i : start_i + 5000])
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT setval('contacts_id_seq', (SELECT max(id) FROM contacts))")
                conn.commit()
                # Statistics, as autovacuum keeps them on a running deployment's tables.
                conn.exec_driver_sql("ANALYZE contacts, messages")
                conn.commit()
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------------- wrk


WRK_LUA = r"""
-- Rotates through pre-signed webhook bodies (one "signature\tbody" per line); each wrk thread
-- starts at a different offset so threads do not send the same body at the same time.
local items = {}
local n = 0
local i = 0
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter)
end
function init(args)
  for line in io.lines(os.getenv("CW_BENCH_BODIES")) do
    local tab = line:find("\t", 1, true)
    n = n + 1
    items[n] = { line:sub(1, tab - 1), line:sub(tab + 1) }
  end
  i = (tonumber(offset) or 1) * 7919
end
function request()
  i = i + 1
  local it = items[(i % n) + 1]
  wrk.headers["X-Hub-Signature-256"] = it[1]
  wrk.headers["Content-Type"] = "application/json"
  return wrk.format("POST", nil, nil, it[2])
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    raw: str = field(repr=False, default="")


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", value)
    if not m:
        return float("nan")
    n, unit = float(m.group(1)), m.group(2)
    return {"us": n / 1000, "ms": n, "s": n * 1000, "m": n * 60_000}[unit]


def run_wrk(
    url: str,
    bodies: Sequence[bytes],
    signatures: Sequence[str],
    *,
    seconds: float,
    connections: int = 64,
    threads: int = 1,
) -> WrkResult:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (scripts/bench installs Debian's package when root)")
    tmp = Path(tempfile.mkdtemp(prefix="cw-wrk-"))
    try:
        data = tmp / "bodies.tsv"
        with open(data, "wb") as f:
            for sig, body in zip(signatures, bodies, strict=True):
                f.write(sig.encode() + b"\t" + body + b"\n")
        script = tmp / "post.lua"
        script.write_text(WRK_LUA)
        env = dict(os.environ, CW_BENCH_BODIES=str(data))
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = out.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", text)
    if not m:
        raise RuntimeError(f"cannot read wrk output:\n{text}\n{out.stderr}")
    requests = int(m.group(1))
    secs = float(m.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m.group(3)]
    # Anchored: "+/- Stdev" columns such as "91.99%" would otherwise match first.
    p50 = re.search(r"^\s*50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s*99%\s+(\S+)", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(
        requests=requests,
        seconds=secs,
        rps=requests / secs,
        p50_ms=_ms(p50.group(1)) if p50 else float("nan"),
        p99_ms=_ms(p99.group(1)) if p99 else float("nan"),
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sum(int(x) for x in errs.groups()) if errs else 0,
        raw=text,
    )


# ------------------------------------------------------------------------------- asyncio load generator


@dataclass
class LoadResult:
    sent: int
    ok: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def http_request(path: str, body: bytes, headers: Mapping[str, str], port: int) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if m:
        await reader.readexactly(int(m.group(1)))
    return status


async def _load(
    port: int,
    requests: Sequence[bytes],
    *,
    rate: float | None,
    connections: int,
    max_seconds: float,
) -> LoadResult:
    """Send each raw request once over keep-alive connections.

    ``rate`` set: open loop at a fixed rate; latency counts from the scheduled send time, so a stalled
    server is charged for the queue it causes (no coordinated omission). ``rate`` None: closed loop,
    ``connections`` requests in flight.
    """
    latencies: list[float] = []
    ok = 0
    next_index = 0
    start = time.perf_counter()
    deadline = start + max_seconds

    async def conn_loop() -> None:
        nonlocal ok, next_index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < len(requests) and time.perf_counter() < deadline:
                i = next_index
                next_index += 1
                scheduled = start + i / rate if rate else time.perf_counter()
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(requests[i])
                status = await _read_response(reader)
                latencies.append((time.perf_counter() - scheduled) * 1000)
                if 200 <= status < 300:
                    ok += 1
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    await asyncio.gather(*(conn_loop() for _ in range(connections)))
    return LoadResult(sent=next_index, ok=ok, seconds=time.perf_counter() - start, latencies_ms=latencies)


def load(
    port: int,
    requests: Sequence[bytes],
    *,
    rate: float | None = None,
    connections: int = 32,
    max_seconds: float = 120,
) -> LoadResult:
    # uvloop, as the servers use: the generator shares the 2 cores with what it measures.
    return uvloop.run(_load(port, requests, rate=rate, connections=connections, max_seconds=max_seconds))
