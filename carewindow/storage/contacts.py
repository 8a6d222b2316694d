"""Contacts: one row per (business number, customer) holding the state the policy core reasons about."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, or_, select, update

from carewindow.policy import (
    CareWindow,
    ConsentState,
    ConsentStatus,
    ContactState,
    Conversation,
    Reengagement,
)
from carewindow.policy.addresses import address_variants, is_user_id
from carewindow.storage import bulk
from carewindow.storage.bulk import insert_rows, update_rows
from carewindow.storage.direct import (
    HotSql,
    dicts,
    key_list,
    read_pg_time,
    read_sqlite_json,
    read_sqlite_time,
    run,
)
from carewindow.storage.engine import dialect_insert, is_sqlite
from carewindow.storage.tables import UTCDateTime, consent_events, contacts
from carewindow.storage.writes import Writes


def state_from_row(row: Row[Any] | Mapping[str, Any]) -> ContactState:
    """The policy's view of a contact row."""
    m: Mapping[str, Any] = row._mapping if isinstance(row, Row) else row  # type: ignore[assignment]
    convs = tuple(
        Conversation(
            category=c["category"],
            opened_at=datetime.fromisoformat(c["opened_at"]),
            expires_at=datetime.fromisoformat(c["expires_at"]),
        )
        for c in (m["conversations"] or ())
    )
    return ContactState(
        wa_id=m["wa_id"],
        window=CareWindow(
            last_inbound_at=m["last_inbound_at"],
            opened_at=m["window_opened_at"],
            entry_point_at=m["entry_point_at"],
        ),
        consent=ConsentState(
            status=ConsentStatus(m["consent_status"]),
            source=m["consent_source"],
            proof=m["consent_proof"],
            updated_at=m["consent_updated_at"],
        ),
        reengagement=Reengagement(
            templates_sent_since_close=m["reengagement_count"],
            first_sent_at=m["reengagement_first_sent_at"],
        ),
        conversations=convs,
        marketing=_marketing(m),
    )


_NO_MARKETING = ConsentState()


def _marketing(m: Mapping[str, Any]) -> ConsentState:
    status = m.get("marketing_status")
    if status is None:
        return _NO_MARKETING
    return ConsentState(
        status=ConsentStatus(status),
        source=m.get("marketing_source"),
        updated_at=m.get("marketing_updated_at"),
    )


def marketing_values(marketing: ConsentState) -> dict[str, Any]:
    """The marketing-preference columns of ``marketing`` (NULL status: nothing heard)."""
    heard = marketing.updated_at is not None
    return {
        "marketing_status": marketing.status.value if heard else None,
        "marketing_source": marketing.source,
        "marketing_updated_at": marketing.updated_at,
    }


def state_values(state: ContactState, *, window_length: Any) -> dict[str, Any]:
    """Columns to write back after the policy changed ``state``."""
    w = state.window
    return {
        "last_inbound_at": w.last_inbound_at,
        "window_opened_at": w.opened_at,
        "window_expires_at": (w.last_inbound_at + window_length) if w.last_inbound_at else None,
        "entry_point_at": w.entry_point_at,
        "consent_status": state.consent.status.value,
        "consent_source": state.consent.source,
        "consent_proof": state.consent.proof,
        "consent_updated_at": state.consent.updated_at,
        "reengagement_count": state.reengagement.templates_sent_since_close,
        "reengagement_first_sent_at": state.reengagement.first_sent_at,
        "conversations": [
            {
                "category": c.category,
                "opened_at": c.opened_at.isoformat(),
                "expires_at": c.expires_at.isoformat(),
            }
            for c in state.conversations
        ]
        or None,
    }


def get(conn: Connection, *, phone_number_id: str, wa_id: str, for_update: bool = False) -> Row[Any] | None:
    stmt = select(contacts).where(
        and_(contacts.c.phone_number_id == phone_number_id, contacts.c.wa_id == wa_id)
    )
    if for_update and not is_sqlite(conn):
        # Serialises concurrent sends to one contact (the re-engagement count must not race).
        stmt = stmt.with_for_update()
    return conn.execute(stmt).first()


