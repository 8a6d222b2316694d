"""The sandbox's in-memory state and behaviour: windows, templates, sends, statuses, faults.

The window is the policy's own (``apply_inbound`` / ``window_at``), so the sandbox refuses exactly what
carewindow's policy would, and answers with Meta's error numbers. See docs/subsystems/sandbox.md.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import hashlib
import itertools
import secrets
from collections import Counter
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import phonenumbers

from carewindow.policy import (
    CareWindow,
    PolicySettings,
    TemplateCategory,
    TemplateParamsInvalid,
    TemplateStatus,
    WindowView,
    apply_inbound,
    render_template,
    window_at,
)

from . import payloads, persist, validation
from .callbacks import Delivery, HttpClientFactory, WebhookSender
from .catalog import DUPLICATE_SUBCODE, StoredTemplate, media_header, parse_definition, send_parameters
from .config import SandboxConfig
from .errors import GraphFailure
from .payloads import JSON, GraphError
from .preferences import marketing_failure

# Inbound types that do not open or extend the window: the same set as actions/ingest.py. An
# ``unsupported`` message is one the user sent (Meta's unsupported-messages webhook reference: "A WhatsApp
# user sends a message type not supported by Cloud API"), and a user's message opens the window
# (docs/rules.md "Unsupported messages").
NON_WINDOW_TYPES = frozenset({"reaction", "system", "request_welcome"})
TEMPLATE_LIMIT = 250  # the per-WABA cap Meta reports in the list summary
TRANSIENT_FAULT_STATUS = {130429: 400, 131056: 400, 131048: 400, 4: 400}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SentRecord:
    """One message the sandbox accepted (``GET /sandbox/sent``)."""

    wamid: str
    to: str
    type: str
    body: JSON
    accepted_at: datetime

    def to_json(self) -> JSON:
        return {
            "wamid": self.wamid,
            "to": self.to,
            "type": self.type,
            "body": self.body,
            "accepted_at": self.accepted_at.isoformat(),
        }


@dataclasses.dataclass(slots=True, kw_only=True)
class Fault:
    """The next ``remaining`` send calls answer ``code`` with HTTP ``status`` (or hang first)."""

    remaining: int
    status: int
    code: int
    mode: str  # "error" | "timeout" | "accept_timeout"
    timeout_seconds: float
    details: str | None

    def to_json(self) -> JSON:
        return {
            "fail_next": self.remaining,
            "status": self.status,
            "code": self.code,
            "mode": self.mode,
            "timeout_seconds": self.timeout_seconds,
        }


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Pricing:
    """What the status webhooks say a send costs (PMP shape)."""

    billable: bool
    category: str
    type: str
    conversation_id: str | None = None
    conversation_expires: int | None = None

    def to_json(self) -> JSON:
        return {
            "billable": self.billable,
            "pricing_model": "PMP",
            "category": self.category,
            "type": self.type,
        }


def new_wamid(to: str) -> str:
    """A unique id shaped like Meta's (``wamid.`` + base64); URL-safe so it sits in paths."""
    raw = b"\x15\x02\x00\x11\x18" + to.encode() + secrets.token_bytes(12)
    return "wamid." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


