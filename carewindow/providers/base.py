"""What carewindow needs from a WhatsApp provider, and the errors a provider may raise.

::

    Exception
    └── ProviderError               .transient .code (Meta's number or None) .message .maybe_sent
                                    .title .reason .describe() (what the contract error carries)
        ├── ProviderGraphError      Meta answered non-2xx; wraps a wire GraphError (transient per code)
        ├── ProviderTimeout         no answer in time (transient; the request MAY have been accepted)
        ├── ProviderUnavailable     could not connect / connection broke (transient)
        └── ProviderProtocolError   a 2xx answer we cannot read (permanent: do not resend blindly)

Adapters translate their transport's exceptions into these; nothing above providers sees httpx.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from carewindow.wire.graph_errors import GraphError

__all__ = [
    "MediaProvider",
    "Provider",
    "ProviderError",
    "ProviderGraphError",
    "ProviderProtocolError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "SendResult",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """A message the provider accepted: its ``wamid`` and the provider's answer as received."""

    wamid: str
    raw: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False, hash=False)


class ProviderError(Exception):
    """The provider did not accept the request."""

    transient: bool = False

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        transient: bool | None = None,
        maybe_sent: bool = False,
    ) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)
        self.code = code
        if transient is not None:
            self.transient = transient
        # True when the request left us and no answer came back (read timeout, dropped connection):
        # the provider may have accepted it, so sending again could deliver it twice.
        self.maybe_sent = maybe_sent

    @property
    def title(self) -> str:
        """A short name for what went wrong (Meta's title for a Graph error)."""
        return type(self).__name__

    @property
    def reason(self) -> str:
        """Why, in the provider's words when it gave any."""
        return self.message

    def describe(self) -> dict[str, object]:
        """What the provider said, for the contract's error JSON (``error.provider``)."""
        return {"title": self.title, "message": self.message, "transient": self.transient}


class ProviderGraphError(ProviderError):
    """Meta answered with a Graph API error."""

    def __init__(self, error: GraphError) -> None:
        super().__init__(error.message, code=error.code, transient=error.transient)
        self.error = error

    def __reduce__(self) -> tuple[type[ProviderGraphError], tuple[GraphError]]:
        return (type(self), (self.error,))

    @property
    def http_status(self) -> int:
        """The HTTP status Meta answered with."""
        return self.error.http_status

    @property
    def title(self) -> str:
        """Meta's ``error_user_title`` when it sent one, else the title of the code."""
        return self.error.user_title or self.error.title

    @property
    def reason(self) -> str:
        """Meta's explanation (``GraphError.reason``): ``error_user_title`` and ``error_user_msg``
        when sent, else the message and ``error_data.details``."""
        return self.error.reason

    def describe(self) -> dict[str, object]:
        """Meta's error fields (``GraphError.describe``) and whether retrying may help."""
        return {**self.error.describe(), "transient": self.transient}

    @property
    def details(self) -> str | None:
        """Meta's ``error_data.details``."""
        return self.error.details


class ProviderTimeout(ProviderError):
    """The provider did not answer in time."""

    transient = True


class ProviderUnavailable(ProviderError):
    """The provider could not be reached."""

    transient = True


class ProviderProtocolError(ProviderError):
    """The provider answered success in a shape we cannot read."""


@runtime_checkable
class Provider(Protocol):
    """A WhatsApp Business provider (Meta's Cloud API, the sandbox, a fake).

    Every method raises only ``ProviderError`` subclasses. ``send`` takes the exact Send API body
    (``wire.messages.build_send_body``) and returns once the provider accepted it; delivery comes later
    as status webhooks. Implementations are safe to share between tasks of one event loop.
    """

    async def send(self, body: Mapping[str, object], *, endpoint: str = "messages") -> SendResult:
        """POST the body to ``/{phone_number_id}/{endpoint}`` (``messages``, or ``marketing_messages``
        for the Marketing Messages API); the wamid of the accepted message."""
        ...

    async def list_templates(self) -> list[Mapping[str, object]]:
        """Every template of the business account, all pages, as Meta describes them."""
        ...

    async def create_template(self, definition: Mapping[str, object]) -> Mapping[str, object]:
        """Submit a template for review; Meta's answer (``{"id", "status", "category"}``)."""
        ...

    async def delete_template(self, name: str) -> None:
        """Delete every language of the template ``name``."""
        ...

    async def aclose(self) -> None:
        """Release connections; the provider is unusable afterwards."""
        ...


@runtime_checkable
class MediaProvider(Protocol):
    """The Graph API's media endpoints (docs/subsystems/media.md); ``MetaProvider`` has them."""

    async def media_info(self, media_id: str) -> Mapping[str, object]:
        """``GET /{media_id}``: ``{url, mime_type, sha256, file_size, id}`` (the url is short-lived)."""
        ...

    async def download_media(self, url: str, *, max_bytes: int) -> bytes:
        """The bytes behind a ``media_info`` url (``ProviderProtocolError`` past ``max_bytes``)."""
        ...

    async def upload_media(self, data: bytes, *, mime_type: str, filename: str) -> str:
        """``POST /{phone_number_id}/media``: Meta's media id of the uploaded file."""
        ...

    async def delete_media(self, media_id: str) -> None:
        """``DELETE /{media_id}``."""
        ...
