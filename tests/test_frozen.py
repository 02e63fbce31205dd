"""The frozen values made on every request keep everything their dataclass gives them with
the cheaper ``__init__`` of ``django_preconditions._frozen.quick_init`` (``EntityTag``, a
named tuple, is immutable by itself)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from django_preconditions._frozen import quick_init
from django_preconditions.conditions import Decision, Outcome, Reason, ResourceState
from django_preconditions.enforcement import Snapshot
from django_preconditions.headers import EntityTag

QUICK = [ResourceState, Decision, Snapshot]


def _parameters(init: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(init).parameters.values()]


def _generated_init(cls: type) -> Any:
    """The ``__init__`` dataclass() itself writes for a copy of ``cls``'s fields."""
    copy = dataclasses.make_dataclass(
        "Copy",
        [(f.name, Any, dataclasses.field(default=f.default)) for f in dataclasses.fields(cls)],
        frozen=True,
    )
    return copy.__init__


@pytest.mark.parametrize("cls", QUICK, ids=lambda cls: cls.__name__)
def test_the_quick_init_takes_the_same_arguments_as_the_generated_one(cls: type) -> None:
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    assert _parameters(cls.__init__) == _parameters(_generated_init(cls))
    assert set(cls.__init__.__annotations__) == {f.name for f in dataclasses.fields(cls)} | {
        "return"
    }


def test_values_keep_defaults_equality_hashing_replace_and_immutability() -> None:
    tag = EntityTag("abc")
    assert (tag.opaque, tag.weak) == ("abc", False)
    assert tag == EntityTag(opaque="abc", weak=False)
    assert hash(tag) == hash(EntityTag("abc"))
    assert EntityTag("abc", True) != tag
    state = ResourceState(True, tag, last_modified=7)
    assert dataclasses.replace(state, exists=False) == ResourceState(False, tag, 7)
    decision = Decision(Outcome.PROCEED, Reason.NO_PRECONDITIONS, "GET")
    assert (decision.header, decision.detail, decision.ignored, decision.unmet) == (
        None,
        "",
        (),
        None,
    )
    assert repr(decision).startswith("Decision(outcome=")
    snapshot = Snapshot(state=state, etag='"abc"')
    assert (snapshot.instance, snapshot.last_modified, snapshot.creation) == (None, None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.etag = '"other"'  # type: ignore[misc]
    with pytest.raises(TypeError):
        EntityTag()  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        tag.opaque = "other"  # type: ignore[misc]


def test_quick_init_refuses_classes_it_cannot_make_faithfully() -> None:
    @dataclasses.dataclass
    class Mutable:
        value: int

    @dataclasses.dataclass(frozen=True)
    class WithFactory:
        values: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True)
    class WithPostInit:
        value: int

        def __post_init__(self) -> None:
            pass

    for cls in (Mutable, WithFactory, WithPostInit, int):
        with pytest.raises(TypeError):
            quick_init(cls)
