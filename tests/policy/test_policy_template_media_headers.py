"""Templates whose header is media (IMAGE, VIDEO, DOCUMENT): the definition rule and the header
parameter a send must carry (whatsapp-facts.md "Header (media)", §3.7 send shape)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_helpers import template

from carewindow.policy import (
    TemplateDefinitionError,
    TemplateParamsInvalid,
    render_template,
    validate_template_definition,
)
from carewindow.policy.templates import HEADER_MEDIA, header_media_parameter

PHOTO = dataclasses.replace(
    template("router_photo", body="Your router {{1}} is ready."), header_media="image"
)
TEXT = template("plain", body="Your router {{1}} is ready.")


def test_a_media_header_template_is_a_valid_definition() -> None:
    for kind in HEADER_MEDIA:
        validate_template_definition(dataclasses.replace(PHOTO, header_media=kind))


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"header_media": "location"}, "header_format"), ({"header": "Hola"}, "header")],
)
def test_bad_media_header_definitions(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(TemplateDefinitionError) as exc:
        validate_template_definition(dataclasses.replace(PHOTO, **changes))
    assert exc.value.details["field"] == field


def test_a_send_without_the_header_names_it() -> None:
    with pytest.raises(TemplateParamsInvalid) as exc:
        render_template(PHOTO, ["R-1"])
    assert exc.value.meta_code == 132000
    assert exc.value.details["missing"] == ["header"]
    assert "media header (IMAGE)" in exc.value.message and "template.header" in exc.value.message


@pytest.mark.parametrize("ref", [{"id": "1479537139650973"}, {"link": "https://example.com/r.jpg"}])
def test_the_header_goes_with_the_rendered_template(ref: dict[str, str]) -> None:
    rendered = render_template(PHOTO, ["R-1"], {"type": "image", "image": {**ref, "caption": "x"}})
    assert rendered.header_media == {"type": "image", "image": ref}  # only what Meta takes
    assert rendered.body_text == "Your router R-1 is ready."
    assert rendered.header_text is None


def test_a_document_header_keeps_its_filename() -> None:
    doc = dataclasses.replace(PHOTO, header_media="document")
    header = {"type": "document", "document": {"id": "7", "filename": "invoice.pdf"}}
    assert render_template(doc, ["R-1"], header).header_media == header


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"type": "video", "video": {"id": "7"}}, "wrong header type"),
        ({"type": "image"}, "wrong header type"),
        ({"type": "image", "image": {}}, "id or link required"),
        ({"type": "image", "image": {"id": "7", "link": "https://e.com/x.jpg"}}, "id or link required"),
        ({"type": "image", "image": {"id": 7}}, "id or link required"),
    ],
)
def test_a_wrong_header_is_refused_with_132012(header: dict[str, Any], reason: str) -> None:
    with pytest.raises(TemplateParamsInvalid) as exc:
        render_template(PHOTO, ["R-1"], header)
    assert (exc.value.meta_code, exc.value.details["reason"]) == (132012, reason)


def test_a_header_for_a_template_without_a_media_header_is_refused() -> None:
    with pytest.raises(TemplateParamsInvalid) as exc:
        render_template(TEXT, ["R-1"], {"type": "image", "image": {"id": "7"}})
    assert exc.value.meta_code == 132000
    assert header_media_parameter(TEXT, None) is None
    assert render_template(TEXT, ["R-1"]).header_media is None


KINDS = st.sampled_from(sorted(HEADER_MEDIA))


@given(kind=KINDS, sent=KINDS, media_id=st.text())
def test_only_a_header_of_the_template_s_own_type_with_an_id_is_accepted(
    kind: str, sent: str, media_id: str
) -> None:
    tpl = dataclasses.replace(PHOTO, header_media=kind)
    header = {"type": sent, sent: {"id": media_id}}
    if sent == kind and media_id:
        assert header_media_parameter(tpl, header) == {"type": kind, kind: {"id": media_id}}
    else:
        with pytest.raises(TemplateParamsInvalid):
            header_media_parameter(tpl, header)
