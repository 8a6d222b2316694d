"""The exported message log (JSONL): one customer or priced business message per line, in time order.

``carewindow costs export`` writes it and ``carewindow costs simulate --from-file`` replays it; the format
is documented in docs/costs.md. Customer lines carry the timestamp (and whether a click-to-WhatsApp
referral came with it); business lines carry what was sent and the charge the ledger recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from carewindow.policy import Charge, MessageKind, TemplateCategory
from carewindow.policy.pricing import LogEntry

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
