"""Consent to receive templates: unknown, opted in or opted out, with where, how and when.

The newest event wins. On a tie the safer status wins (opted out over opted in over unknown), so the
result does not depend on the order events were applied in.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from carewindow.policy._time import require_aware
from carewindow.policy.enums import ConsentStatus

__all__ = [
    "DEFAULT_OPT_OUT_KEYWORDS",
    "ConsentEvent",
    "ConsentState",
    "apply_consent_event",
    "is_opt_out_keyword",
    "normalise_keyword",
]

#: Whole-message keywords that opt a customer out (matched case- and accent-insensitively).
DEFAULT_OPT_OUT_KEYWORDS: tuple[str, ...] = ("STOP", "BAJA", "UNSUBSCRIBE", "CANCELAR", "ARRET")

_RANK = {ConsentStatus.UNKNOWN: 0, ConsentStatus.OPTED_IN: 1, ConsentStatus.OPTED_OUT: 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentState:
    """The contact's current consent: its status, where it came from, the proof, and when."""

    status: ConsentStatus = ConsentStatus.UNKNOWN
    source: str | None = None
    proof: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentEvent:
    """A consent change: an opt-in recorded through the API, a STOP keyword, a user_preferences webhook."""

    status: ConsentStatus
    source: str | None = None
    proof: str | None = None
    at: datetime


def _key(status: ConsentStatus, source: str | None, proof: str | None) -> tuple[int, str, str]:
    return (_RANK[status], source or "", proof or "")


def apply_consent_event(state: ConsentState, event: ConsentEvent) -> ConsentState:
    """Apply ``event`` unless the state already holds something newer (ties go to the safer status)."""
    require_aware(event.at, "event.at")
    current = state.updated_at
    if current is not None:
        if event.at < current:
            return state
        if event.at == current and _key(event.status, event.source, event.proof) <= _key(
            state.status, state.source, state.proof
        ):
            return state
    return ConsentState(status=event.status, source=event.source, proof=event.proof, updated_at=event.at)


def normalise_keyword(text: str) -> str:
    """Trim, fold case, and drop accents and surrounding punctuation: ``" Arrêt! "`` -> ``"arret"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    start, end = 0, len(folded)
    while start < end and _is_trimmed(folded[start]):
        start += 1
    while end > start and _is_trimmed(folded[end - 1]):
        end -= 1
    return folded[start:end]


def _is_trimmed(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith("P")


@lru_cache(maxsize=64)
def _keyword_set(keywords: tuple[str, ...]) -> frozenset[str]:
    return frozenset(filter(None, map(normalise_keyword, keywords)))


def is_opt_out_keyword(text: str | None, keywords: Sequence[str]) -> bool:
    """True when the whole message is one of ``keywords`` (``"stop"``, ``" Baja. "``, ``"ARRÊT"``)."""
    if not text or len(text) > 64:  # a long message is a conversation, not a keyword
        return False
    return normalise_keyword(text) in _keyword_set(tuple(keywords))
