"""Meta's verification handshake, run by carewindow against a fan-out receiver (docs/gateway.md).

Meta checks a callback URL with ``GET url?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…`` and
expects the challenge back as the body. A fan-out subscription created with ``verify: true`` runs the
same request first (the verify token is the subscription's secret), so a receiver built for Meta
(pywa's, Chatwoot's) is proven reachable and configured before anything is delivered to it.
"""

from __future__ import annotations

import secrets

import httpx

from carewindow.api.errors import ApiError


async def verify_receiver(url: str, verify_token: str, *, timeout: float = 10.0) -> None:
    """ApiError 422 unless ``url`` answers the challenge as Meta expects."""
    challenge = str(secrets.randbelow(10**9))
    params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            r = await client.get(url, params=params)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # unreachable, or no URL at all
        raise ApiError(422, "verification_failed", f"The receiver could not be reached: {exc}") from None
    if r.status_code != 200 or r.text.strip() != challenge:
        raise ApiError(
            422,
            "verification_failed",
            f"The receiver answered HTTP {r.status_code} without the hub.challenge; check its verify "
            "token (the subscription's secret).",
            status_code=r.status_code,
        )
