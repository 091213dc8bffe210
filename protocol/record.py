"""Records: validation and conversion of a whole dataclass, field by field.

A :class:`RecordSpec` pairs every field of a frozen dataclass with a
:class:`~protocol.schema.Kind`; frames, their nested values and domain events are all
records. :class:`Nested` puts a record inside another one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter
from typing import Any, Final

from protocol.errors import ErrorCode
from protocol.schema import Invalid, Kind

__all__ = ["Nested", "RecordSpec"]

_MISSING: Final = object()


class RecordSpec:
    """The kinds of every field of one dataclass, in field (= wire key) order.

    Args:
        cls: The frozen dataclass.
        kinds: A kind for every field of ``cls``; a field with a default is optional
            on the wire and takes the default when missing.
        type_key: Written as ``"type"`` first by :meth:`dump` when not None.
        omit_none: Fields left out of the wire map when their value is None.
    """

    __slots__ = ("cls", "fields", "getter", "omit_none", "type_key")

    def __init__(
        self,
        cls: type[Any],
        kinds: Mapping[str, Kind],
        *,
        type_key: str | None = None,
        omit_none: Iterable[str] = (),
    ) -> None:
        names = [f.name for f in dataclasses.fields(cls)]
        if set(names) != set(kinds):
            raise TypeError(f"{cls.__name__}: kinds {sorted(kinds)} != fields {sorted(names)}")
        self.cls = cls
        self.type_key = type_key
        self.omit_none = frozenset(omit_none)
        self.fields: tuple[tuple[str, Kind, Any], ...] = tuple(
            (f.name, kinds[f.name], _MISSING if f.default is dataclasses.MISSING else f.default)
            for f in dataclasses.fields(cls)
        )
        getter = attrgetter(*names)
        self.getter: Callable[[Any], tuple[Any, ...]] = (
            getter if len(names) > 1 else lambda obj: (getter(obj),)
        )

    def load(self, wire: dict[str, Any]) -> Any:
        """Build the dataclass from a decoded map; unknown keys are ignored."""
        values = []
        for name, kind, default in self.fields:
            value = wire.get(name, _MISSING)
            if value is _MISSING:
                if default is _MISSING:
                    raise Invalid(ErrorCode.MISSING_FIELD, "is required").at(name)
                values.append(default)
                continue
            try:
                values.append(kind.load(value))
            except Invalid as exc:
                raise exc.at(name) from None
        return self.cls(*values)

    def dump(self, obj: Any) -> dict[str, Any]:
        """Validate ``obj`` and return its wire map (``type`` first when set)."""
        out: dict[str, Any] = {} if self.type_key is None else {"type": self.type_key}
        omit_none = self.omit_none
        for (name, kind, _default), value in zip(self.fields, self.getter(obj), strict=True):
            if value is None and name in omit_none:
                continue
            try:
                out[name] = kind.dump(value)
            except Invalid as exc:
                raise exc.at(name) from None
        return out


class Nested(Kind):
    """A map on the wire, a dataclass described by ``spec`` in Python."""

    __slots__ = ("spec",)

    def __init__(self, spec: RecordSpec) -> None:
        self.spec = spec

    def load(self, value: Any) -> Any:
        if type(value) is not dict:
            raise Invalid(ErrorCode.BAD_FIELD, "must be a map")
        return self.spec.load(value)

    def dump(self, value: Any) -> Any:
        if type(value) is not self.spec.cls:
            raise Invalid(ErrorCode.BAD_FIELD, f"must be a {self.spec.cls.__name__}")
        return self.spec.dump(value)
