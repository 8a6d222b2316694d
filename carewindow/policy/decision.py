"""``decide()``: may this message go out now, as what, and at what cost?

Decisions are values: a refusal is a ``Decision`` with a ``RefusalCode`` and a message that says what to
do next, never an exception. The caller acts on the decision and stores ``state_after`` once the message
is actually sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Final

from carewindow.policy._time import fmt_duration, fmt_utc, require_aware
from carewindow.policy.enums import (
    Action,
    ConsentStatus,
    MessageKind,
    OnClosed,
    SendPurpose,
    TemplateCategory,
    TemplateStatus,
    WindowState,
)
from carewindow.policy.errors import (
    RefusalCode,
    TemplateDefinitionError,
    TemplateNotApproved,
    TemplateParamsInvalid,
)
from carewindow.policy.frozen import fast_constructor
from carewindow.policy.pricing import Charge, PricingUsage
from carewindow.policy.reengagement import record_reengagement, reengagement_allowed
from carewindow.policy.settings import PolicySettings
from carewindow.policy.state import ContactState
from carewindow.policy.templates import RenderedTemplate, Template, TemplateRef, render_template
from carewindow.policy.window import WindowView, make_view, window_at

__all__ = ["SESSION_MESSAGE_TYPES", "Decision", "SendRequest", "decide"]

#: Cloud API message types that are free-form (session) messages; ``"template"`` is the other kind.
SESSION_MESSAGE_TYPES: Final = frozenset(
    {
        "text",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "reaction",
    }
)
_META_REENGAGEMENT = 131047


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRequest:
    """An outbound message as the API received it.

    ``message_type`` is the Cloud API ``type`` (``"text"``, ``"image"``, ..., ``"template"``). ``to`` is
    kept for the caller; the policy prices and words messages by ``ContactState.wa_id``.
    ``on_closed`` says what to do with a session message when the window is closed, and ``fallback`` is
    the template to send in that case.
    """

    to: str
    message_type: str
    template: TemplateRef | None = None
    on_closed: OnClosed = OnClosed.REJECT
    fallback: TemplateRef | None = None
    #: Whether a template sent while the window is closed re-engages or notifies (``SendPurpose``).
    purpose: SendPurpose = SendPurpose.AUTO


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The outcome of :func:`decide`.

    - ``allowed`` / ``action``: send, send the fallback instead, hold and re-engage, or refuse.
    - ``code`` and ``message``: why it was refused and what to do next (``message`` is empty when
      allowed); ``details`` carries machine-readable extras such as ``meta_code`` and ``missing``.
    - ``kind`` and ``send_template``: what goes out now (the requested template or the fallback).
    - ``hold``: keep the original message and deliver it when the customer writes.
    - ``charge``: the price of what goes out now (None when refused).
    - ``window``: the window at ``now``; ``state_after``: the contact state once the message is sent.
    """

    allowed: bool
    action: Action
    code: RefusalCode | None
    message: str
    details: Mapping[str, object]
    kind: MessageKind | None
    send_template: RenderedTemplate | None
    hold: bool
    charge: Charge | None
    window: WindowView
    state_after: ContactState


_make_decision = fast_constructor(Decision)
_EMPTY: Mapping[str, object] = MappingProxyType({})
_make_view = make_view
_OPEN = WindowState.OPEN
_SESSION = MessageKind.SESSION
_TEMPLATE = MessageKind.TEMPLATE
_SEND = Action.SEND
_APPROVED = TemplateStatus.APPROVED
_OPTED_IN = ConsentStatus.OPTED_IN
_OPTED_OUT_STATUS = ConsentStatus.OPTED_OUT
_MARKETING = TemplateCategory.MARKETING


