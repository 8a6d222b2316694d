"""A send answered with Meta's 131050 (the customer stopped marketing messages) records the marketing
preference, in the worker's record commit (SQLite and PostgreSQL)."""

from __future__ import annotations

import random

import pytest
from hot_paths import NUMBER, POLICY, queue_texts
from service_support import Clock
from sqlalchemy import Engine, select

from carewindow.providers.base import ProviderGraphError
from carewindow.providers.fake import FakeProvider
from carewindow.storage import contacts as contact_store
from carewindow.storage import messages as message_store
from carewindow.storage.tables import consent_events
from carewindow.wire.graph_errors import GraphError
from carewindow.worker.delivery import DeliveryWorker

pytestmark = pytest.mark.anyio
WA = "34600111555"


async def test_131050_answer_records_the_marketing_stop(engine: Engine) -> None:
    clock = Clock()
    first, second = queue_texts(engine, 2, clock.now, wa_id=WA)
    error = ProviderGraphError(GraphError.for_code(131050))
    fake = FakeProvider([error, ProviderGraphError(GraphError.for_code(131050))])
    w = DeliveryWorker(engine=engine, provider=fake, policy=POLICY, clock=clock, rng=random.Random(7))
    await w.run_once()
    with engine.connect() as conn:
        for mid in (first, second):
            row = message_store.get_by_id(conn, mid)
            assert row is not None and (row.status, row.error_code) == ("failed", "131050")
        contact = contact_store.get(conn, phone_number_id=NUMBER, wa_id=WA)
        assert contact is not None
        assert (contact.marketing_status, contact.marketing_source) == ("opted_out", "meta_error_131050")
        assert contact.consent_status != "opted_out"  # utility templates and sessions stay allowed
        events = conn.execute(select(consent_events.c.scope, consent_events.c.status)).all()
    assert [tuple(e) for e in events] == [("marketing", "opted_out")] * 2  # one per failed message
