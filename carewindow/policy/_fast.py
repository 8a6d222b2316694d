"""Fast positional constructors for frozen slotted dataclasses on the hot path.

A frozen dataclass sets each field through ``object.__setattr__`` (about 100 ns a field on CPython 3.11).
``decide()`` builds a Decision, a WindowView and a Charge per call, which alone would cost more than the
whole one-microsecond budget. The builder below is a subclass with the same slot layout and the normal
``__setattr__``: it stores the fields with plain slot writes and then turns itself into the frozen class.
The result is an ordinary instance of ``cls`` (same ``type``, ``==``, ``repr`` and immutability).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def fast_constructor(cls: type[T], **fixed: object) -> Callable[..., T]:
    """Return ``make(*values)`` building ``cls`` from its fields, positionally, in field order.

    Fields named in ``fixed`` take that value and are left out of the arguments. No ``__post_init__``
    runs, so use it only for classes without one.
    """
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = set(fixed) - set(names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
    params = [n for n in names if n not in fixed]
    body = "".join(f"    self.{n} = {f'_fixed_{n}' if n in fixed else n}\n" for n in names)
    source = f"def __init__(self, {', '.join(params)}):\n{body}    self.__class__ = cls\n"
    namespace: dict[str, Any] = {"cls": cls, **{f"_fixed_{n}": v for n, v in fixed.items()}}
    # Generated code, as dataclasses itself does: one straight-line __init__ per class.
    exec(source, namespace)  # noqa: S102
    builder = type(
        f"_{cls.__name__}Builder",
        (cls,),
        {
            "__slots__": (),
            # Both, or CPython keeps dispatching stores through the frozen class's Python-level hooks.
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__init__": namespace["__init__"],
        },
    )
    return builder