def decide(
    request: SendRequest,
    state: ContactState,
    *,
    template: Template | None,
    fallback_template: Template | None = None,
    settings: PolicySettings,
    now: datetime,
    usage: PricingUsage | None = None,
) -> Decision:
    """Decide whether ``request`` may be sent to the contact in ``state`` at ``now``.

    ``template`` is the catalog entry for ``request.template`` and ``fallback_template`` the one for
    ``request.fallback`` (None when the catalog has none). Session messages need an open window and no
    consent; templates need to be found, APPROVED, given valid parameters, an opted-in customer, and,
    while the window is closed, an unused re-engagement allowance. ``now`` must be timezone-aware.
    """
    if now.tzinfo is None:
        require_aware(now, "now")
    window = state.window
    last = window.last_inbound_at
    message_type = request.message_type
    if last is not None and message_type in SESSION_MESSAGE_TYPES:
        # The hot path, kept flat: a session message inside an open window.
        expires = last + settings.window
        if now < expires:
            left = expires - now
            entry = window.entry_point_at
            view = _make_view(
                state=_OPEN,
                opened_at=window.opened_at,
                expires_at=expires,
                seconds_left=left.days * 86400 + left.seconds + (left.microseconds > 0),
                last_inbound_at=last,
                closed_at=None,
                entry_point_expires_at=None if entry is None else entry + settings.entry_point_window,
            )
            charge = (
                None if entry is not None else settings._session_charge(state.wa_id, now, settings.rate_card)
            )
            if charge is None:
                charge, state = settings._price(
                    _SESSION, None, state.wa_id, now, view, state, settings, usage
                )
            return _make_decision(
                allowed=True,
                action=_SEND,
                code=None,
                message="",
                details=_EMPTY,
                kind=_SESSION,
                send_template=None,
                hold=False,
                charge=charge,
                window=view,
                state_after=state,
            )
    view = window_at(window, now=now, settings=settings)
    if message_type != "template":
        if message_type not in SESSION_MESSAGE_TYPES:
            return _refuse(
                RefusalCode.VALIDATION_ERROR,
                f"Unknown message type {message_type!r}; use one of "
                f"{', '.join(sorted(SESSION_MESSAGE_TYPES))} or template.",
                {"fields": ["type"]},
                view,
                state,
            )
        return _closed(request, state, view, fallback_template, settings, now, usage)
    ref = request.template
    if ref is None:
        return _refuse(
            RefusalCode.VALIDATION_ERROR,
            "A template message needs a template: give its name, language and parameters.",
            {"fields": ["template"]},
            view,
            state,
        )
    return _send_template(ref, template, _SEND, "", state, view, settings, now, usage, request.purpose)


def _closed(
    request: SendRequest,
    state: ContactState,
    view: WindowView,
    fallback_template: Template | None,
    settings: PolicySettings,
    now: datetime,
    usage: PricingUsage | None,
) -> Decision:
    """A session message while the window is closed: refuse, or re-engage with the fallback."""
    on_closed = request.on_closed
    if on_closed is OnClosed.REJECT:
        last = view.last_inbound_at
        if last is None or view.closed_at is None:
            text = (
                f"{state.wa_id} has not written to this number yet, so there is no customer care window. "
                "Send an approved template to start the conversation."
            )
        else:
            text = (
                f"The customer care window closed {fmt_duration(now - view.closed_at)} ago "
                f"(last customer message {fmt_utc(last)}). Send an approved template to re-engage, "
                "or retry with on_closed=template or defer and a fallback_template."
            )
        details = {
            "meta_code": _META_REENGAGEMENT,
            "last_inbound_at": None if last is None else last.isoformat(),
            "closed_at": None if view.closed_at is None else view.closed_at.isoformat(),
        }
        return _refuse(RefusalCode.WINDOW_CLOSED, text, details, view, state)
    fallback = request.fallback
    if fallback is None:
        return _refuse(
            RefusalCode.VALIDATION_ERROR,
            f"on_closed={on_closed.value} needs a fallback_template to send while the window is closed.",
            {"fields": ["fallback_template"]},
            view,
            state,
        )
    if on_closed is OnClosed.DEFER:
        action = Action.HOLD
        note = (
            f"The window is closed: holding the message until the customer writes, and sending "
            f"template {fallback.name!r} to re-engage."
        )
    else:
        action = Action.SEND_FALLBACK
        note = f"The window is closed: sending template {fallback.name!r} instead of the message."
    return _send_template(
        fallback, fallback_template, action, note, state, view, settings, now, usage, request.purpose
    )


