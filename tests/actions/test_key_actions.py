"""actions.keys: creating and revoking keys, and the one resolver the API and the inbox share."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from carewindow.actions.errors import NotFound, ValidationFailed
from carewindow.actions.keys import KeyRing, Principal, check_role, do_create_key, do_revoke_key, hash_key
from carewindow.storage import api_keys as key_store
from carewindow.storage.engine import Engine, connect

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_a_created_key_resolves_until_it_is_revoked(engine: Engine) -> None:
    key, row = do_create_key(engine, role="agent", name="desk", now=NOW, phone_number_ids=["111", "222"])
    assert key.startswith("cw_") and row.prefix == key[:10] and row.name == "desk"
    assert row.role == "agent" and row.revoked_at is None
    ring = KeyRing(engine, [])
    assert ring.resolve(key) == Principal(
        role="agent", key_id=row.id, phone_number_ids=frozenset({"111", "222"})
    )
    assert ring.resolve(key + "x") is None
    do_revoke_key(engine, row.id, now=NOW)
    assert ring.resolve(key) is None, "a revoked key stops working at once"
    with pytest.raises(NotFound):
        do_revoke_key(engine, row.id, now=NOW)
    with pytest.raises(NotFound):
        do_revoke_key(engine, row.id + 1000, now=NOW)


def test_a_given_key_is_stored_as_given_for_every_number(engine: Engine) -> None:
    key, row = do_create_key(engine, role="admin", name="development", now=NOW, key="cw_dev_fixed")
    assert key == "cw_dev_fixed" and row.phone_number_ids is None
    principal = KeyRing(engine, []).resolve("cw_dev_fixed")
    assert principal is not None and principal.phone_number_ids is None and principal.may_use("any")


def test_an_unknown_role_is_refused_and_nothing_is_written(engine: Engine) -> None:
    check_role("integration")
    with pytest.raises(ValidationFailed) as caught:
        do_create_key(engine, role="root", name=None, now=NOW)
    assert "unknown role 'root'" in caught.value.message
    with connect(engine) as conn:
        assert list(key_store.list_all(conn)) == []


def test_environment_keys_resolve_without_an_id(engine: Engine) -> None:
    ring = KeyRing(engine, [("env-admin-key", "admin"), ("env-agent-key", "agent")])
    assert ring.resolve("env-agent-key") == Principal(role="agent", key_id=None, phone_number_ids=None)
    assert ring.resolve_env("env-admin-key") == Principal(role="admin", key_id=None, phone_number_ids=None)
    assert ring.resolve_env("nope") is None and ring.resolve("nope") is None


def test_resolving_by_id_checks_the_stored_hash(engine: Engine) -> None:
    """The inbox's way in: a key id and a proof derived from the key's hash, never the key itself."""
    key, row = do_create_key(engine, role="agent", name=None, now=NOW, phone_number_ids=["111"])
    ring = KeyRing(engine, [("env-agent-key", "agent")])

    def proves(expected: str) -> Callable[[str], bool]:
        return lambda h: hmac.compare_digest(h, expected)

    assert ring.resolve_hash(row.id, proves(hash_key(key))) == Principal(
        role="agent", key_id=row.id, phone_number_ids=frozenset({"111"})
    )
    assert ring.resolve_hash(row.id, proves(hash_key("another key"))) is None
    assert ring.resolve_hash(row.id + 1000, proves(hash_key(key))) is None
    assert ring.resolve_hash(None, proves(hash_key("env-agent-key"))) == Principal(
        role="agent", key_id=None, phone_number_ids=None
    )
    assert ring.resolve_hash(None, proves(hash_key(key))) is None, "a database key is no environment key"
    do_revoke_key(engine, row.id, now=NOW)
    assert ring.resolve_hash(row.id, proves(hash_key(key))) is None