def get_or_create(
    conn: Connection, *, phone_number_id: str, wa_id: str, now: datetime, for_update: bool = False
) -> Row[Any]:
    """The contact row, created with default state when new (concurrent creators are tolerated)."""
    row = get(conn, phone_number_id=phone_number_id, wa_id=wa_id, for_update=for_update)
    if row is not None:
        return row
    ins = dialect_insert(conn, contacts).values(
        phone_number_id=phone_number_id,
        wa_id=wa_id,
        consent_status=ConsentStatus.UNKNOWN.value,
        reengagement_count=0,
        unread_count=0,
        held_count=0,
        created_at=now,
        updated_at=now,
    )
    conn.execute(ins.on_conflict_do_nothing(index_elements=["phone_number_id", "wa_id"]))
    row = get(conn, phone_number_id=phone_number_id, wa_id=wa_id, for_update=for_update)
    assert row is not None
    return row


_CONTACT_COLUMNS = ", ".join(f"contacts.{c.name}" for c in contacts.c)
# The exact (number, wa_id) pairs. PostgreSQL: joined to the unique index. Two ``= ANY`` lists planned
# without statistics (a new or fast-growing table) scanned every contact of the number for the second
# column; this plan is an index lookup per pair whatever the statistics say. SQLite: both lists against
# the unique index (the pairs are then picked in Python).
# PostgreSQL: each contact as one JSON object (``row_to_json``): a result of one column, where two
# dozen cost the driver and SQLAlchemy a column description each per execution; its times come back
# as ISO text (``_from_pg``).
_BY_KEYS_PG = (
    "SELECT row_to_json(contacts) FROM contacts "
    "JOIN unnest(CAST(%(numbers)s AS VARCHAR[]), CAST(%(wa_ids)s AS VARCHAR[])) AS k(number, wa_id) "
    "ON contacts.phone_number_id = k.number AND contacts.wa_id = k.wa_id ORDER BY contacts.id"
)
CONTACTS_BY_KEYS = HotSql(
    "contacts by (number, wa_id)",
    postgresql=_BY_KEYS_PG,
    sqlite=(
        f"SELECT {_CONTACT_COLUMNS} FROM contacts "  # noqa: S608 - our own column names
        "WHERE contacts.phone_number_id IN (SELECT value FROM json_each(:numbers)) "
        "AND contacts.wa_id IN (SELECT value FROM json_each(:wa_ids)) ORDER BY contacts.id"
    ),
)
# PostgreSQL locks them (in id order, the order every batch writer uses); SQLite's writer holds the
# whole database already.
CONTACTS_BY_KEYS_LOCKED = HotSql(
    "contacts by (number, wa_id), locked",
    postgresql=_BY_KEYS_PG + " FOR UPDATE OF contacts",
    sqlite=CONTACTS_BY_KEYS.sqlite,
)
_TIMES = tuple(c.name for c in contacts.c if isinstance(c.type, UTCDateTime))


def _from_pg(row: dict[str, Any]) -> dict[str, Any]:
    """A contact from its ``row_to_json`` object, with its times as Python values."""
    for name in _TIMES:
        row[name] = read_pg_time(row[name])
    return row


def _from_sqlite(row: dict[str, Any]) -> dict[str, Any]:
    """A contact row as SQLite keeps it, with its times and JSON as Python values."""
    for name in _TIMES:
        row[name] = read_sqlite_time(row[name])
    row["conversations"] = read_sqlite_json(row["conversations"])
    return row


def get_many(
    conn: Connection, keys: Iterable[tuple[str, str]], *, for_update: bool = False
) -> dict[tuple[str, str], dict[str, Any]]:
    """The contacts with these (phone_number_id, wa_id) keys, as mutable dicts, by key (one SELECT).

    ``FOR UPDATE`` on PostgreSQL locks them in id order, the order every batch writer uses."""
    wanted = set(keys)
    if not wanted:
        return {}
    statement = CONTACTS_BY_KEYS_LOCKED if for_update else CONTACTS_BY_KEYS
    if not is_sqlite(conn):
        pairs = sorted(wanted)
        params: dict[str, Any] = {"numbers": [k[0] for k in pairs], "wa_ids": [k[1] for k in pairs]}
        found = [_from_pg(json_row) for (json_row,) in run(conn, statement, params)]
        return {(r["phone_number_id"], r["wa_id"]): r for r in found}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    numbers, wa_ids = bulk.keys(k[0] for k in wanted), bulk.keys(k[1] for k in wanted)
    params = {"numbers": key_list(numbers), "wa_ids": key_list(wa_ids)}
    for row in dicts(run(conn, statement, params)):
        key = (row["phone_number_id"], row["wa_id"])
        if key in wanted:  # the two IN lists can over-select across numbers
            out[key] = _from_sqlite(row)
    return out