def _send_template(
    ref: TemplateRef,
    template: Template | None,
    action: Action,
    note: str,
    state: ContactState,
    view: WindowView,
    settings: PolicySettings,
    now: datetime,
    usage: PricingUsage | None,
    purpose: SendPurpose = SendPurpose.AUTO,
) -> Decision:
    """The checks every template goes through, requested or fallback, then the charge."""
    if template is None or template.name != ref.name or template.language != ref.language:
        return _refuse(
            RefusalCode.TEMPLATE_NOT_FOUND,
            f"{_prefix(action)}Template {ref.name!r} ({ref.language}) is not in the catalog: check the "
            "name and language, or create it (POST /v1/templates) and wait for approval.",
            {**_where(ref, action), "meta_code": 132001},
            view,
            state,
        )
    if template.status is not _APPROVED and not _sendable(template, now):
        shown = _status_shown(template, now)
        error = TemplateNotApproved.for_status(name=ref.name, language=ref.language, status=shown)
        return _refuse(
            RefusalCode.TEMPLATE_NOT_APPROVED,
            f"{_prefix(action)}{error.message} Use an approved template"
            + (" or wait for the review." if template.status is TemplateStatus.PENDING else "."),
            {**_where(ref, action), "status": shown, "meta_code": error.meta_code},
            view,
            state,
        )
    try:
        rendered = render_template(template, ref.params, ref.header)
    except TemplateParamsInvalid as exc:
        return _refuse(
            RefusalCode.TEMPLATE_PARAMS_INVALID,
            f"{_prefix(action)}{exc.message} Fix the parameters and send again.",
            {**_where(ref, action), **exc.details, "meta_code": exc.meta_code},
            view,
            state,
        )
    except TemplateDefinitionError as exc:
        return _refuse(
            RefusalCode.VALIDATION_ERROR,
            f"{_prefix(action)}Template {ref.name!r} ({ref.language}) is not a valid template: {exc.message} "
            "Fix it in the catalog.",
            {**_where(ref, action), **exc.details, "meta_code": exc.meta_code},
            view,
            state,
        )
    consent = state.consent
    if consent.status is not _OPTED_IN:
        return _refuse(
            RefusalCode.NO_CONSENT,
            _prefix(action) + _consent_message(state),
            {**_where(ref, action), "consent": consent.status.value},
            view,
            state,
        )
    if template.category is _MARKETING and state.marketing.status is _OPTED_OUT_STATUS:
        return _refuse(
            RefusalCode.MARKETING_OPTED_OUT,
            _prefix(action) + _marketing_message(state),
            {**_where(ref, action), "category": template.category.value, "meta_code": 131050},
            view,
            state,
        )
    reengagement = state.reengagement
    counts = view.state is not _OPEN and _reengages(action, purpose, view, now, settings)
    limit = settings.reengagement_limit
    horizon = settings.reengagement_horizon
    if counts and not reengagement_allowed(reengagement, limit=limit, now=now, horizon=horizon):
        first = reengagement.first_sent_at
        ago = f" {fmt_duration(now - first)} ago" if first is not None else ""
        return _refuse(
            RefusalCode.REENGAGEMENT_PENDING,
            f"{_prefix(action)}{reengagement.templates_sent_since_close} re-engagement template"
            f"{'s were' if reengagement.templates_sent_since_close != 1 else ' was'} already sent{ago} "
            f"(limit {limit}) and the customer has not replied. Wait for the customer to write.",
            {
                **_where(ref, action),
                "templates_sent_since_close": reengagement.templates_sent_since_close,
                "limit": limit,
                "first_sent_at": None if first is None else first.isoformat(),
            },
            view,
            state,
        )
    charge, after = settings._price(
        _TEMPLATE, template.category, state.wa_id, now, view, state, settings, usage
    )
    if counts:
        after = replace(after, reengagement=record_reengagement(reengagement, at=now, horizon=horizon))
    return _make_decision(
        allowed=True,
        action=action,
        code=None,
        message=note,
        details=_EMPTY,
        kind=_TEMPLATE,
        send_template=rendered,
        hold=action is Action.HOLD,
        charge=charge,
        window=view,
        state_after=after,
    )


