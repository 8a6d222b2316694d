"""Builders shared by the policy tests: UTC moments, contacts and catalog templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carewindow.policy import (
    CareWindow,
    ConsentState,
    ConsentStatus,
    ContactState,
    PolicySettings,
    Template,
    TemplateCategory,
    TemplateStatus,
)

WA_ID = "34600111222"
#: A number in a market the example rate card has no rows for, so the "*" (worked example) rates apply.
WA_ID_DEFAULT_MARKET = "447700900123"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
SETTINGS = PolicySettings()


def at(hours: float = 0.0, base: datetime = T0) -> datetime:
    """``base`` plus ``hours``."""
    return base + timedelta(hours=hours)


def contact(
    *,
    last_inbound_at: datetime | None = None,
    consent: ConsentStatus = ConsentStatus.OPTED_IN,
    wa_id: str = WA_ID,
    entry_point_at: datetime | None = None,
) -> ContactState:
    """A contact who last wrote at ``last_inbound_at`` (never, when None) with ``consent``."""
    window = CareWindow(
        last_inbound_at=last_inbound_at, opened_at=last_inbound_at, entry_point_at=entry_point_at
    )
    updated = None if consent is ConsentStatus.UNKNOWN else T0 - timedelta(days=30)
    return ContactState(
        wa_id=wa_id,
        window=window,
        consent=ConsentState(status=consent, source="web_form", proof="checkbox", updated_at=updated),
    )


def template(
    name: str = "ticket_update",
    *,
    body: str = "Hola {{customer_name}}, tu ticket {{ticket_id}} está {{ticket_status}}.",
    category: TemplateCategory = TemplateCategory.UTILITY,
    status: TemplateStatus = TemplateStatus.APPROVED,
    language: str = "es",
    header: str | None = None,
    footer: str | None = None,
) -> Template:
    """A catalog template (named parameters by default)."""
    return Template(
        name=name,
        language=language,
        category=category,
        status=status,
        body=body,
        header=header,
        footer=footer,
    )


NAMED_PARAMS = {"customer_name": "Ana", "ticket_id": "T-42", "ticket_status": "resuelto"}
