"""Everything a running carewindow process holds, assembled in one place from Settings and a clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx

from carewindow.actions.events import EventBus, from_wire, to_wire
from carewindow.actions.ingest import IngestJob, IngestResult, ingest_committer
from carewindow.actions.send import SendJob, send_committer
from carewindow.api.auth import KeyRing
from carewindow.policy import EXAMPLE_RATE_CARD, PolicySettings, RateCard
from carewindow.providers.base import Provider
from carewindow.providers.meta import MetaProvider
from carewindow.settings import Settings
from carewindow.storage.engine import Engine, in_process, make_engine
from carewindow.storage.group_commit import GroupCommitter
from carewindow.storage.media_store import MediaStore, open_store
from carewindow.storage.pubsub import PgEventBridge

log = logging.getLogger(__name__)
SANDBOX_PHONE_NUMBER_ID = "100000000000001"
SANDBOX_WABA_ID = "200000000000001"
SANDBOX_TOKEN = "sandbox-access-token"  # noqa: S105 - the sandbox is not Meta; this guards nothing real


def utc_now() -> datetime:
    return datetime.now(UTC)


def policy_settings(settings: Settings, *, rate_card: RateCard | None = None) -> PolicySettings:
    """The policy's settings; ``rate_card`` is the imported card (None: the built-in EXAMPLE card)."""
    return PolicySettings(
        window=timedelta(hours=settings.window_hours),
        entry_point_window=timedelta(hours=settings.entry_point_window_hours),
        reengagement_limit=settings.reengagement_limit,
        opt_out_keywords=settings.opt_out_keyword_list,
        pricing_model=settings.pricing,
        rate_card=rate_card or EXAMPLE_RATE_CARD,
        service_free_allowance=settings.service_free_allowance,
        service_allowance_period=settings.service_allowance_period,
        utility_free_in_window_2026=settings.utility_free_in_window_2026,
        payment_method_on_file=settings.payment_method_on_file,
        consent_tolerance=timedelta(seconds=settings.consent_tolerance_seconds),
        reengagement_horizon=timedelta(hours=settings.reengagement_horizon_hours),
    )


def stored_rate_card(engine: Engine) -> RateCard | None:
    """The imported rate card, or None (nothing imported, or the database is not migrated yet)."""
    from carewindow.storage import rates as rate_store
    from carewindow.storage.engine import connect
    from carewindow.storage.errors import StorageError

    try:
        with connect(engine) as conn:
            return rate_store.load(conn)
    except StorageError:
        log.warning("rate card not loaded from the database; using the built-in example card")
        return None


@dataclass(kw_only=True)
class Runtime:
    settings: Settings
    policy: PolicySettings
    engine: Engine
    clock: Callable[[], datetime]
    bus: EventBus
    keys: KeyRing
    ingest: GroupCommitter[IngestJob, IngestResult]
    sends: GroupCommitter[SendJob, Any]
    app_secret: str
    phone_number_id: str
    waba_id: str
    provider: Provider | None = None
    sandbox: Any = None  # providers.sandbox.Sandbox when the sandbox is mounted
    http_transport: httpx.AsyncBaseTransport | None = None
    worker_task: asyncio.Task[None] | None = None
    worker_stop: asyncio.Event = field(default_factory=asyncio.Event)
    worker: Any = None
    housekeeper: Any = None
    housekeeper_task: asyncio.Task[None] | None = None
    bridge: PgEventBridge | None = None
    media_store: MediaStore | None = None  # where media bytes live (storage/media_store.py)
    media_fetcher: Any = None  # worker.media.MediaFetcher while the worker runs
    media_fetcher_task: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return self.clock()

    def reload_rate_card(self) -> RateCard | None:
        """Price with the card now stored (after an import); every component reads ``self.policy``."""
        card = stored_rate_card(self.engine)
        self.policy = replace(self.policy, rate_card=card or EXAMPLE_RATE_CARD)
        if self.worker is not None and hasattr(self.worker, "policy"):
            self.worker.policy = self.policy
        return card


def committer_options(settings: Settings, engine: Engine) -> dict[str, Any]:
    """How the group commits run: on SQLite on the event loop (its writes are in-process work under
    the GIL: a thread only adds hand-overs); on PostgreSQL in threads, which wait for the server
    while the loop serves, ``commit_threads`` of them (a second batch is written while the first
    waits)."""
    if in_process(engine):
        return {"on_loop": True}
    return {"threads": settings.commit_threads}


def build_runtime(
    settings: Settings, *, clock: Callable[[], datetime] = utc_now, engine: Engine | None = None
) -> Runtime:
    engine = engine or make_engine(settings.database_url)
    pol = policy_settings(settings, rate_card=stored_rate_card(engine))
    # The ingest work reads the runtime's policy when it runs: a rate card import replaces it.
    current: list[Runtime] = []
    sandbox_mode = settings.provider == "sandbox"
    # In sandbox mode the app secret signs webhooks between our own sandbox and our own endpoint.
    app_secret = settings.meta_app_secret or (secrets.token_hex(16) if sandbox_mode else "")

    rt = Runtime(
        settings=settings,
        policy=pol,
        engine=engine,
        clock=clock,
        bus=EventBus(),
        keys=KeyRing(engine, settings.api_key_pairs),
        ingest=ingest_committer(
            engine, lambda: current[0].policy if current else pol, **committer_options(settings, engine)
        ),
        sends=send_committer(engine, **committer_options(settings, engine)),
        app_secret=app_secret,
        phone_number_id=settings.phone_number_id or (SANDBOX_PHONE_NUMBER_ID if sandbox_mode else ""),
        waba_id=settings.waba_id or (SANDBOX_WABA_ID if sandbox_mode else ""),
        media_store=open_store(
            settings.media_store, home=settings.home_dir, endpoint_url=settings.media_s3_endpoint_url or None
        ),
    )
    current.append(rt)
    return rt


