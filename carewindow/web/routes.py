"""The agent inbox at ``/inbox``: sign-in, the conversation list, a conversation with its composer.

See docs/inbox.md. Pages are server-rendered with Jinja2 (autoescape on); ``static/inbox.js`` keeps
countdowns ticking and swaps in fresh server-rendered parts when ``/inbox/events`` says something
changed. Reads run in threads (plain ``def`` routes or ``anyio.to_thread``); sends and consent go
through ``actions`` exactly as the JSON API's do.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import anyio
import jinja2
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from carewindow.actions.consent import do_record_consent
from carewindow.actions.contacts import do_mark_read
from carewindow.actions.errors import REFUSAL_STATUS, ActionError
from carewindow.actions.send import SendCommand, SendOutcome, do_queue_send
from carewindow.policy import ConsentStatus, ParameterFormat, TemplateDefinitionError, TemplateRef, window_at
from carewindow.storage import contacts as contact_store
from carewindow.storage import inbox as inbox_store
from carewindow.storage import messages as message_store
from carewindow.storage import templates as template_store
from carewindow.storage.engine import connect
from carewindow.web import present
from carewindow.web.costs import costs_view
from carewindow.web.live import closing_event, event_stream
from carewindow.web.media import media_router, thread_media
from carewindow.web.session import INBOX_ROLES, Agent, SessionManager, WebSession, csrf_ok

HERE = Path(__file__).parent
# No inline script or style anywhere: even a missed escape could not run code in the page.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
FormStr = Annotated[str, Form(max_length=4096)]
THREAD_LIMIT = 100  # the newest messages a conversation shows


class SignInRequired(Exception):
    """The request needs a signed-in agent (handled as a redirect to the sign-in page)."""


@dataclass(frozen=True, slots=True)
class SendForm:
    mode: str
    body: str
    template: str
    params: tuple[str, ...]


class Inbox:
    """What the inbox routes share: the runtime, sessions and the template environment."""

    def __init__(self, rt: Any) -> None:
        self.rt = rt
        settings = rt.settings
        # Random per process when unset: sessions then end on restart (docs/inbox.md).
        secret = settings.session_secret or secrets.token_urlsafe(32)
        self.sessions = SessionManager(
            secret=secret,
            secure=settings.public_url.startswith("https://"),
            keys=rt.keys,
        )
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        digest = hashlib.sha256()
        for name in ("inbox.js", "inbox.css"):
            digest.update((HERE / "static" / name).read_bytes())
        self.env.globals["static_version"] = digest.hexdigest()[:10]

    def queue(self, cmd: SendCommand, *, phone_number_id: str, now: datetime) -> SendOutcome:
        """Every inbox send (a reply, a template, a file, a media-header template) goes the one send
        path with this deployment's settings; blocking: call it in a thread."""
        rt = self.rt
        return do_queue_send(
            rt.engine,
            cmd,
            phone_number_id=phone_number_id,
            settings=rt.policy,
            now=now,
            hold_period=timedelta(hours=rt.settings.hold_period_hours),
            committer=rt.sends if rt.sends.running else None,
        )

    def queued(self, outcome: SendOutcome, *, phone_number_id: str, wa_id: str) -> RedirectResponse:
        """After an inbox send was stored: tell the live streams and the worker, back to the thread."""
        self.rt.bus.publish(outcome.events)
        if self.rt.worker is not None:
            self.rt.worker.wake()
        return RedirectResponse(conversation_url(phone_number_id, wa_id), status_code=303)

    # -- rendering -------------------------------------------------------------------------------

    def render(
        self, name: str, context: dict[str, Any], *, status: int = 200, session: WebSession | None = None
    ) -> HTMLResponse:
        context.setdefault("now_iso", present.iso(self.rt.now()))
        for key in ("agent", "error", "current", "form"):
            context.setdefault(key, None)
        context.setdefault("idem", "")
        context.setdefault("csrf", session.csrf if session else "")
        html = self.env.get_template(name).render(context)
        response = HTMLResponse(html, status_code=status)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Cache-Control"] = "no-store"
        if session is not None:
            self.sessions.save(response, session)
        return response

    # -- auth ------------------------------------------------------------------------------------

    def signed_in(self, request: Request) -> tuple[WebSession, Agent]:
        """The session and agent, or SignInRequired (sync: may query the key table)."""
        session = self.sessions.load(request)
        agent = self.sessions.agent(session)
        if session is None or agent is None:
            raise SignInRequired
        return session, agent

    def check_post(self, request: Request, token: str) -> tuple[WebSession, Agent]:
        session, agent = self.signed_in(request)
        if not csrf_ok(session, token):
            raise CsrfFailed
        return session, agent

    # -- pages -----------------------------------------------------------------------------------

    def numbers(self, agent: Agent) -> list[str] | None:
        return sorted(agent.phone_number_ids) if agent.phone_number_ids is not None else None

    def page(
        self,
        session: WebSession,
        agent: Agent,
        *,
        phone_number_id: str | None = None,
        wa_id: str | None = None,
        error: ActionError | None = None,
        form: SendForm | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        """The list, and the conversation when one is chosen (4 queries on one connection)."""
        rt = self.rt
        now = rt.now()
        conversation = None
        with connect(rt.engine) as conn:
            rows = inbox_store.conversation_list(conn, phone_number_ids=self.numbers(agent), now=now)
            if phone_number_id is not None and wa_id is not None:
                contact = contact_store.find(conn, phone_number_id=phone_number_id, address=wa_id)
                if contact is None:
                    return self.render(
                        "missing.html",
                        {"agent": agent, "wa_id": wa_id, "conversations": self._rows(rows, now)},
                        status=404,
                        session=session,
                    )
                # Newest first from storage; shown oldest first, the order they are read in.
                thread = list(
                    reversed(
                        message_store.thread(conn, contact_id=contact.id, limit=THREAD_LIMIT, before=None)
                    )
                )
                if contact.unread_count:
                    do_mark_read(rt.engine, contact_id=contact.id, now=now)
                options = present.template_options(inbox_store.approved_templates(conn))
                superseded = (  # an opt-out a later opt-in won over: shown to the agent
                    contact_store.superseded_opt_out(conn, contact.id)
                    if contact.consent_status == "opted_in"
                    else None
                )
                conversation = self._conversation(
                    contact, thread, options, now=now, form=form, superseded=superseded
                )
                conversation["files"] = thread_media(conn, thread)
        return self.render(
            "inbox.html",
            {
                "agent": agent,
                "conversations": self._rows(rows, now),
                "current": conversation,
                "error": error,
                "form": form,
                "idem": secrets.token_urlsafe(16),
            },
            status=status,
            session=session,
        )

    def _rows(self, rows: Any, now: Any) -> list[present.ConversationRow]:
        return [present.conversation_row(r, now=now, policy=self.rt.policy) for r in rows]

    def _conversation(
        self,
        contact: Any,
        thread: Any,
        options: list[present.TemplateOption],
        *,
        now: Any,
        form: Any,
        superseded: Any = None,
    ) -> dict[str, Any]:
        policy = self.rt.policy
        bubbles = [present.bubble(m) for m in thread]
        state = contact_store.state_from_row(contact)
        view = window_at(state.window, now=now, settings=policy)
        return {
            "wa_id": contact.wa_id,
            "phone_number_id": contact.phone_number_id,
            "name": contact.profile_name or "",
            "ticket_id": contact.open_ticket_id or "",
            "window": present.window_badge(view, now=now),
            "consent": state.consent.status.value,
            "consent_label": present.CONSENT_LABELS.get(state.consent.status.value, ""),
            "consent_source": state.consent.source or "",
            "marketing_stopped": state.marketing.status.value == "opted_out",
            "superseded_opt_out": present.superseded_note(superseded),
            "bubbles": bubbles,
            "timeline": present.timeline(bubbles, thread, now=now, window=policy.window),
            "composer": present.composer(state, view, now=now, policy=policy),
            "templates": options,
            "url": conversation_url(contact.phone_number_id, contact.wa_id),
        }


class CsrfFailed(Exception):
    """A POST without the session's CSRF token."""


def conversation_url(phone_number_id: str, wa_id: str) -> str:
    return f"/inbox/c/{quote(phone_number_id, safe='')}/{quote(wa_id, safe='')}"


def _params(row: Any, values: tuple[str, ...]) -> TemplateRef | None:
    """The form's values in placeholder order -> the template reference the policy checks."""
    if row is None:
        return None
    tpl = template_store.template_from_row(row)
    try:
        named = tpl.parameter_format is ParameterFormat.NAMED
        keys = tpl.placeholders
    except TemplateDefinitionError:
        named, keys = False, ()
    params: Any = dict(zip(keys, values, strict=False)) if named else tuple(values)
    return TemplateRef(name=tpl.name, language=tpl.language, params=params)


def build_router(inbox: Inbox) -> APIRouter:
    """The ``/inbox`` routes (not in the OpenAPI schema: they answer HTML)."""
    router = APIRouter(prefix="/inbox", include_in_schema=False)
    rt = inbox.rt

    @router.get("")
    def inbox_home(request: Request) -> Response:
        session, agent = inbox.signed_in(request)
        return inbox.page(session, agent)

    @router.get("/costs")
    def costs_page(request: Request, days: int = 30) -> Response:
        session, agent = inbox.signed_in(request)
        with connect(rt.engine) as conn:
            view = costs_view(
                conn,
                now=rt.now(),
                days=days,
                card=rt.policy.rate_card,
                pricing_model=rt.settings.pricing,
                window=rt.policy.window,
                phone_number_ids=inbox.numbers(agent),
                policy=rt.policy,
            )
        return inbox.render("costs.html", {"agent": agent, "v": view}, session=session)

    @router.get("/login")
    def login_form(request: Request) -> Response:
        session = inbox.sessions.load(request)
        if inbox.sessions.agent(session) is not None:
            return RedirectResponse("/inbox", status_code=303)
        return inbox.render("login.html", {}, session=session or inbox.sessions.new())

    @router.post("/login")
    def login(request: Request, api_key: FormStr = "", csrf_token: FormStr = "") -> Response:
        session = inbox.sessions.load(request)
        if not csrf_ok(session, csrf_token):
            raise CsrfFailed
        assert session is not None
        principal = rt.keys.resolve(api_key.strip()) if api_key.strip() else None
        if principal is None:
            message, status = "Unknown or revoked API key.", 401
        elif principal.role not in INBOX_ROLES:
            message = f"An {principal.role} key cannot sign in to the inbox; use an agent or admin key."
            status = 403
        else:
            response = RedirectResponse("/inbox", status_code=303)
            inbox.sessions.save(response, inbox.sessions.sign_in(api_key.strip(), principal.key_id))
            return response
        return inbox.render("login.html", {"error": message}, status=status, session=session)

    @router.post("/logout")
    def logout(request: Request, csrf_token: FormStr = "") -> Response:
        inbox.check_post(request, csrf_token)
        response = RedirectResponse("/inbox/login", status_code=303)
        inbox.sessions.clear(response)
        return response

    @router.get("/c/{phone_number_id}/{wa_id}")
    def conversation(request: Request, phone_number_id: str, wa_id: str) -> Response:
        session, agent = inbox.signed_in(request)
        if not agent.may_use(phone_number_id):
            return inbox.render("forbidden.html", {"agent": agent}, status=403, session=session)
        return inbox.page(session, agent, phone_number_id=phone_number_id, wa_id=wa_id)

    @router.post("/c/{phone_number_id}/{wa_id}/send")
    async def send(
        request: Request,
        phone_number_id: str,
        wa_id: str,
        csrf_token: FormStr = "",
        mode: FormStr = "text",
        body: FormStr = "",
        template: FormStr = "",
        param: Annotated[list[str] | None, Form(max_length=1024)] = None,
        idem: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        session, agent = await anyio.to_thread.run_sync(inbox.check_post, request, csrf_token)
        if not agent.may_use(phone_number_id):
            return inbox.render("forbidden.html", {"agent": agent}, status=403, session=session)
        form = SendForm(mode=mode, body=body, template=template, params=tuple(param or ()))
        now = rt.now()

        def queue() -> Any:
            if mode == "template":
                name, _, language = template.partition("|")
                with connect(rt.engine) as conn:
                    row = template_store.get(conn, name, language)
                ref = _params(row, form.params) or TemplateRef(name=name, language=language)
                cmd = SendCommand(
                    to=wa_id,
                    message_type="template",
                    template=ref,
                    idempotency_key=f"inbox:{idem}" if idem else None,
                )
            else:
                cmd = SendCommand(
                    to=wa_id,
                    message_type="text",
                    content={"body": body},
                    idempotency_key=f"inbox:{idem}" if idem else None,
                )
            return inbox.queue(cmd, phone_number_id=phone_number_id, now=now)

        try:
            outcome = await anyio.to_thread.run_sync(queue)
        except ActionError as exc:
            status = REFUSAL_STATUS.get(exc.code, exc.http_status)
            render = partial(
                inbox.page,
                session,
                agent,
                phone_number_id=phone_number_id,
                wa_id=wa_id,
                error=exc,
                form=form,
                status=status,
            )
            return await anyio.to_thread.run_sync(render)
        return inbox.queued(outcome, phone_number_id=phone_number_id, wa_id=wa_id)

    @router.post("/c/{phone_number_id}/{wa_id}/consent")
    async def record_opt_in(
        request: Request,
        phone_number_id: str,
        wa_id: str,
        csrf_token: FormStr = "",
        source: Annotated[str, Form(max_length=256)] = "",
        proof: FormStr = "",
    ) -> Response:
        session, agent = await anyio.to_thread.run_sync(inbox.check_post, request, csrf_token)
        if not agent.may_use(phone_number_id):
            return inbox.render("forbidden.html", {"agent": agent}, status=403, session=session)
        if not source.strip():
            error = ActionError("Say where the customer opted in (the source), e.g. web_form or call.")
            error.code = "validation_error"
            render = partial(
                inbox.page,
                session,
                agent,
                phone_number_id=phone_number_id,
                wa_id=wa_id,
                error=error,
                status=422,
            )
            return await anyio.to_thread.run_sync(render)
        now = rt.now()
        events = await anyio.to_thread.run_sync(
            lambda: do_record_consent(
                rt.engine,
                phone_number_id=phone_number_id,
                wa_id=wa_id,
                status=ConsentStatus.OPTED_IN,
                source=source.strip(),
                proof=proof.strip() or None,
                at=now,
                now=now,
                settings=rt.policy,
            )
        )
        rt.bus.publish(events)
        return RedirectResponse(conversation_url(phone_number_id, wa_id), status_code=303)

    @router.get("/events")
    async def events(request: Request) -> Response:
        try:
            _, agent = await anyio.to_thread.run_sync(inbox.signed_in, request)
        except SignInRequired:
            return Response("sign in first\n", status_code=401, media_type="text/plain")
        stream = event_stream(
            rt.bus, allowed=agent.may_use, is_disconnected=request.is_disconnected, closing=closing_event()
        )
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


def mount_inbox(app: FastAPI, rt: Any) -> None:
    """Serve the agent inbox from ``app``: pages under ``/inbox``, assets under ``/inbox/static``."""
    inbox = Inbox(rt)
    app.state.inbox = inbox

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/inbox/login", status_code=303)

    async def csrf_failed(request: Request, exc: Exception) -> Response:
        html = inbox.env.get_template("csrf.html").render(now_iso="", agent=None, csrf="")
        response = HTMLResponse(html, status_code=403)
        response.headers["Content-Security-Policy"] = CSP
        return response

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfFailed, csrf_failed)
    app.include_router(build_router(inbox))
    app.include_router(media_router(inbox))
    from carewindow.web.template_media import template_media_router  # it imports this module

    app.include_router(template_media_router(inbox))
    app.mount("/inbox/static", StaticFiles(directory=HERE / "static"), name="inbox-static")