def _reengages(
    action: Action, purpose: SendPurpose, view: WindowView, now: datetime, settings: PolicySettings
) -> bool:
    """Whether a template sent while the window is closed counts as re-engagement: fallbacks and knocks
    always, a send marked so, and an unmarked one while the last window closed within the horizon (a
    customer who never wrote, or long ago, gets notifications)."""
    if action is not _SEND or purpose is SendPurpose.REENGAGEMENT:
        return True
    if purpose is SendPurpose.NOTIFICATION:
        return False
    closed_at = view.closed_at
    return closed_at is not None and now - closed_at < settings.reengagement_horizon


def _prefix(action: Action) -> str:
    return "Fallback template: " if action is not _SEND else ""


def _where(ref: TemplateRef, action: Action) -> dict[str, object]:
    """Which template a refusal is about (built only when refusing: the happy path skips it)."""
    role = "fallback_template" if action is not _SEND else "template"
    return {"template": ref.name, "language": ref.language, "role": role}


def _consent_message(state: ContactState) -> str:
    consent = state.consent
    path = f"PUT /v1/contacts/{state.wa_id}/consent"
    if consent.status is ConsentStatus.OPTED_OUT:
        since = f" on {fmt_utc(consent.updated_at)}" if consent.updated_at is not None else ""
        source = f" (source: {consent.source})" if consent.source else ""
        return (
            f"{state.wa_id} opted out{since}{source}: templates are blocked until a new opt-in is recorded "
            f"({path}). Replies inside an open customer care window are still allowed."
        )
    return f"No opt-in recorded for {state.wa_id}: record consent ({path}) before sending templates."


def _marketing_message(state: ContactState) -> str:
    marketing = state.marketing
    since = f" on {fmt_utc(marketing.updated_at)}" if marketing.updated_at is not None else ""
    source = f" (source: {marketing.source})" if marketing.source else ""
    return (
        f"{state.wa_id} stopped marketing messages{since}{source}: marketing templates are refused until "
        "they resume them in WhatsApp. Utility and authentication templates and replies inside an open "
        "customer care window are still allowed."
    )


def _refuse(
    code: RefusalCode, message: str, details: Mapping[str, object], view: WindowView, state: ContactState
) -> Decision:
    return Decision(
        allowed=False,
        action=Action.REFUSE,
        code=code,
        message=message,
        details=MappingProxyType(dict(details)),
        kind=None,
        send_template=None,
        hold=False,
        charge=None,
        window=view,
        state_after=state,
    )


def _sendable(template: Template, now: datetime) -> bool:
    """``REINSTATED``, or ``FLAGGED`` before its disable date (docs/rules.md "Template statuses")."""
    if not template.status.sendable:
        return False
    if template.status is not TemplateStatus.FLAGGED or template.disable_at is None:
        return True
    return now < template.disable_at


def _status_shown(template: Template, now: datetime) -> str:
    """The status an error names: Meta's own text for an unknown one, DISABLED once a flag ran out."""
    if template.status is TemplateStatus.UNKNOWN:
        return template.status_text or TemplateStatus.UNKNOWN.value
    if template.status is TemplateStatus.FLAGGED:
        return TemplateStatus.DISABLED.value
    return template.status.value
