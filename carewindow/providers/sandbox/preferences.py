"""The sandbox's marketing preference: a customer stops or resumes marketing messages in WhatsApp.

``POST /sandbox/customers/{wa_id}/marketing`` ``{"preference": "stop" | "resume"}`` delivers Meta's
``user_preferences`` webhook (wire/preferences.py; Meta's documented shape) to carewindow, as the
WhatsApp app does when the customer taps "Stop promotions". Kept apart from simulator.py and app.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from carewindow.wire.preferences import build_user_preferences_webhook

from .payloads import GraphError

if TYPE_CHECKING:  # pragma: no cover - the simulator imports this module
    from .catalog import StoredTemplate
    from .simulator import Sandbox

_PREFERENCES = {"stop": True, "resume": False}
# Who stopped marketing messages, per sandbox (as Meta keeps it per business number).
_STOPPED: WeakKeyDictionary[Sandbox, set[str]] = WeakKeyDictionary()


def set_marketing(sandbox: Sandbox, wa_id: str, *, stopped: bool) -> None:
    """Record that ``wa_id`` stopped (or resumed) marketing messages from this sandbox's number."""
    who = _STOPPED.setdefault(sandbox, set())
    if stopped:
        who.add(wa_id)
    else:
        who.discard(wa_id)


def marketing_failure(sandbox: Sandbox, to: str, template: StoredTemplate | None) -> GraphError | None:
    """Meta's 131050 for a marketing template to a customer who stopped marketing messages (it comes
    as a failed status webhook, as Meta sends it), else None."""
    if template is None or template.meta_category != "MARKETING" or to not in _STOPPED.get(sandbox, ()):
        return None
    return GraphError(
        code=131050,
        details="Unable to deliver the message. This recipient has chosen to stop receiving marketing "
        "messages on WhatsApp from your business.",
    )


async def customer_marketing(request: Request) -> Response:
    """``POST /customers/{wa_id}/marketing``: the customer stops or resumes marketing messages."""
    sandbox = request.app.state.sandbox
    wa_id = request.path_params["wa_id"]
    try:
        body = await request.json()
    except ValueError:
        body = None
    preference = body.get("preference") if isinstance(body, dict) else None
    if preference not in _PREFERENCES:
        return JSONResponse(
            {"error": {"code": "validation_error", "message": 'preference must be "stop" or "resume"'}},
            status_code=422,
        )
    stopped = _PREFERENCES[preference]
    set_marketing(sandbox, wa_id, stopped=stopped)
    config = sandbox.config
    delivery = await sandbox.webhooks.deliver(
        build_user_preferences_webhook(
            waba_id=config.waba_id,
            phone_number_id=config.phone_number_id,
            display_phone_number=config.display_phone_number,
            wa_id=wa_id,
            stopped=stopped,
            timestamp=int(sandbox.now().timestamp()),
        )
    )
    return JSONResponse(
        {
            "wa_id": wa_id,
            "preference": preference,
            "delivered": delivery.delivered,
            "callback_status": delivery.status,
        }
    )