def create_many(conn: Connection, created: Mapping[tuple[str, str], datetime]) -> None:
    """Insert default-state contacts for these keys (value: creation time), skipping existing ones."""
    if created:
        conn.execute(
            dialect_insert(conn, contacts).on_conflict_do_nothing(
                index_elements=["phone_number_id", "wa_id"]
            ),
            [
                {
                    "phone_number_id": number,
                    "wa_id": wa_id,
                    "consent_status": ConsentStatus.UNKNOWN.value,
                    "reengagement_count": 0,
                    "unread_count": 0,
                    "held_count": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for (number, wa_id), now in sorted(created.items())
            ],
        )


# A contact's policy state as stored (the window, consent, re-engagement and pricing conversations):
# what both an inbound message and a send write back.
STATE_COLUMNS = (
    "last_inbound_at",
    "window_opened_at",
    "window_expires_at",
    "entry_point_at",
    "consent_status",
    "consent_source",
    "consent_proof",
    "consent_updated_at",
    "reengagement_count",
    "reengagement_first_sent_at",
    "conversations",
)

# The columns an inbound message writes (state_values' keys and the inbox columns), all of them on
# every row so one prebuilt UPDATE serves a whole batch; ``b_id`` avoids a clash with ``id``.
INBOUND_COLUMNS = (
    *STATE_COLUMNS,
    "last_activity_at",
    "last_preview",
    "unread_count",
    "profile_name",
    "user_id",
    "updated_at",
)


def set_inbound_many(
    conn: Connection, rows: Sequence[Mapping[str, Any]], *, writes: Writes | None = None
) -> None:
    """One UPDATE of ``INBOUND_COLUMNS`` per row (keyed by ``b_id``), in id order (storage/bulk.py)."""
    update_rows(conn, contacts, "id", rows, writes=writes)  # locked by get_many(for_update=True)


def record_consent_events(
    conn: Connection, rows: Sequence[Mapping[str, Any]], *, writes: Writes | None = None
) -> None:
    insert_rows(conn, consent_events, rows, writes=writes)


def update_values(conn: Connection, contact_id: int, values: Mapping[str, Any]) -> None:
    conn.execute(update(contacts).where(contacts.c.id == contact_id).values(**values))


def record_consent_event(
    conn: Connection,
    *,
    contact_id: int,
    status: str,
    source: str | None,
    proof: str | None,
    at: datetime,
    now: datetime,
    applied: bool | None = None,
    reason: str | None = None,
    scope: str = "templates",
) -> None:
    conn.execute(
        consent_events.insert().values(
            contact_id=contact_id,
            status=status,
            source=source,
            proof=proof,
            at=at,
            recorded_at=now,
            applied=applied,
            reason=reason,
            scope=scope,
        )
    )


def has_consent_event(conn: Connection, *, contact_id: int, scope: str, source: str, at: datetime) -> bool:
    """Whether the contact's history holds an event of ``scope`` from ``source`` at ``at``."""
    c = consent_events.c
    found = conn.execute(
        select(c.id)
        .where(c.contact_id == contact_id, c.scope == scope, c.source == source, c.at == at)
        .limit(1)
    ).first()
    return found is not None


def superseded_opt_out(conn: Connection, contact_id: int) -> Row[Any] | None:
    """The newest opt-out of the contact that did not apply (a provably later opt-in won), or None."""
    c = consent_events.c
    return conn.execute(
        select(consent_events)
        .where(
            c.contact_id == contact_id,
            c.status == ConsentStatus.OPTED_OUT.value,
            c.applied.is_(False),
            (c.scope == "templates") | c.scope.is_(None),
        )
        .order_by(c.id.desc())
        .limit(1)
    ).first()


def consent_history(conn: Connection, contact_id: int) -> Sequence[Row[Any]]:
    return conn.execute(
        select(consent_events)
        .where(consent_events.c.contact_id == contact_id)
        .order_by(consent_events.c.id.desc())  # newest received first
    ).all()


def list_conversations(
    conn: Connection,
    *,
    phone_number_ids: Sequence[str] | None,
    state: str | None,
    now: datetime,
    expiring_within: float | None,
    limit: int,
    offset: int,
) -> Sequence[Row[Any]]:
    """Contacts with their windows, newest activity first."""
    from datetime import timedelta

    stmt = select(contacts)
    if phone_number_ids is not None:
        stmt = stmt.where(contacts.c.phone_number_id.in_(phone_number_ids))
    if state == "open":
        stmt = stmt.where(contacts.c.window_expires_at > now)
    elif state == "closed":
        stmt = stmt.where((contacts.c.window_expires_at <= now) | contacts.c.window_expires_at.is_(None))
    if expiring_within is not None:
        stmt = stmt.where(
            contacts.c.window_expires_at > now,
            contacts.c.window_expires_at <= now + timedelta(seconds=expiring_within),
        )
    stmt = stmt.order_by(
        func.coalesce(contacts.c.last_activity_at, contacts.c.created_at).desc(), contacts.c.id.desc()
    )
    return conn.execute(stmt.limit(limit).offset(offset)).all()


def mark_read(conn: Connection, contact_id: int, *, now: datetime) -> None:
    """Nothing in the contact's conversation is unread any more (no write when nothing was)."""
    conn.execute(
        update(contacts)
        .where(contacts.c.id == contact_id, contacts.c.unread_count != 0)
        .values(unread_count=0, updated_at=now)
    )


def take_held(conn: Connection, contact_id: int, count: int) -> None:
    """``count`` of the contact's held messages left the hold (released or expired)."""
    conn.execute(
        update(contacts).where(contacts.c.id == contact_id).values(held_count=contacts.c.held_count - count)
    )


def get_by_id(conn: Connection, contact_id: int) -> Row[Any] | None:
    """The whole contact row, or None."""
    return conn.execute(select(contacts).where(contacts.c.id == contact_id)).first()


def held_count(conn: Connection, contact_id: int) -> int:
    """The contact's count of held messages as stored now (a release lowers it)."""
    return int(conn.execute(select(contacts.c.held_count).where(contacts.c.id == contact_id)).scalar_one())


def find(conn: Connection, *, phone_number_id: str, address: str) -> Row[Any] | None:
    """The contact addressed by ``address`` (already normalised, policy/addresses.py): its wa_id or a
    variant of it (Mexican ``521…``/``52…``, Argentine ``549…``/``54…``), or its business-scoped user id.
    The exact key wins over a variant; a plain wa_id with no variants is one ``get``."""
    if is_user_id(address):
        rows = conn.execute(
            select(contacts)
            .where(
                contacts.c.phone_number_id == phone_number_id,
                or_(contacts.c.wa_id == address, contacts.c.user_id == address),
            )
            .order_by(contacts.c.id)
        ).all()
        # A row keyed by the phone number (user id learned later) is the one sends go to.
        return next((r for r in rows if r.wa_id != address), rows[0] if rows else None)
    keys = address_variants(address)
    if len(keys) == 1:
        return get(conn, phone_number_id=phone_number_id, wa_id=address)
    rows = conn.execute(
        select(contacts).where(contacts.c.phone_number_id == phone_number_id, contacts.c.wa_id.in_(keys))
    ).all()
    return min(rows, key=lambda r: keys.index(r.wa_id), default=None)


def resolve_key(conn: Connection, *, phone_number_id: str, address: str) -> str:
    """The key to send to: the stored contact's wa_id when ``address`` finds one, else ``address``.
    Only user ids and numbers with variants need the read (``needs_resolving``)."""
    if not needs_resolving(address):
        return address
    row = find(conn, phone_number_id=phone_number_id, address=address)
    return str(row.wa_id) if row is not None else address


def needs_resolving(address: str) -> bool:
    return is_user_id(address) or len(address_variants(address)) > 1
