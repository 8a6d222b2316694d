"""carewindow's pure policy core: may this WhatsApp message be sent now, as what, and at what cost?

No I/O, no clock reads (every function takes ``now``), no framework imports. The rules in plain words are
in docs/rules.md. Typical use::

    state = apply_inbound_message(state, at=message_time, text=text, settings=settings)
    decision = decide(request, state, template=catalog_entry, settings=settings, now=clock())
    if decision.allowed:
        ...  # send decision.send_template or the session message; store decision.state_after
"""

from __future__ import annotations

from carewindow.policy.consent import (
    DEFAULT_CONSENT_TOLERANCE,
    DEFAULT_OPT_OUT_KEYWORDS,
    ConsentEvent,
    ConsentOutcome,
    ConsentState,
    apply_consent_event,
    consent_outcome,
    is_opt_out_keyword,
    normalise_keyword,
)
from carewindow.policy.decision import SESSION_MESSAGE_TYPES, Decision, SendRequest, decide
from carewindow.policy.enums import (
    Action,
    ConsentStatus,
    MessageKind,
    OnClosed,
    ParameterFormat,
    SendPurpose,
    TemplateCategory,
    TemplateStatus,
    WindowState,
)
from carewindow.policy.errors import (
    ERRORS_BY_META_CODE,
    PolicyError,
    RateNotFound,
    RefusalCode,
    TemplateDefinitionError,
    TemplateError,
    TemplateNotApproved,
    TemplateNotFound,
    TemplateParamsInvalid,
)
from carewindow.policy.pricing import (
    EXAMPLE_RATE_CARD,
    EXAMPLE_RATE_CARD_CSV,
    PRICING_MODELS,
    Charge,
    PricedMessage,
    PricingModel,
    PricingUsage,
    Rate,
    RateCard,
    get_pricing_model,
    market_for,
)
from carewindow.policy.reengagement import (
    Reengagement,
    record_reengagement,
    reengagement_allowed,
    reset_reengagement,
)
from carewindow.policy.settings import PolicySettings
from carewindow.policy.state import ContactState, Conversation, apply_inbound_message
from carewindow.policy.templates import (
    RenderedTemplate,
    Template,
    TemplateButton,
    TemplateParams,
    TemplateRef,
    parse_placeholders,
    render_template,
    validate_params,
    validate_template_definition,
)
from carewindow.policy.window import CareWindow, WindowView, apply_inbound, window_at

__all__ = [
    "DEFAULT_CONSENT_TOLERANCE",
    "DEFAULT_OPT_OUT_KEYWORDS",
    "ERRORS_BY_META_CODE",
    "EXAMPLE_RATE_CARD",
    "EXAMPLE_RATE_CARD_CSV",
    "PRICING_MODELS",
    "SESSION_MESSAGE_TYPES",
    "Action",
    "CareWindow",
    "Charge",
    "ConsentEvent",
    "ConsentOutcome",
    "ConsentState",
    "ConsentStatus",
    "ContactState",
    "Conversation",
    "Decision",
    "MessageKind",
    "OnClosed",
    "ParameterFormat",
    "PolicyError",
    "PolicySettings",
    "PricedMessage",
    "PricingModel",
    "PricingUsage",
    "Rate",
    "RateCard",
    "RateNotFound",
    "Reengagement",
    "RefusalCode",
    "RenderedTemplate",
    "SendPurpose",
    "SendRequest",
    "Template",
    "TemplateButton",
    "TemplateCategory",
    "TemplateDefinitionError",
    "TemplateError",
    "TemplateNotApproved",
    "TemplateNotFound",
    "TemplateParams",
    "TemplateParamsInvalid",
    "TemplateRef",
    "TemplateStatus",
    "WindowState",
    "WindowView",
    "apply_consent_event",
    "apply_inbound",
    "apply_inbound_message",
    "consent_outcome",
    "decide",
    "get_pricing_model",
    "is_opt_out_keyword",
    "market_for",
    "normalise_keyword",
    "parse_placeholders",
    "record_reengagement",
    "reengagement_allowed",
    "render_template",
    "reset_reengagement",
    "validate_params",
    "validate_template_definition",
    "window_at",
]
