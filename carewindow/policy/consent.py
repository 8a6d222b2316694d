"""Consent to receive templates: unknown, opted in or opted out, with where, how and when.

An opt-out is never silently lost (docs/rules.md, "Consent"). Events are compared by the time they
happened by their own clock (``at``; an opt-in is never later than when carewindow received it):

- an opt-out applies unless the current opt-in is provably later, by more than ``tolerance``;
- an opt-in over an opt-out applies only when it is later than the opt-out by more than ``tolerance``;
- an ``unknown`` event never replaces an opt-in or opt-out (and any of them replaces ``unknown``);
- otherwise (same status) the newest event wins, on a tie the greater (source, proof).

The outcome depends only on the set of events, never on the order they arrive in (a hypothesis
property in tests/policy/test_consent_order.py): the status is opted in exactly when the latest
opt-in is later than every opt-out by more than ``tolerance``. Every event, applied or not, gets a
reason (``consent_outcome``) for the history.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from carewindow.policy._time import require_aware
from carewindow.policy.enums import ConsentStatus

__all__ = [
    "DEFAULT_CONSENT_TOLERANCE",
    "DEFAULT_OPT_OUT_KEYWORDS",
    "ConsentEvent",
    "ConsentOutcome",
    "ConsentState",
    "apply_consent_event",
    "consent_outcome",
    "effective_at",
    "is_opt_out_keyword",
    "normalise_keyword",
]

#: Whole-message keywords that opt a customer out (matched case- and accent-insensitively).
DEFAULT_OPT_OUT_KEYWORDS: tuple[str, ...] = ("STOP", "BAJA", "UNSUBSCRIBE", "CANCELAR", "ARRET")

#: How close an opt-in may be to an opt-out and still lose to it (clock skew, late redelivery).
DEFAULT_CONSENT_TOLERANCE = timedelta(minutes=5)

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
    #: When carewindow received it (None: same as ``at``). An opt-in counts from the earlier of the two.
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentOutcome:
    """What one event did: the state after it, whether it was applied, and why (for the history)."""

    state: ConsentState
    applied: bool
    reason: str


def _key(status: ConsentStatus, source: str | None, proof: str | None) -> tuple[int, str, str]:
    return (_RANK[status], source or "", proof or "")


def effective_at(event: ConsentEvent) -> datetime:
    """The time the rule compares: ``at``, except that an opt-in cannot count from a moment after
    carewindow received it (a clock ahead, a made-up future time)."""
    require_aware(event.at, "event.at")
    received = event.received_at
    if received is not None and event.status is ConsentStatus.OPTED_IN and received < event.at:
        require_aware(received, "event.received_at")
        return received
    return event.at


def consent_outcome(
    state: ConsentState, event: ConsentEvent, *, tolerance: timedelta = DEFAULT_CONSENT_TOLERANCE
) -> ConsentOutcome:
    """Apply ``event`` to ``state`` under the opt-out-wins rule; say whether it applied and why."""
    if tolerance < timedelta(0):
        raise ValueError("tolerance must be >= 0")
    at = effective_at(event)
    current = state.updated_at
    new = ConsentState(status=event.status, source=event.source, proof=event.proof, updated_at=at)
    if current is None:
        return ConsentOutcome(state=new, applied=True, reason="first consent event")
    out, opt_in, unknown = ConsentStatus.OPTED_OUT, ConsentStatus.OPTED_IN, ConsentStatus.UNKNOWN
    if event.status is unknown and state.status is not unknown:
        return ConsentOutcome(
            state=state,
            applied=False,
            reason="superseded: an unknown status never replaces an opt-in or opt-out",
        )
    if state.status is unknown and event.status is not unknown:
        return ConsentOutcome(state=new, applied=True, reason="first opt-in or opt-out")
    if event.status is out and state.status is opt_in:
        if current - at > tolerance:
            return ConsentOutcome(
                state=state,
                applied=False,
                reason=f"superseded: the opt-in of {current.isoformat()} is later by more than "
                f"the {_fmt(tolerance)} tolerance",
            )
        return ConsentOutcome(
            state=new,
            applied=True,
            reason="opt-out applied"
            + (" (within the tolerance of a later opt-in: the opt-out wins)" if at < current else ""),
        )
    if event.status is opt_in and state.status is out:
        if at - current > tolerance:
            return ConsentOutcome(
                state=new,
                applied=True,
                reason=f"opt-in later than the opt-out by more than {_fmt(tolerance)}",
            )
        return ConsentOutcome(
            state=state,
            applied=False,
            reason=f"superseded: within {_fmt(tolerance)} of (or before) the opt-out of "
            f"{current.isoformat()}; the opt-out wins",
        )
    if at < current or (
        at == current
        and _key(event.status, event.source, event.proof) <= _key(state.status, state.source, state.proof)
    ):
        return ConsentOutcome(state=state, applied=False, reason="superseded: older than the current consent")
    return ConsentOutcome(state=new, applied=True, reason="newest event")


def _fmt(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60} min"
    return f"{delta.total_seconds():g} s"


def apply_consent_event(
    state: ConsentState, event: ConsentEvent, *, tolerance: timedelta = DEFAULT_CONSENT_TOLERANCE
) -> ConsentState:
    """The state after ``event`` (``consent_outcome`` without the reason)."""
    return consent_outcome(state, event, tolerance=tolerance).state


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
