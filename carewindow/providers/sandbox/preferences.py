"""The sandbox's marketing preference: a customer stops or resumes marketing messages in WhatsApp.

``POST /sandbox/customers/{wa_id}/marketing`` ``{"preference": "stop" | "resume"}`` delivers Meta's
``user_preferences`` webhook (wire/preferences.py; Meta's documented shape) to carewindow, as the
WhatsApp app does when the customer taps "Stop promotions". Kept apart from simulator.py and app.py.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from carewindow.wire.preferences import build_user_preferences_webhook

from .simulator import Sandbox

_PREFERENCES = {"stop": True, "resume": False}


async def customer_marketing(request: Request) -> Response:
    """``POST /customers/{wa_id}/marketing``: the customer stops or resumes marketing messages."""
    sandbox: Sandbox = request.app.state.sandbox
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
