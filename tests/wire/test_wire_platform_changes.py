"""wire.platform_changes: the recorded 2026 payloads as typed values, and anything else never raises."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from carewindow.wire.platform_changes import (
    TemplateCategoryChange,
    TemplateQualityChange,
    echoes,
    template_changes,
)
from carewindow.wire.webhook import OtherChange, parse_webhook

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"


def other(name: str) -> tuple[OtherChange, ...]:
    return parse_webhook((FIXTURES / f"{name}.json").read_bytes()).other


def test_recorded_echoes() -> None:
    (text,) = echoes(other("smb_message_echoes__text"))
    assert (text.kind, text.type, text.wa_id, text.user_id) == (
        "message",
        "text",
        "34600111222",
        "ES.13491208655302741918",
    )
    assert text.text == "Te lo mando hoy por la tarde"
    assert text.timestamp == datetime.fromtimestamp(1764640900, UTC)
    (edit,) = echoes(other("smb_message_echoes__edit"))
    assert (edit.kind, edit.original_wamid, edit.text) == (
        "edit",
        text.wamid,
        "Te lo mando mañana por la mañana",
    )
    assert edit.wa_id == "34600111222"  # pywa's sample has from/to the other way round
    (revoke,) = echoes(other("smb_message_echoes__revoke"))
    assert (revoke.kind, revoke.original_wamid) == ("revoke", text.wamid)


def test_recorded_template_changes() -> None:
    (impending,) = template_changes(other("template_category_update__impending"))
    assert isinstance(impending, TemplateCategoryChange) and not impending.completed
    assert (impending.new_category, impending.correct_category) == ("UTILITY", "MARKETING")
    assert impending.effective_at == datetime.fromtimestamp(1764727200, UTC)
    (completed,) = template_changes(other("template_category_update__completed"))
    assert isinstance(completed, TemplateCategoryChange) and completed.completed
    assert (completed.previous_category, completed.new_category) == ("UTILITY", "MARKETING")
    (quality,) = template_changes(other("message_template_quality_update__yellow"))
    assert isinstance(quality, TemplateQualityChange) and (quality.previous, quality.new) == (
        "GREEN",
        "YELLOW",
    )


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
_fields = st.sampled_from(
    ["smb_message_echoes", "template_category_update", "message_template_quality_update"]
)


@given(_fields, st.dictionaries(st.text(max_size=30), _json, max_size=6))
def test_anything_else_is_skipped_never_raised(field: str, value: dict[str, object]) -> None:
    for key in ("metadata", "message_echoes"):
        if key in value and not isinstance(value[key], dict | list):
            del value[key]
    change = OtherChange(field=field, value=value)
    echoes([change])
    template_changes([change])


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["id", "timestamp", "type", "to", "from", "text", "edit", "revoke"]), _json
        )
    )
)
def test_odd_echo_items_never_raise(items: list[dict[str, object]]) -> None:
    value: dict[str, object] = {
        "metadata": {"phone_number_id": "1", "display_phone_number": "2"},
        "message_echoes": items,
    }
    echoes([OtherChange(field="smb_message_echoes", value=value)])
