"""How a customer is addressed: a wa_id as Meta sent it, a number as a person typed it, or a user id.

Rules (docs/rules.md, "Addressing a customer"):

- A **wa_id** (digits only, 7-15 of them) is taken exactly as it is: Meta says a wa_id need not be a
  valid phone number (Mexican ``521…`` and Argentine ``549…`` ids are not, for ``phonenumbers``).
- A **typed number** (a leading ``+``, spaces, dashes, dots or parentheses) is normalised with
  ``phonenumbers`` to E.164 digits; a Mexican mobile typed without the historic ``1`` becomes the
  ``521…`` form Meta's wa_ids use, and one typed with it is accepted although ``phonenumbers``
  no longer calls it possible.
- A **business-scoped user id** (``US.13491208655302741918``, ``US.ENT.…`` for a parent id), the
  2026 identity of a customer who hides the number behind a username, is taken as it is.

:func:`address_variants` names the keys one customer may be stored under (``521…``/``52…``,
``549…``/``54…``), so a contact is found however it was addressed.
"""

from __future__ import annotations

import re
from typing import Final

import phonenumbers

__all__ = ["AddressError", "address_variants", "is_user_id", "normalise_address"]

# pywa's RecipientType (pywa/types/sent_update.py @0bcf2f1): ``CC.digits`` and the parent ``CC.ENT.digits``.
_USER_ID: Final = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[0-9]{1,24}")  # fits contacts.wa_id (32)
_TYPED_NOISE: Final = re.compile(r"[\s\-.()]")
_MX: Final = "52"
_AR: Final = "54"

NUMBER_HELP: Final = "must be a phone number in E.164 form, e.g. +34600111222"


class AddressError(ValueError):
    """Not a wa_id, a phone number or a user id; the message says what is expected."""


def is_user_id(value: str) -> bool:
    """A business-scoped user id (BSUID), e.g. ``US.13491208655302741918``."""
    return _USER_ID.fullmatch(value) is not None


def normalise_address(value: str) -> str:
    """The key a customer is stored under: a wa_id or user id as given, a typed number normalised."""
    raw = value.strip()
    if is_user_id(raw):
        return raw
    if raw.isascii() and raw.isdigit():
        if not 7 <= len(raw) <= 15:
            raise AddressError(NUMBER_HELP)
        return raw  # a wa_id, exactly as Meta sent it
    cleaned = _TYPED_NOISE.sub("", raw)
    digits = cleaned[1:] if cleaned.startswith("+") else cleaned
    if not (digits.isascii() and digits.isdigit()) or not 7 <= len(digits) <= 15:
        raise AddressError(NUMBER_HELP)
    if digits.startswith(_MX + "1") and len(digits) == 13:
        return digits  # a Mexican mobile typed the way Meta's wa_ids spell it
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException as exc:
        raise AddressError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise AddressError("not a possible phone number for its country code")
    if digits.startswith(_MX) and len(digits) == 12:
        return _MX + "1" + digits[2:]
    return digits


def address_variants(key: str) -> tuple[str, ...]:
    """Every key the customer behind ``key`` may be stored under, ``key`` first.

    Mexico: ``52`` + 10 digits and ``521`` + the same 10. Argentina: ``54`` + 10 digits and ``549`` +
    the same 10 (Meta's wa_ids for Argentine mobiles carry the 9). Anything else: ``key`` alone."""
    if len(key) == 13 and key.startswith((_MX + "1", _AR + "9")):
        return (key, key[:2] + key[3:])
    if len(key) == 12 and key.startswith((_MX, _AR)) and key.isdigit():
        return (key, key[:2] + ("1" if key.startswith(_MX) else "9") + key[2:])
    return (key,)
