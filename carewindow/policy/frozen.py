"""Fast keyword-only constructors for the hot path's frozen slotted dataclasses.

A frozen dataclass's ``__init__`` stores each field through ``object.__setattr__`` (a method call per
field); ``decide()`` builds a Decision and a WindowView per call and ``parse_webhook`` a StatusUpdate or
an InboundMessage per item, and those calls were most of their cost. ``fast_constructor(cls)`` returns a
function with the signature of ``cls`` itself (every field keyword-only, the same defaults) that builds
the same instance with plain slot writes: it makes an instance of a private subclass with the same slot
layout and the ordinary ``__setattr__``, stores the fields, then turns it into ``cls``. The result is an
ordinary instance of ``cls`` (same ``type``, ``==``, ``hash``, ``repr``, pickling and immutability).

Its static type is ``cls``'s own constructor (``Callable[P, T]``), so mypy checks each call's field
names and types as it checks ``cls(...)``; tests/policy/test_frozen.py shows it rejecting a wrong one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["fast_constructor"]

P = ParamSpec("P")
T = TypeVar("T")


class _Missing:
    """The default of a field with a ``default_factory``: the factory runs when the caller omits it."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Missing()


def fast_constructor(cls: Callable[P, T]) -> Callable[P, T]:
    """Return a constructor for ``cls``, a ``@dataclass(frozen=True, slots=True, kw_only=True)``, with
    ``cls``'s own keyword-only signature and defaults, that skips the frozen ``__setattr__``.

    ``cls`` may not have a ``__post_init__`` or fields left out of ``__init__`` (the builder would
    skip them): those raise ``TypeError`` here, at import time, as does any other kind of class.
    """
    if not isinstance(cls, type) or not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    name = cls.__name__
    options = cls.__dataclass_params__  # type: ignore[attr-defined]
    if not options.frozen or not options.init or "__slots__" not in cls.__dict__:
        raise TypeError(f"{name} is not a frozen slotted dataclass with a generated __init__")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{name} has a __post_init__, which a fast constructor would skip")
    fields = dataclasses.fields(cls)
    skipped = [f.name for f in fields if not f.init]
    if skipped:
        raise TypeError(f"{name} has fields outside __init__: {skipped}")
    positional = [f.name for f in fields if not f.kw_only]
    if positional:
        raise TypeError(f"{name} has fields that are not keyword-only: {positional}")

    # Dunder names, as dataclasses uses: a field's parameter can never shadow them.
    namespace: dict[str, Any] = {
        "__fast_cls__": cls,
        "__fast_new__": object.__new__,
        "__fast_factory__": _FACTORY,
    }
    params: list[str] = []
    body: list[str] = []
    for i, f in enumerate(fields):
        n = f.name
        if f.default is not dataclasses.MISSING:
            namespace[f"__fast_default_{i}__"] = f.default
            params.append(f"{n}=__fast_default_{i}__")
            body.append(f"    __fast_self__.{n} = {n}\n")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"__fast_default_{i}__"] = f.default_factory
            params.append(f"{n}=__fast_factory__")
            value = f"__fast_default_{i}__() if {n} is __fast_factory__ else {n}"
            body.append(f"    __fast_self__.{n} = {value}\n")
        else:
            params.append(n)
            body.append(f"    __fast_self__.{n} = {n}\n")
    namespace["__fast_builder__"] = type(
        f"_{name}Builder",
        (cls,),
        {
            "__slots__": (),
            # Both, or CPython keeps dispatching stores through the frozen class's Python-level hooks.
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
        },
    )
    source = (
        f"def fast_{name}({'*, ' + ', '.join(params) if params else ''}):\n"
        "    __fast_self__ = __fast_new__(__fast_builder__)\n"
        f"{''.join(body)}"
        "    __fast_self__.__class__ = __fast_cls__\n"
        "    return __fast_self__\n"
    )
    # Generated code, as dataclasses itself does: one straight-line function per class.
    exec(source, namespace)  # noqa: S102
    make: Callable[P, T] = namespace[f"fast_{name}"]
    make.__qualname__ = f"fast_constructor({cls.__qualname__})"
    make.__module__ = cls.__module__
    make.__doc__ = f"Build a {name} (keyword arguments only, as {name}(...) takes them)."
    return make
