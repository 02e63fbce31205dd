"""Frozen dataclasses that are cheap to make.

The ``__init__`` that :func:`dataclasses.dataclass` writes for a frozen class sets each field
through ``object.__setattr__`` (the class's own ``__setattr__`` refuses), several times the
cost of a plain attribute. The few frozen values made on every request (an entity-tag, a
resource state, a snapshot, a decision) get an ``__init__`` with the same signature that
fills the instance's dictionary directly. Everything else the dataclass provides (fields,
defaults, ``replace()``, equality, hashing, ``repr``, refusing assignment) is unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["quick_init"]

_C = TypeVar("_C", bound=type)


def quick_init(cls: _C) -> _C:
    """Replace the generated ``__init__`` of the frozen dataclass ``cls`` (apply above
    ``@dataclass(frozen=True)``). Only for plain fields: no ``default_factory``, no
    ``__post_init__``, no ``InitVar``, no ``__slots__``."""
    params = cls.__dict__.get("__dataclass_params__")
    if params is None or not params.frozen or "__slots__" in cls.__dict__:
        raise TypeError(f"quick_init needs a frozen dataclass without slots, not {cls!r}")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"quick_init: {cls.__name__} has __post_init__")
    names: list[str] = []
    signature: list[str] = []
    namespace: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if not field.init or field.default_factory is not dataclasses.MISSING:
            raise TypeError(f"quick_init: {cls.__name__}.{field.name} is not a plain field")
        names.append(field.name)
        if field.default is dataclasses.MISSING:
            signature.append(field.name)
        else:
            namespace[f"_default_{field.name}"] = field.default
            signature.append(f"{field.name}=_default_{field.name}")
    body = "".join(f"    values[{name!r}] = {name}\n" for name in names)
    source = f"def __init__(self, {', '.join(signature)}):\n    values = self.__dict__\n{body}"
    exec(source, namespace)
    generated = cls.__dict__["__init__"]
    init = namespace["__init__"]
    init.__qualname__ = generated.__qualname__
    init.__module__ = generated.__module__
    init.__doc__ = generated.__doc__
    init.__annotations__ = dict(generated.__annotations__)
    setattr(cls, "__init__", init)  # noqa: B010
    return cls
