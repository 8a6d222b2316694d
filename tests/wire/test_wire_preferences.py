"""wire.preferences: the recorded user_preferences payloads, and odd values skipped, never raised."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from carewindow.wire.preferences import build_user_preferences_webhook, marketing_preferences
from carewindow.wire.webhook import OtherChange, parse_webhook

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"


def prefs(body: bytes) -> list[Any]:
    return marketing_preferences(parse_webhook(body).other)


def test_recorded_stop_and_resume() -> None:
    [stop] = prefs((FIXTURES / "user_preferences__stop.json").read_bytes())
    [resume] = prefs((FIXTURES / "user_preferences__resume.json").read_bytes())
    assert (stop.phone_number_id, stop.wa_id, stop.stopped) == ("106540352242922", "34600111222", True)
    assert stop.timestamp == datetime.fromtimestamp(1751365000, UTC)
    assert stop.detail == "User requested to stop marketing messages"
    assert (resume.stopped, resume.timestamp) == (False, datetime.fromtimestamp(1751451400, UTC))


def test_the_builder_round_trips() -> None:
    doc = build_user_preferences_webhook(
        waba_id="1",
        phone_number_id="2",
        display_phone_number="3",
        wa_id="34600",
        stopped=True,
        timestamp=1751365000,
        profile_name="Ana",
    )
    [p] = prefs(orjson.dumps(doc))
    assert (p.phone_number_id, p.wa_id, p.stopped, p.detail) == (
        "2",
        "34600",
        True,
        "User requested to stop marketing messages",
    )


def _change(value: Any, field: str = "user_preferences") -> OtherChange:
    return OtherChange(field=field, value=value)


GOOD = {"wa_id": "1", "category": "marketing_messages", "value": "STOP", "timestamp": "x"}


@pytest.mark.parametrize(
    "change",
    [
        _change({"metadata": {"phone_number_id": "9"}, "user_preferences": [GOOD]}, field="other"),
        _change({"metadata": "no", "user_preferences": [GOOD]}),
        _change({"metadata": {"phone_number_id": "9"}, "user_preferences": "no"}),
        _change(
            {"metadata": {"phone_number_id": "9"}, "user_preferences": ["no", {**GOOD, "category": "x"}]}
        ),
        _change({"metadata": {"phone_number_id": "9"}, "user_preferences": [{**GOOD, "value": "maybe"}]}),
        _change({"metadata": {"phone_number_id": "9"}, "user_preferences": [{**GOOD, "wa_id": ""}]}),
        _change({"metadata": {"phone_number_id": "9"}, "user_preferences": [{**GOOD, "wa_id": None}]}),
    ],
)
def test_what_it_does_not_understand_is_skipped(change: OtherChange) -> None:
    assert marketing_preferences([change]) == []


def test_case_numbers_and_bad_times_are_tolerated() -> None:
    [p] = marketing_preferences(
        [
            _change(
                {"metadata": {"phone_number_id": 9}, "user_preferences": [{**GOOD, "wa_id": 1, "detail": 5}]}
            )
        ]
    )
    assert (p.phone_number_id, p.wa_id, p.stopped, p.timestamp, p.detail) == ("9", "1", True, None, None)
    [q] = marketing_preferences(
        [_change({"metadata": {"phone_number_id": "9"}, "user_preferences": [{**GOOD, "timestamp": 10**15}]})]
    )
    assert q.timestamp is None
