"""``fast_constructor`` builds ordinary frozen instances, takes exactly ``cls(...)``'s keyword arguments,
and mypy checks its calls as it checks ``cls(...)``."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import re
import textwrap
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carewindow.policy import Charge, ContactState, Conversation, Decision, RenderedTemplate, WindowView
from carewindow.policy.frozen import fast_constructor
from carewindow.wire.webhook import (
    ConversationInfo,
    InboundMessage,
    PricingInfo,
    StatusUpdate,
    WebhookBatch,
)

FROZEN = Path(__file__).resolve().parents[2] / "carewindow" / "policy" / "frozen.py"

# Every class the hot paths build with a fast constructor.
HOT_CLASSES = [
    Charge,
    ContactState,
    Conversation,
    Decision,
    RenderedTemplate,
    WindowView,
    ConversationInfo,
    InboundMessage,
    PricingInfo,
    StatusUpdate,
    WebhookBatch,
]

_CHARGE = {
    "billable": False,
    "category": "service",
    "amount": Decimal(0),
    "currency": "USD",
    "pricing_model": "seed",
    "market": "ES",
    "reason": "free_in_window",
}


def test_builds_an_equal_frozen_instance() -> None:
    built = fast_constructor(Charge)(**_CHARGE)  # type: ignore[arg-type]
    normal = Charge(**_CHARGE)  # type: ignore[arg-type]
    assert type(built) is Charge and built == normal and repr(built) == repr(normal)
    assert hash(built) == hash(normal)
    assert pickle.loads(pickle.dumps(built)) == normal
    assert dataclasses.replace(built, market="BR").market == "BR"
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.market = "BR"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del built.market


@given(
    billable=st.booleans(),
    text=st.text(max_size=8),
    amount=st.decimals(allow_nan=False, allow_infinity=False),
)
@settings(max_examples=50)
def test_same_value_as_the_dataclass_constructor(billable: bool, text: str, amount: Decimal) -> None:
    kwargs = dict(_CHARGE, billable=billable, category=text, amount=amount, reason=text)
    built = fast_constructor(Charge)(**kwargs)  # type: ignore[arg-type]
    normal = Charge(**kwargs)  # type: ignore[arg-type]
    assert type(built) is Charge
    assert dataclasses.astuple(built) == dataclasses.astuple(normal) and repr(built) == repr(normal)


@pytest.mark.parametrize("cls", HOT_CLASSES, ids=lambda c: c.__name__)
def test_signature_is_the_classes_own(cls: type) -> None:
    """Same names, all keyword-only, same defaults (a factory's default shows as ``<factory>``)."""
    ours = inspect.signature(fast_constructor(cls)).parameters
    theirs = inspect.signature(cls).parameters
    assert list(ours) == list(theirs)
    for name, param in ours.items():
        assert param.kind is inspect.Parameter.KEYWORD_ONLY
        assert theirs[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert repr(param.default) == repr(theirs[name].default)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Point:
    x: int
    label: str = "origin"
    tags: list[str] = field(default_factory=list)


def test_defaults_and_factories() -> None:
    make = fast_constructor(_Point)
    first, second = make(x=1), make(x=2)
    assert first == _Point(x=1) and first.label == "origin" and first.tags == []
    assert first.tags is not second.tags  # the factory runs per instance, as in the dataclass
    given_tags = ["a"]
    assert make(x=3, label="p", tags=given_tags).tags is given_tags


def test_keyword_only_and_complete() -> None:
    make = fast_constructor(_Point)
    with pytest.raises(TypeError, match="positional"):
        make(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="missing"):
        make()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword"):
        make(x=1, y=2)  # type: ignore[call-arg]


def test_a_field_may_share_a_name_with_the_builders_locals() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Odd:
        self: int
        cls: int
        _cls: int

    assert fast_constructor(Odd)(self=1, cls=2, _cls=3) == Odd(self=1, cls=2, _cls=3)


def test_a_class_without_fields() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Empty:
        pass

    assert type(fast_constructor(Empty)()) is Empty


@dataclass(frozen=True, kw_only=True)
class _NoSlots:
    x: int


@dataclass(slots=True, kw_only=True)
class _NotFrozen:
    x: int


@dataclass(frozen=True, slots=True)
class _Positional:
    x: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _PostInit:
    x: int

    def __post_init__(self) -> None:
        pass


@dataclass(frozen=True, slots=True, kw_only=True)
class _NotInInit:
    x: int
    y: int = field(init=False, default=0)


class _Plain:
    def __init__(self, *, x: int) -> None:
        self.x = x


@pytest.mark.parametrize(
    ("cls", "reason"),
    [
        (_NoSlots, "frozen slotted"),
        (_NotFrozen, "frozen slotted"),
        (_Positional, "not keyword-only"),
        (_PostInit, "__post_init__"),
        (_NotInInit, "outside __init__"),
        (_Plain, "not a dataclass"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else v,
)
def test_refuses_what_it_cannot_build(cls: type, reason: str) -> None:
    with pytest.raises(TypeError, match=re.escape(reason)):
        fast_constructor(cls)


_SNIPPET = """\
from dataclasses import dataclass

from frozen import fast_constructor


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    x: int
    label: str = ""


make = fast_constructor(Point)
ok: Point = make(x=1, label="a")
make(x="1")
make(x=1, y=1)
make(label="a")
make(1)
make(x=1, label=None)
bad: str = make(x=1)
"""


@pytest.mark.slow
def test_mypy_checks_every_call(tmp_path: Path) -> None:
    """The static type is Point's constructor: a wrong name, type, positional use or result is caught.

    mypy runs on a copy of frozen.py beside the snippet, so it checks only those two files (a few
    seconds; importing it through carewindow.policy would check the whole package)."""
    mypy_api = pytest.importorskip("mypy.api")
    (tmp_path / "frozen.py").write_text(FROZEN.read_text())
    (tmp_path / "snippet.py").write_text(textwrap.dedent(_SNIPPET))
    out, err, status = mypy_api.run(
        [
            "--config-file=",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(tmp_path / "snippet.py"),
            str(tmp_path / "frozen.py"),
        ]
    )
    assert status == 1, out + err
    found = sorted(
        (int(m[1]), m[2]) for m in re.finditer(r"snippet\.py:(\d+): error: .*\[([a-z-]+)\]$", out, re.M)
    )
    assert found == [
        (14, "arg-type"),  # x="1"
        (15, "call-arg"),  # y=1: no such field
        (16, "call-arg"),  # x missing
        (17, "call-arg"),  # positional
        (18, "arg-type"),  # label=None
        (19, "assignment"),  # a Point is not a str
    ], out
    assert "frozen.py" not in out  # the module itself is clean under --strict