@functools.lru_cache(maxsize=65536)  # parsing the number is most of the sandbox's work per send
def user_id_for(wa_id: str) -> str:
    """A stable business-scoped user id (BSUID, ``CC.digits``) for a wa_id."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + wa_id)) or "ZZ"
    except phonenumbers.NumberParseException:
        region = "ZZ"
    digest = int.from_bytes(hashlib.sha256(b"bsuid:" + wa_id.encode()).digest()[:8], "big")
    return f"{region}.{digest}"


def _body_key(to: str, body: JSON) -> str:
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(to.encode() + b"\n" + canonical).hexdigest()


class Sandbox:
    """The emulated business number. Reached over HTTP through ``create_sandbox_app``."""

    def __init__(
        self,
        config: SandboxConfig,
        *,
        http_client_factory: HttpClientFactory | None = None,
        policy_settings: PolicySettings | None = None,
    ) -> None:
        self.config = config
        self.settings = policy_settings or PolicySettings()
        self.webhooks = WebhookSender(
            url=config.callback_url,
            app_secret=config.app_secret,
            attempts=config.callback_attempts,
            backoff=config.callback_backoff,
            timeout=config.callback_timeout,
            client_factory=http_client_factory,
        )
        self.windows: dict[str, CareWindow] = {}
        self.templates: dict[tuple[str, str], StoredTemplate] = {}
        self.sent: list[SentRecord] = []
        self.inbound_wamids: set[str] = set()
        # The WABA setting ``disable_marketing_messages_on_cloud_api`` (POST /sandbox/waba): 131063.
        self.marketing_disabled_on_cloud_api = False
        # Customers who hide their number behind a username: webhooks carry only their user id.
        self.username_only: set[str] = set()
        self.fault: Fault | None = None
        self.rejected = 0
        self.faults_served = 0
        self._body_counts: Counter[str] = Counter()
        self._wamids_by_body: dict[str, list[str]] = {}
        self._template_ids = itertools.count(900000000000001)
        if config.state_file:
            saved = persist.load_state(Path(config.state_file))
            self.templates, self.windows = saved.templates, saved.windows
            self.username_only = saved.username_only
            ids = [int(t.id) for t in self.templates.values() if t.id.isdigit()]
            self._template_ids = itertools.count(max([900000000000000, *ids]) + 1)
        self._tasks: set[asyncio.Task[object]] = set()
        self._status_batch: list[tuple[JSON, JSON, asyncio.Future[Delivery]]] = []
        self._flushing = False

    def _persist(self) -> None:
        """Keep the catalog and the windows on disk when the sandbox has a state file (persist.py)."""
        if self.config.state_file:
            persist.save_state(
                Path(self.config.state_file),
                templates=self.templates,
                windows=self.windows,
                username_only=self.username_only,
            )

    # -- time and identity ------------------------------------------------------------------

    def now(self) -> datetime:
        return self.config.clock()

    def _contact(self, wa_id: str, profile_name: str | None = None) -> JSON:
        if wa_id in self.username_only:  # the number stays hidden: only the user id (2026 usernames)
            return payloads.username_contact(user_id=user_id_for(wa_id), profile_name=profile_name)
        return payloads.contact(wa_id=wa_id, user_id=user_id_for(wa_id), profile_name=profile_name)

    def wa_id_for_user(self, user_id: str) -> str:
        """The customer behind a user id this sandbox handed out ("" for one it never did: the send is
        accepted and then fails 131026, as an unknown recipient does at Meta)."""
        for wa_id in (*self.windows, *self.username_only):
            if user_id_for(wa_id) == user_id:
                return wa_id
        return ""

    def window(self, wa_id: str) -> WindowView:
        """The sandbox's own view of ``wa_id``'s window right now."""
        return window_at(self.windows.get(wa_id, CareWindow()), now=self.now(), settings=self.settings)

    # -- background work --------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run ``coro`` in the background; ``drain`` waits for it and ``aclose`` cancels it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every scheduled webhook has been attempted; ``TimeoutError`` after ``timeout`` s."""
        async with asyncio.timeout(timeout):
            # Loop: a finishing task may schedule another (never today, but cheap to be safe).
            while self._tasks:
                await asyncio.wait(set(self._tasks))

    async def aclose(self) -> None:
        """Cancel background work and close the webhook HTTP client."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.webhooks.aclose()

    # -- faults -----------------------------------------------------------------------------

    def set_fault(self, body: Mapping[str, Any]) -> Fault:
        """Arm the fault switch from a ``POST /faults`` body."""
        code = int(body.get("code", 131000))
        mode = str(body.get("mode", "error"))
        if mode not in ("error", "timeout", "accept_timeout"):
            raise ValueError("mode must be error, timeout or accept_timeout")
        fault = Fault(
            remaining=int(body.get("fail_next", 1)),
            status=int(body.get("status", TRANSIENT_FAULT_STATUS.get(code, 500))),
            code=code,
            mode=mode,
            timeout_seconds=float(body.get("timeout_seconds", self.config.fault_timeout_seconds)),
            details=body.get("details"),
        )
        if fault.remaining < 0 or not 400 <= fault.status <= 599:
            raise ValueError("fail_next must be >= 0 and status a 4xx or 5xx")
        self.fault = fault if fault.remaining else None
        return fault

    def _take_fault(self) -> Fault | None:
        fault = self.fault
        if fault is None:
            return None
        fault.remaining -= 1
        if fault.remaining <= 0:
            self.fault = None
        self.faults_served += 1
        return fault

    # -- outbound messages ------------------------------------------------------------------

    async def send(self, body: object, *, endpoint: str = "messages") -> JSON:
        """Handle ``POST /{phone_number_id}/messages`` (or ``/marketing_messages``, the Marketing Messages
        API: marketing templates only): accept and schedule statuses, or raise."""
        fault = self._take_fault()
        if fault is not None and fault.mode != "accept_timeout":
            if fault.mode == "timeout":
                await asyncio.sleep(fault.timeout_seconds)
            raise GraphFailure(GraphError(code=fault.code, details=fault.details, http_status=fault.status))
        try:
            answer = self._send(body, endpoint)
        except GraphFailure:
            self.rejected += 1
            raise
        if fault is not None:
            # Accepted (statuses will follow) but the caller never hears back in time: a retry duplicates.
            await asyncio.sleep(fault.timeout_seconds)
            raise GraphFailure(GraphError(code=fault.code, details=fault.details, http_status=fault.status))
        return answer

    def _send(self, body: object, endpoint: str = "messages") -> JSON:
        if isinstance(body, dict) and body.get("status") == "read" and "message_id" in body:
            return self._mark_read(body)
        if (error := validation.check_envelope(body)) or not isinstance(body, dict):
            raise GraphFailure(error or GraphError(code=100, details="The body must be a JSON object."))
        kind = str(body.get("type", "text"))
        by_user_id = body.get("to") is None  # check_envelope: then ``recipient`` is a user id
        if by_user_id:
            to = self.wa_id_for_user(str(body["recipient"]))
        else:
            to = validation.normalise_recipient(body["to"]) or ""
        if to == self.config.display_phone_number:
            raise GraphFailure(GraphError(code=131021, details="Recipient cannot be the sender."))
        view = self.window(to)
        template: StoredTemplate | None = None
        if kind == "template":
            template = self._check_template(body["template"])
            if by_user_id and template.template.category is TemplateCategory.AUTHENTICATION:
                raise GraphFailure(GraphError(code=131062, details=payloads.DETAILS_131062))
            marketing = template.template.category is TemplateCategory.MARKETING
            if endpoint == "messages" and marketing and self.marketing_disabled_on_cloud_api:
                raise GraphFailure(GraphError(code=131063, details=payloads.DETAILS_131063))
            if endpoint == "marketing_messages" and not marketing:
                raise GraphFailure(
                    GraphError(code=100, details="The Marketing Messages API sends marketing templates only.")
                )
        elif endpoint == "marketing_messages":
            raise GraphFailure(
                GraphError(code=100, details="The Marketing Messages API sends marketing templates only.")
            )
        elif error := validation.check_content(kind, body[kind]):
            raise GraphFailure(error)
        elif not view.is_open and not self.config.async_131047:
            raise GraphFailure(GraphError(code=131047, details=payloads.DETAILS_131047))
        wamid = new_wamid(to)
        record = SentRecord(wamid=wamid, to=to, type=kind, body=body, accepted_at=self.now())
        self.sent.append(record)
        key = _body_key(to, body)
        self._body_counts[key] += 1
        self._wamids_by_body.setdefault(key, []).append(wamid)
        failure: GraphError | None = None
        if to.startswith(self.config.undeliverable_prefix):
            failure = GraphError(code=131026, details="Message Undeliverable.")
        elif template is None and not view.is_open:
            failure = GraphError(code=131047, details=payloads.DETAILS_131047)
        else:  # a marketing template to a customer who stopped marketing messages: 131050
            failure = marketing_failure(self, to, template)
        pricing = self._pricing(view, template, wamid)
        tracker = body.get("biz_opaque_callback_data")
        self.spawn(self._status_flow(record, pricing, failure, tracker if isinstance(tracker, str) else None))
        return {
            "messaging_product": "whatsapp",
            "contacts": [
                {"input": str(body["recipient"]), "user_id": str(body["recipient"])}
                if by_user_id
                else {"input": str(body["to"]), "wa_id": to}
            ],
            "messages": [{"id": wamid, "message_status": "accepted"}],
        }

    def _mark_read(self, body: Mapping[str, Any]) -> JSON:
        if body.get("messaging_product") != "whatsapp":
            raise GraphFailure(
                GraphError(code=100, message="(#100) The parameter messaging_product is required.")
            )
        message_id = body.get("message_id")
        if not isinstance(message_id, str) or message_id not in self.inbound_wamids:
            raise GraphFailure(GraphError(code=100, details=f"Unknown message_id {message_id!r}."))
        return {"success": True}

    def _check_template(self, obj: object) -> StoredTemplate:
        if not isinstance(obj, dict):
            raise GraphFailure(GraphError(code=100, message="(#100) The parameter template is required."))
        name = obj.get("name")
        language = obj.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        if not isinstance(name, str) or not isinstance(code, str):
            raise GraphFailure(
                GraphError(code=131008, details="template['name'] and template['language']['code'].")
            )
        stored = self.templates.get((name, code))
        if stored is None:
            raise GraphFailure(
                GraphError(code=132001, details=f"template name ({name}) does not exist in {code}")
            )
        status = stored.status
        if not status.sendable:
            meta_code = {TemplateStatus.PAUSED: 132015, TemplateStatus.DISABLED: 132016}.get(status, 132001)
            raise GraphFailure(
                GraphError(code=meta_code, details=f"Template {name} ({code}) is {status.value}.")
            )
        params, error = send_parameters(obj)
        if error is not None:
            raise GraphFailure(error)
        try:
            render_template(stored.template, params, media_header(obj))
        except TemplateParamsInvalid as exc:
            raise GraphFailure(GraphError(code=exc.meta_code or 132000, details=exc.message)) from exc
        return stored

    def _pricing(self, view: WindowView, template: StoredTemplate | None, wamid: str) -> Pricing:
        now = self.now()
        fep_until = view.entry_point_expires_at
        if fep_until is not None and now < fep_until:
            return Pricing(
                billable=False,
                category="referral_conversion",
                type="free_entry_point",
                conversation_id=hashlib.sha256(f"fep:{fep_until.isoformat()}".encode()).hexdigest()[:32],
                conversation_expires=int(fep_until.timestamp()),
            )
        if template is None:
            return Pricing(billable=False, category="service", type="free_customer_service")
        category = template.template.category
        if category is TemplateCategory.UTILITY and view.is_open:
            return Pricing(billable=False, category="utility", type="free_customer_service")
        return Pricing(billable=True, category=category.value, type="regular")

    async def _status_flow(
        self, record: SentRecord, pricing: Pricing, failure: GraphError | None, tracker: str | None
    ) -> None:
        # One task per message, each webhook awaited: the statuses of one message go out in order.
        first, second, third = self.config.status_delays
        await asyncio.sleep(first)
        if failure is not None:
            await self._emit_status(record, "failed", None, [failure.webhook_error()], tracker)
            return
        await self._emit_status(record, "sent", pricing, [], tracker)
        await asyncio.sleep(second)
        await self._emit_status(record, "delivered", pricing, [], tracker)
        if self.config.auto_read:
            await asyncio.sleep(third)
            await self._emit_status(record, "read", pricing, [], tracker)

    async def _emit_status(
        self,
        record: SentRecord,
        status: str,
        pricing: Pricing | None,
        errors: list[JSON],
        tracker: str | None,
    ) -> Delivery:
        conversation = None
        if pricing is not None and pricing.conversation_id is not None:
            conversation = {"id": pricing.conversation_id, "origin": {"type": "referral_conversion"}}
            if status == "sent":
                conversation["expiration_timestamp"] = str(pricing.conversation_expires)
        entry = payloads.status_entry(
            wamid=record.wamid,
            status=status,
            timestamp=int(self.now().timestamp()),
            recipient_id=record.to,
            recipient_user_id=user_id_for(record.to),
            pricing=pricing.to_json() if pricing is not None else None,
            conversation=conversation,
            errors=errors,
            biz_opaque_callback_data=tracker,
        )
        if self.config.status_batch_window > 0:
            return await self._batched(entry, self._contact(record.to))
        return await self.webhooks.deliver(
            payloads.status_webhook(
                waba_id=self.config.waba_id,
                display_phone_number=self.config.display_phone_number,
                phone_number_id=self.config.phone_number_id,
                contact_entry=self._contact(record.to),
                status=entry,
            )
        )

    async def _batched(self, entry: JSON, contact: JSON) -> Delivery:
        """Queue a status for the next batched webhook; resolves when that webhook was attempted, so
        the statuses of one message still go out in order."""
        done: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        self._status_batch.append((entry, contact, done))
        if not self._flushing:
            self._flushing = True
            self.spawn(self._flush_statuses())
        return await done

    async def _flush_statuses(self) -> None:
        try:
            await asyncio.sleep(self.config.status_batch_window)
            while self._status_batch:
                size = self.config.status_batch_max
                batch, self._status_batch = self._status_batch[:size], self._status_batch[size:]
                contacts = list({c.get("wa_id") or c.get("user_id"): c for _, c, _ in batch}.values())
                delivery = await self.webhooks.deliver(
                    payloads.statuses_webhook(
                        waba_id=self.config.waba_id,
                        display_phone_number=self.config.display_phone_number,
                        phone_number_id=self.config.phone_number_id,
                        contact_entries=contacts,
                        statuses=[e for e, _, _ in batch],
                    )
                )
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(delivery)
        finally:
            self._flushing = False

    # -- simulated customers ----------------------------------------------------------------

    async def customer_message(self, wa_id: str, body: Mapping[str, Any]) -> JSON:
        """A simulated customer writes: update the window from the message time, then deliver the webhook."""
        if validation.normalise_recipient(wa_id) != wa_id:
            raise ValueError("wa_id must be 6 to 15 digits")
        kind = str(body.get("type", "text"))
        if kind == "text":
            text = body.get("text")
            if not isinstance(text, str) or not text:
                raise ValueError("text is required for a text message")
            content: Any = {"body": text}
        else:
            content = body.get("content")
            if content is None:
                raise ValueError(f"content is required for a {kind} message")
        stamp = body.get("timestamp")
        if stamp is None:
            at = self.now()
        elif isinstance(stamp, int | float | str) and not isinstance(stamp, bool):
            try:
                at = datetime.fromtimestamp(float(stamp), UTC)
            except (ValueError, OverflowError, OSError) as exc:
                raise ValueError("timestamp must be Unix seconds") from exc
        else:
            raise ValueError("timestamp must be Unix seconds")
        referral = body.get("referral")
        if referral is not None and not isinstance(referral, dict):
            raise ValueError("referral must be an object")
        if kind not in NON_WINDOW_TYPES:
            self.windows[wa_id] = apply_inbound(
                self.windows.get(wa_id, CareWindow()),
                at=at,
                referral=referral is not None,
                settings=self.settings,
            )
            self._persist()
        if body.get("username_only"):
            self.username_only.add(wa_id)
        wamid = new_wamid(wa_id)
        self.inbound_wamids.add(wamid)
        message: JSON = {"from": wa_id, "id": wamid, "timestamp": str(int(at.timestamp())), "type": kind}
        if wa_id in self.username_only:
            del message["from"]
            message["from_user_id"] = user_id_for(wa_id)
        context = body.get("context")
        if isinstance(context, dict) and isinstance(context.get("message_id"), str):
            message["context"] = {"from": self.config.display_phone_number, "id": context["message_id"]}
        if referral is not None:
            message["referral"] = referral
        message[kind] = content
        profile = body.get("profile_name")
        delivery = await self.webhooks.deliver(
            payloads.message_webhook(
                waba_id=self.config.waba_id,
                display_phone_number=self.config.display_phone_number,
                phone_number_id=self.config.phone_number_id,
                contact_entry=self._contact(
                    wa_id, profile if isinstance(profile, str) else f"Customer {wa_id[-4:]}"
                ),
                message=message,
            )
        )
        return {"wamid": wamid, "delivered": delivery.delivered, "callback_status": delivery.status}

    # -- templates --------------------------------------------------------------------------

    def create_template(self, body: object) -> JSON:
        """``POST /{waba_id}/message_templates``: validate, store, and announce approval."""
        status = TemplateStatus.APPROVED if self.config.approve_templates else TemplateStatus.PENDING
        stored = parse_definition(body, template_id=str(next(self._template_ids)), status=status)
        key = (stored.template.name, stored.template.language)
        if key in self.templates:
            raise GraphFailure(
                GraphError(
                    code=100,
                    message="Invalid parameter",
                    subcode=DUPLICATE_SUBCODE,
                    details=f"Template {key[0]} already has content in {key[1]}.",
                    user_title="Content in This Language Already Exists",
                    user_msg=(
                        f"There's already {key[1]} content for this template. You can create a new "
                        "template and try again."
                    ),
                )
            )
        self.templates[key] = stored
        self._persist()
        if status is TemplateStatus.APPROVED:
            self.spawn(self._announce_template(stored, reason=None))
        return {"id": stored.id, "status": status.value, "category": stored.meta_category}

    def list_templates(self, query: Mapping[str, str], *, url: str) -> JSON:
        """``GET /{waba_id}/message_templates`` with Meta-style cursor paging (``limit`` / ``after``)."""
        items = sorted(self.templates.values(), key=lambda t: int(t.id))
        for field in ("name", "status", "category", "language"):
            wanted = query.get(field)
            if wanted:
                if field == "name":
                    items = [t for t in items if wanted in t.template.name]
                else:
                    # Filters take comma-separated lists (status=APPROVED,PAUSED).
                    allowed = {w.strip().upper() for w in wanted.split(",")}
                    items = [t for t in items if str(t.to_json()[field]).upper() in allowed]
        try:
            limit = max(1, min(int(query.get("limit", self.config.page_size)), 1000))
        except ValueError as exc:
            raise GraphFailure(GraphError(code=100, details="limit must be an integer.")) from exc
        start = 0
        if after := query.get("after"):
            decoded = _decode_cursor(after)
            if decoded is None:
                raise GraphFailure(GraphError(code=100, details="Invalid 'after' cursor."))
            start = decoded
        page = items[start : start + limit]
        answer: JSON = {"data": [t.to_json() for t in page], "paging": {}}
        if summary := query.get("summary"):
            known = {
                "total_count": len(items),
                "message_template_count": len(self.templates),
                "message_template_limit": TEMPLATE_LIMIT,
                "are_translations_complete": True,
            }
            answer["summary"] = {k: known[k] for k in summary.split(",") if k in known}
        if page:
            answer["paging"]["cursors"] = {
                "before": _encode_cursor(start),
                "after": _encode_cursor(start + len(page)),
            }
        if start + len(page) < len(items):
            params = {k: v for k, v in query.items() if k != "after"}
            params["limit"] = str(limit)
            params["after"] = _encode_cursor(start + len(page))
            answer["paging"]["next"] = url + "?" + "&".join(f"{k}={v}" for k, v in params.items())
        return answer

    def delete_template(self, name: str | None, hsm_id: str | None) -> JSON:
        """``DELETE /{waba_id}/message_templates?name=…[&hsm_id=…]``: all languages, or the one id."""
        if not name:
            raise GraphFailure(GraphError(code=100, message="(#100) The parameter name is required."))
        keys = [k for k, t in self.templates.items() if k[0] == name and (hsm_id is None or t.id == hsm_id)]
        if not keys:
            raise GraphFailure(GraphError(code=100, details=f"Message template {name!r} not found."))
        for key in keys:
            del self.templates[key]
        self._persist()
        return {"success": True}

    async def set_template_status(
        self, name: str, language: str, status: str, reason: str | None
    ) -> tuple[StoredTemplate, Delivery]:
        """Change a template's status (``PAUSED``, ``DISABLED`` …) and deliver the status webhook."""
        stored = self.templates.get((name, language))
        if stored is None:
            raise KeyError((name, language))
        new_status = TemplateStatus.parse(status)
        if new_status is TemplateStatus.UNKNOWN:
            known = ", ".join(m.value for m in TemplateStatus if m is not TemplateStatus.UNKNOWN)
            raise ValueError(f"status must be one of {known}")
        stored = dataclasses.replace(stored, template=dataclasses.replace(stored.template, status=new_status))
        self.templates[(name, language)] = stored
        self._persist()
        return stored, await self._announce_template(stored, reason=reason)

    async def _announce_template(self, stored: StoredTemplate, *, reason: str | None) -> Delivery:
        return await self.webhooks.deliver(
            payloads.template_status_webhook(
                waba_id=self.config.waba_id,
                time=int(self.now().timestamp()),
                event=stored.status.value,
                template_id=stored.id,
                name=stored.template.name,
                language=stored.template.language,
                category=stored.meta_category,
                reason=reason,
            )
        )

    # -- the 2026 platform: app echoes, template category and quality --------------------------

    async def business_app_message(self, wa_id: str, body: Mapping[str, Any]) -> JSON:
        """The business writes from the WhatsApp Business app (coexistence): ``{"text"}`` sends, with
        ``"edit": wamid`` it edits that message, with ``"revoke": wamid`` it deletes it. Delivered as an
        ``smb_message_echoes`` webhook; the window is not touched (echoes neither open nor extend it)."""
        if validation.normalise_recipient(wa_id) != wa_id:
            raise ValueError("wa_id must be 6 to 15 digits")
        at = int(self.now().timestamp())
        wamid = new_wamid(wa_id)
        echo: JSON = {
            "from": self.config.display_phone_number,
            "to": wa_id,
            "id": wamid,
            "timestamp": str(at),
        }
        echo["to_user_id"] = user_id_for(wa_id)
        text = body.get("text")
        if isinstance(body.get("revoke"), str):
            echo.update(type="revoke", revoke={"original_message_id": body["revoke"]})
        elif not isinstance(text, str) or not text:
            raise ValueError("text is required (with edit: the new text)")
        elif isinstance(body.get("edit"), str):
            message = {"type": "text", "text": {"body": text}}
            echo.update(type="edit", edit={"original_message_id": body["edit"], "message": message})
        else:
            echo.update(type="text", text={"body": text})
        delivery = await self.webhooks.deliver(
            payloads.echo_webhook(
                waba_id=self.config.waba_id,
                display_phone_number=self.config.display_phone_number,
                phone_number_id=self.config.phone_number_id,
                contact_entry=self._contact(wa_id, f"Customer {wa_id[-4:]}"),
                echo=echo,
            )
        )
        return {"wamid": wamid, "delivered": delivery.delivered, "callback_status": delivery.status}

    async def change_template_category(
        self, name: str, language: str, category: str, *, impending: bool, effective_at: int | None
    ) -> tuple[StoredTemplate, Delivery]:
        """Announce (``impending``) or complete Meta's recategorisation of a template; a completed one
        changes the category the sandbox prices the template's statuses with."""
        stored = self.templates.get((name, language))
        if stored is None:
            raise KeyError((name, language))
        new = TemplateCategory.parse(category, TemplateCategory.UTILITY)
        if new.value != category.strip().lower():
            raise ValueError("category must be MARKETING, UTILITY or AUTHENTICATION")
        previous = stored.meta_category
        now = int(self.now().timestamp())
        if impending:
            webhook = payloads.template_category_webhook(
                waba_id=self.config.waba_id,
                time=now,
                template_id=stored.id,
                name=name,
                language=language,
                new_category=previous,
                correct_category=new.value.upper(),
                effective_at=effective_at if effective_at is not None else now + 86400,
            )
        else:
            stored = dataclasses.replace(stored, template=dataclasses.replace(stored.template, category=new))
            self.templates[(name, language)] = stored
            self._persist()
            webhook = payloads.template_category_webhook(
                waba_id=self.config.waba_id,
                time=now,
                template_id=stored.id,
                name=name,
                language=language,
                new_category=new.value.upper(),
                previous_category=previous,
            )
        return stored, await self.webhooks.deliver(webhook)

    async def change_template_quality(
        self, name: str, language: str, quality: str, previous: str = "GREEN"
    ) -> tuple[StoredTemplate, Delivery]:
        """Deliver a ``message_template_quality_update`` (GREEN, YELLOW, RED or UNKNOWN)."""
        stored = self.templates.get((name, language))
        if stored is None:
            raise KeyError((name, language))
        if quality.upper() not in ("GREEN", "YELLOW", "RED", "UNKNOWN"):
            raise ValueError("quality must be GREEN, YELLOW, RED or UNKNOWN")
        webhook = payloads.template_quality_webhook(
            waba_id=self.config.waba_id,
            time=int(self.now().timestamp()),
            template_id=stored.id,
            name=name,
            language=language,
            previous=previous.upper(),
            new=quality.upper(),
        )
        return stored, await self.webhooks.deliver(webhook)

    # -- introspection ----------------------------------------------------------------------

    def stats(self) -> JSON:
        """Counters for tests: accepted, rejected, faults served, and duplicate (to, body) sends."""
        repeated = [key for key, count in self._body_counts.items() if count > 1]
        deliveries = [r.delivery for r in self.webhooks.log]
        return {
            "accepted": len(self.sent),
            "rejected": self.rejected,
            "faults_served": self.faults_served,
            "duplicates": sum(self._body_counts[k] - 1 for k in repeated),
            "duplicate_sends": [
                {"count": self._body_counts[k], "wamids": list(self._wamids_by_body[k])} for k in repeated
            ],
            "webhooks": {
                "attempted": sum(1 for d in deliveries if d.attempts),
                "delivered": sum(1 for d in deliveries if d.delivered),
                "failed": sum(1 for d in deliveries if d.attempts and not d.delivered),
                "pending_tasks": self.pending,
            },
        }


def _encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"i:{index}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not raw.startswith("i:") or not raw[2:].isdigit():
        return None
    return int(raw[2:])
