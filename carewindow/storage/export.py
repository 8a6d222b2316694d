"""The exported message log (JSONL): one customer or priced business message per line, in time order.

``carewindow costs export`` writes it and ``carewindow costs simulate --from-file`` replays it; the format
is documented in docs/costs.md. Customer lines carry the timestamp (and whether a click-to-WhatsApp
referral came with it); business lines carry what was sent and the charge the ledger recorded.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from carewindow.policy import Charge, MessageKind, TemplateCategory
from carewindow.policy.pricing import CategoryTotal, LogEntry

_KINDS = {k.value: k for k in MessageKind}
_CATEGORIES = {c.value: c for c in TemplateCategory}


def line_of(row: Any) -> dict[str, Any]:
    """The JSON object of one ``ledger.message_log`` row."""
    at: datetime = row.at
    if row.direction == "in":
        content = row.content if isinstance(row.content, Mapping) else {}
        return {
            "direction": "in",
            "phone_number_id": row.phone_number_id,
            "wa_id": row.wa_id,
            "at": at.isoformat(),
            "referral": content.get("referral") is not None,
        }
    return {
        "direction": "out",
        "id": row.id,
        "phone_number_id": row.phone_number_id,
        "wa_id": row.wa_id,
        "at": at.isoformat(),
        "kind": row.kind,
        "category": row.charge_category if row.kind == "template" else None,
        "charge": {
            "pricing_model": row.charge_model,
            "category": row.charge_category,
            "billable": bool(row.charge_billable),
            "amount": str(row.charge_amount if row.charge_amount is not None else 0),
            "currency": row.charge_currency,
            "market": row.charge_market,
            "reason": row.charge_reason,
        },
    }


def entry_of(obj: Mapping[str, Any]) -> tuple[LogEntry, Charge | None]:
    """A log line as a replay entry and the charge the ledger recorded (None for customer lines).

    Raises ``ValueError`` (or ``KeyError``) on a line that is not in the format."""
    at = datetime.fromisoformat(obj["at"])
    if at.tzinfo is None:
        raise ValueError(f"log time {obj['at']!r} has no timezone")
    if obj["direction"] == "in":
        return LogEntry(
            False, obj["phone_number_id"], obj["wa_id"], at, None, None, bool(obj.get("referral"))
        ), None
    kind = _KINDS[obj["kind"]]
    category = obj.get("category")
    entry = LogEntry(
        True,
        obj["phone_number_id"],
        obj["wa_id"],
        at,
        kind,
        _CATEGORIES[category] if category else None,
        False,
    )
    c = obj.get("charge")
    if not c:
        return entry, None
    recorded = Charge(
        billable=bool(c["billable"]),
        category=c["category"],
        amount=Decimal(c["amount"]),
        currency=c["currency"] or "",
        pricing_model=c["pricing_model"] or "",
        market=c.get("market") or "",
        reason=c.get("reason") or "",
    )
    return entry, recorded


def entries_of_rows(rows: Iterable[Any]) -> Iterator[tuple[LogEntry, Charge | None]]:
    """``entry_of`` straight from ``ledger.message_log`` rows (no JSON in between)."""
    for row in rows:
        yield entry_of(line_of(row))


def read_log(lines: Iterable[bytes | str]) -> tuple[list[LogEntry], dict[tuple[str, str], CategoryTotal]]:
    """Parse a JSONL log into replay entries and the recorded totals per (category, currency).

    The fast path of ``costs simulate --from-file``: one ``orjson`` parse per line and no intermediate
    ``Charge``. Blank lines are skipped; a bad line raises ``ValueError`` naming its number."""
    entries: list[LogEntry] = []
    append = entries.append
    recorded: dict[tuple[str, str], CategoryTotal] = {}
    amounts: dict[tuple[str, str], list[str]] = {}
    fromiso = datetime.fromisoformat
    # tuple.__new__ skips the named tuple's Python-level __new__ (a frame per line).
    new: Any = tuple.__new__
    kinds, categories = _KINDS, _CATEGORIES
    for number, line in enumerate(lines, start=1):
        if not line or line.isspace():
            continue
        try:
            obj = orjson.loads(line)
            at = fromiso(obj["at"])
            if at.tzinfo is None:
                raise ValueError("time without a timezone")
            if obj["direction"] == "in":
                append(
                    new(
                        LogEntry,
                        (
                            False,
                            obj["phone_number_id"],
                            obj["wa_id"],
                            at,
                            None,
                            None,
                            bool(obj.get("referral")),
                        ),
                    )
                )
                continue
            category = obj.get("category")
            append(
                new(
                    LogEntry,
                    (
                        True,
                        obj["phone_number_id"],
                        obj["wa_id"],
                        at,
                        kinds[obj["kind"]],
                        categories[category] if category else None,
                        False,
                    ),
                )
            )
            c = obj.get("charge")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"log line {number}: {exc.__class__.__name__}: {exc}") from None
        if c:
            key = (c["category"], c["currency"] or "")
            total = recorded.get(key)
            if total is None:
                total = recorded[key] = CategoryTotal(category=key[0], currency=key[1])
                amounts[key] = []
            total.messages += 1
            if c["billable"]:
                total.billable += 1
                amounts[key].append(c["amount"])
    for key, total in recorded.items():
        total.amount = sum(map(Decimal, amounts[key]), Decimal(0))
    return entries, recorded


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a log is read and replayed: the millions of tuples it
    allocates hold no cycles, and the collector's passes over them cost a third of the run."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