def make_provider(rt: Runtime) -> Provider:
    s = rt.settings
    if s.provider == "sandbox":
        base = (s.meta_base_url or f"{s.public_url.rstrip('/')}/sandbox/graph").rstrip("/")
        token = s.meta_token or SANDBOX_TOKEN
    else:
        base = (s.meta_base_url or "https://graph.facebook.com").rstrip("/")
        token = s.meta_token
    return MetaProvider(
        base_url=base,
        graph_version=s.meta_graph_version,
        token=token,
        phone_number_id=rt.phone_number_id,
        waba_id=rt.waba_id,
        timeout=s.meta_timeout_seconds,
        transport=rt.http_transport,
    )


def start_event_bridge(rt: Runtime, *, listen: bool) -> None:
    """On PostgreSQL, share live events with the other processes on the database (LISTEN/NOTIFY).

    ``listen``: also receive theirs (serving processes, whose inbox streams need them); a worker only
    sends. Must run inside the event loop that receives the events."""
    if in_process(rt.engine):
        return  # SQLite is one process: the in-process bus already reaches everyone
    on_remote = None
    if listen:
        loop = asyncio.get_running_loop()

        def on_remote(items: list[dict[str, Any]]) -> None:
            loop.call_soon_threadsafe(rt.bus.publish_local, [from_wire(i) for i in items])

    bridge = PgEventBridge(
        rt.engine.url.render_as_string(hide_password=False),
        on_remote=on_remote,
        wanted=lambda: rt.bus.subscriber_count > 0,
    )
    bridge.start()
    rt.bridge = bridge
    rt.bus.forward = lambda events: bridge.send([to_wire(e) for e in events])


async def start_worker(rt: Runtime) -> None:
    from carewindow.actions.retention import Retention
    from carewindow.worker.delivery import DeliveryWorker
    from carewindow.worker.housekeeping import Housekeeper

    assert rt.provider is not None
    s = rt.settings
    rt.worker = DeliveryWorker(
        engine=rt.engine,
        provider=rt.provider,
        policy=rt.policy,
        clock=rt.clock,
        publish=rt.bus.publish,
        batch_size=s.worker_batch_size,
        poll_seconds=s.worker_poll_seconds,
        lease_seconds=s.lease_seconds,
        max_attempts=s.max_attempts,
        rate_per_second=s.rate_limit_per_second,
        hold_seconds=s.hold_period_hours * 3600.0,
        marketing_messages_api=s.marketing_messages_api,
    )
    rt.housekeeper = Housekeeper(
        engine=rt.engine,
        clock=rt.clock,
        leads_minutes=s.expiring_leads,
        publish=rt.bus.publish,
        retention=Retention.from_settings(s),
    )
    rt.worker_stop = asyncio.Event()
    rt.worker_task = asyncio.create_task(rt.worker.run(rt.worker_stop), name="delivery-worker")
    rt.housekeeper_task = asyncio.create_task(rt.housekeeper.run(rt.worker_stop), name="housekeeping")
    rt.media_fetcher = media_fetcher(rt)
    if rt.media_fetcher is not None:
        rt.media_fetcher_task = asyncio.create_task(rt.media_fetcher.run(rt.worker_stop), name="media-fetch")


def media_fetcher(rt: Runtime) -> Any:
    """The inbound media fetcher (worker/media.py), or None when the provider has no media endpoints."""
    from carewindow.providers.base import MediaProvider
    from carewindow.worker.media import MediaFetcher

    provider: object = rt.provider
    if not isinstance(provider, MediaProvider):
        return None
    assert rt.media_store is not None
    return MediaFetcher(
        engine=rt.engine,
        provider=provider,
        store=rt.media_store,
        clock=rt.clock,
        concurrency=rt.settings.media_fetch_concurrency,
        retry_for=timedelta(days=rt.settings.media_retry_days),
        publish=rt.bus.publish,
    )


async def stop_worker(rt: Runtime) -> None:
    rt.worker_stop.set()
    for task in (rt.worker_task, rt.housekeeper_task, rt.media_fetcher_task):
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=10)
    rt.worker_task = rt.housekeeper_task = rt.media_fetcher_task = None


def sandbox_client_factory(rt: Runtime) -> Callable[[], httpx.AsyncClient] | None:
    if rt.http_transport is None:
        return None
    return partial(httpx.AsyncClient, transport=rt.http_transport)


def send_queue(rt: Runtime) -> GroupCommitter[SendJob, Any] | None:
    """The send group commit while the app runs (None outside its lifespan: sends commit alone)."""
    return rt.sends if rt.sends.running else None
