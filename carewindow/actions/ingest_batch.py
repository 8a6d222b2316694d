"""The group commit's unit of work: many webhook deliveries in one transaction, statements shared.

See docs/subsystems/webhook-ingest.md and docs/performance.md. ``do_ingest_batch(jobs)`` gives the
same results as ``do_ingest_webhook`` called for each job in turn, with fewer statements: raw bodies
are one executemany, and the statuses of every job (three in four webhooks) are applied together by
``apply_statuses`` (one lookup, one history insert, one update, whatever the batch size).
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import Connection

from carewindow.actions.ingest import IngestJob, IngestResult, do_ingest_webhook
from carewindow.actions.statuses import apply_statuses
from carewindow.policy import PolicySettings
from carewindow.storage.tables import webhook_raw


def do_ingest_batch(
    conn: Connection, jobs: list[IngestJob], *, settings: PolicySettings
) -> list[IngestResult]:
    """Write ``jobs`` (one group commit) and return one result per job, in order."""
    raw = [{"received_at": j.received_at, "body": j.body} for j in jobs if j.store_raw]
    if raw:
        conn.execute(webhook_raw.insert(), raw)
    applied = apply_statuses(conn, [(st, j.received_at) for j in jobs for st in j.batch.statuses])
    results: list[IngestResult] = []
    at = 0
    for job in jobs:
        n = len(job.batch.statuses)
        rest = dataclasses.replace(job, store_raw=False, applied_statuses=tuple(applied[at : at + n]))
        at += n
        results.append(do_ingest_webhook(conn, rest, settings=settings))
    return results
