"""``/healthz`` and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from carewindow.actions.retention import KINDS as RETENTION_KINDS
from carewindow.api.deps import RuntimeDep
from carewindow.api.errors import ApiError
from carewindow.storage import outbox as outbox_store
from carewindow.storage.engine import connect, ping

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(rt: RuntimeDep) -> dict[str, str]:
    try:
        ping(rt.engine)
    except Exception:
        raise ApiError(503, "unavailable", "The database is unreachable.") from None
    return {"status": "ok", "provider": rt.settings.provider, "database": rt.engine.dialect.name}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(rt: RuntimeDep) -> PlainTextResponse:
    with connect(rt.engine) as conn:
        pending = outbox_store.pending_count(conn)
    w = rt.worker
    lines = [
        "# HELP carewindow_outbox_pending Messages accepted and not yet answered by the provider.",
        "# TYPE carewindow_outbox_pending gauge",
        f"carewindow_outbox_pending {pending}",
        "# HELP carewindow_ingest_batches_total Group commits of webhook deliveries.",
        "# TYPE carewindow_ingest_batches_total counter",
        f"carewindow_ingest_batches_total {rt.ingest.batches}",
        "# HELP carewindow_ingest_items_total Webhook deliveries committed.",
        "# TYPE carewindow_ingest_items_total counter",
        f"carewindow_ingest_items_total {rt.ingest.items}",
        "# HELP carewindow_sent_total Messages the provider accepted (this process).",
        "# TYPE carewindow_sent_total counter",
        f"carewindow_sent_total {w.sent if w else 0}",
        "# HELP carewindow_send_failed_total Messages that failed for good (this process).",
        "# TYPE carewindow_send_failed_total counter",
        f"carewindow_send_failed_total {w.failed if w else 0}",
        "# HELP carewindow_live_subscribers Open inbox live streams.",
        "# TYPE carewindow_live_subscribers gauge",
        f"carewindow_live_subscribers {rt.bus.subscriber_count}",
        *retention_lines(rt.housekeeper),
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


def retention_lines(housekeeper: Any) -> list[str]:
    """Rows the housekeeper of this process pruned, by kind (docs/rules.md, "Retention")."""
    pruned = getattr(housekeeper, "pruned", None) or {}
    lines = [
        "# HELP carewindow_retention_pruned_total Rows pruned by retention (this process), by kind.",
        "# TYPE carewindow_retention_pruned_total counter",
    ]
    lines += [f'carewindow_retention_pruned_total{{kind="{k}"}} {pruned.get(k, 0)}' for k in RETENTION_KINDS]
    return lines
