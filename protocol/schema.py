"""Field validators shared by frames and events: wire values in, dataclass values out.

A :class:`Kind` checks one field in both directions: ``load`` takes a value decoded from
the wire (lists, maps, exact ``str``/``int``) and returns the dataclass value (tuples,
nested dataclasses); ``dump`` does the reverse for a value we are about to send. Both
raise :class:`Invalid`, which the callers turn into a Remote- or LocalProtocolError, so
one table of rules serves decoding and encoding alike. A :class:`RecordSpec` applies the
kinds of all fields of one dataclass
(:mod:`protocol.record`).

Error handling: validators raise only :class:`Invalid`; the path of the offending field
("frames[2].author.kind") is collected while the exception travels outwards, so the
success path pays nothing for good error messages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from protocol.errors import ErrorCode

__all__ = [
    "Bool",
    "Choice",
    "Int",
    "IntMap",
    "Invalid",
    "JsonMap",
    "Kind",
    "ListOf",
    "Number",
    "Optional",
    "Str",
    "Utf8Bytes",
    "check_json",
]

#: Free-form JSON (``data``, ``state``, payloads) may nest this deep; deeper is abuse.
MAX_JSON_DEPTH: Final = 32
#: Signed 64-bit range: what SQLite and msgpack can both carry without surprises.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


class Invalid(Exception):
    """A value broke a rule; ``path`` grows as the exception leaves nested values."""

    def __init__(self, code: ErrorCode, problem: str) -> None:
        super().__init__(code, problem)
        self.code = code
        self.problem = problem
        self.path: list[str] = []

    def at(self, part: str) -> Invalid:
        """Prefix the path with a field name or an index ("[3]") and return self."""
        self.path.insert(0, part)
        return self

    @property
    def message(self) -> str:
        """The path and the problem, e.g. "send.body must be a string"."""
        where = "".join(p if p.startswith("[") else "." + p for p in self.path)
        return f"{where.lstrip('.')} {self.problem}" if where else self.problem


def _utf8_len(value: str) -> int:
    """UTF-8 length of ``value``; lone surrogates (possible via JSON escapes) are invalid."""
    if value.isascii():  # O(1) in CPython: a flag on the string
        return len(value)
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise Invalid(ErrorCode.BAD_FIELD, "must be valid Unicode text") from None


class Kind:
    """One field's rule. Subclasses implement :meth:`load` and :meth:`dump`."""

    __slots__ = ()

    def load(self, value: Any) -> Any:
        """Validate a decoded wire value and return the dataclass value."""
        raise NotImplementedError

    def dump(self, value: Any) -> Any:
        """Validate a dataclass value and return the wire value."""
        raise NotImplementedError


class Str(Kind):
    """A string of ``min_chars``..``max_chars`` code points."""

    __slots__ = ("max_chars", "min_chars")

    def __init__(self, min_chars: int, max_chars: int) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars

    def load(self, value: Any) -> Any:
        if type(value) is not str:
            raise Invalid(ErrorCode.BAD_FIELD, "must be a string")
        return self._check(value)

    def dump(self, value: Any) -> Any:
        if type(value) is not str:
            if not isinstance(value, str):
                raise Invalid(ErrorCode.BAD_FIELD, "must be a string")
            value = str.__str__(value)  # a str Enum member -> its plain value
        return self._check(value)

    def _check(self, value: str) -> str:
        n = len(value)
        if n < self.min_chars or n > self.max_chars:
            raise Invalid(
                ErrorCode.BAD_FIELD,
                f"must be {self.min_chars}..{self.max_chars} characters long (got {n})",
            )
        if not value.isascii():
            _utf8_len(value)
        return value


class Utf8Bytes(Str):
    """A string limited in UTF-8 bytes (message bodies); too long is ``body_too_large``."""

    __slots__ = ()

    def __init__(self, max_bytes: int) -> None:
        super().__init__(0, max_bytes)

    def _check(self, value: str) -> str:
        # A code point is at least one byte, so too many characters is too many bytes.
        n = len(value) if len(value) > self.max_chars else _utf8_len(value)
        if n > self.max_chars:
            raise Invalid(
                ErrorCode.BODY_TOO_LARGE,
                f"must be at most {self.max_chars} bytes of UTF-8 (got {n} or more)",
            )
        return value


class Int(Kind):
    """An integer (never a bool) in ``minimum``..``maximum``."""

    __slots__ = ("maximum", "minimum")

    def __init__(self, minimum: int = 0, maximum: int = INT64_MAX) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def load(self, value: Any) -> Any:
        if type(value) is not int:
            raise Invalid(ErrorCode.BAD_FIELD, "must be an integer")
        return self._check(value)

    def dump(self, value: Any) -> Any:
        if type(value) is not int:
            if not isinstance(value, int) or isinstance(value, bool):
                raise Invalid(ErrorCode.BAD_FIELD, "must be an integer")
            value = int(value)
        return self._check(value)

    def _check(self, value: int) -> int:
        if value < self.minimum or value > self.maximum:
            raise Invalid(ErrorCode.BAD_FIELD, f"must be between {self.minimum} and {self.maximum}")
        return value


class Number(Kind):
    """A finite number >= 0, carried as float (ints are accepted and converted)."""

    __slots__ = ()

    def load(self, value: Any) -> Any:
        if type(value) is not float and type(value) is not int:
            raise Invalid(ErrorCode.BAD_FIELD, "must be a number")
        return self._check(value)

    def dump(self, value: Any) -> Any:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Invalid(ErrorCode.BAD_FIELD, "must be a number")
        return self._check(value)

    def _check(self, value: float) -> float:
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise Invalid(ErrorCode.BAD_FIELD, "must be a finite number >= 0")
        return value


class Bool(Kind):
    """true or false (never 0/1)."""

    __slots__ = ()

    def load(self, value: Any) -> Any:
        if type(value) is not bool:
            raise Invalid(ErrorCode.BAD_FIELD, "must be a boolean")
        return value

    dump = load


class Choice(Kind):
    """One string out of a fixed set."""

    __slots__ = ("allowed", "problem")

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = frozenset(allowed)
        self.problem = "must be one of " + ", ".join(repr(a) for a in sorted(self.allowed))

    def load(self, value: Any) -> Any:
        if type(value) is not str or value not in self.allowed:
            raise Invalid(ErrorCode.BAD_FIELD, self.problem)
        return value

    def dump(self, value: Any) -> Any:
        if not isinstance(value, str) or value not in self.allowed:
            raise Invalid(ErrorCode.BAD_FIELD, self.problem)
        return str.__str__(value)


class Optional(Kind):
    """``inner`` or None (null on the wire)."""

    __slots__ = ("inner",)

    def __init__(self, inner: Kind) -> None:
        self.inner = inner

    def load(self, value: Any) -> Any:
        return None if value is None else self.inner.load(value)

    def dump(self, value: Any) -> Any:
        return None if value is None else self.inner.dump(value)


class ListOf(Kind):
    """A list on the wire, a tuple in the dataclass, at most ``max_items`` long."""

    __slots__ = ("item", "max_items", "too_many")

    def __init__(
        self, item: Kind, max_items: int, too_many: ErrorCode = ErrorCode.BAD_FIELD
    ) -> None:
        self.item = item
        self.max_items = max_items
        self.too_many = too_many

    def _check_len(self, value: list[Any] | tuple[Any, ...]) -> None:
        if len(value) > self.max_items:
            raise Invalid(self.too_many, f"must have at most {self.max_items} items")

    def load(self, value: Any) -> Any:
        if type(value) is not list:
            raise Invalid(ErrorCode.BAD_FIELD, "must be a list")
        self._check_len(value)
        return tuple(self._each(self.item.load, value))

    def dump(self, value: Any) -> Any:
        if not isinstance(value, (tuple, list)):
            raise Invalid(ErrorCode.BAD_FIELD, "must be a tuple or list")
        self._check_len(value)
        return self._each(self.item.dump, value)

    @staticmethod
    def _each(convert: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        out = []
        for i, item in enumerate(items):
            try:
                out.append(convert(item))
            except Invalid as exc:
                raise exc.at(f"[{i}]") from None
        return out


def check_json(value: Any, depth: int = 0) -> None:
    """Raise :class:`Invalid` unless ``value`` survives both JSON and msgpack unchanged.

    Allowed: None, bool, 64-bit int, finite float, str, list/tuple and dict with str keys,
    nested at most :data:`MAX_JSON_DEPTH` deep.
    """
    t = type(value)
    if value is None or t is bool:
        return
    if t is str:
        _utf8_len(value)
    elif t is int:
        if value < INT64_MIN or value > INT64_MAX:
            raise Invalid(ErrorCode.BAD_FIELD, "contains an integer outside 64 bits")
    elif t is float:
        if not math.isfinite(value):
            raise Invalid(ErrorCode.BAD_FIELD, "contains a number that is not finite")
    elif t is list or t is tuple or t is dict:
        if depth >= MAX_JSON_DEPTH:
            raise Invalid(ErrorCode.BAD_FIELD, f"nests deeper than {MAX_JSON_DEPTH} levels")
        if t is dict:
            for key, item in value.items():
                if type(key) is not str:
                    raise Invalid(ErrorCode.BAD_FIELD, "has a map key that is not a string")
                _utf8_len(key)
                check_json(item, depth + 1)
        else:
            for item in value:
                check_json(item, depth + 1)
    else:
        raise Invalid(ErrorCode.BAD_FIELD, f"contains a {t.__name__}, which is not JSON")


class JsonMap(Kind):
    """A map of JSON values (``data``, ``state``, payloads); passed through unchanged."""

    __slots__ = ()

    def load(self, value: Any) -> Any:
        if type(value) is not dict:
            raise Invalid(ErrorCode.BAD_FIELD, "must be a map")
        check_json(value)
        return value

    def dump(self, value: Any) -> Any:
        if type(value) is not dict:
            if not isinstance(value, Mapping):
                raise Invalid(ErrorCode.BAD_FIELD, "must be a map")
            value = dict(value)
        check_json(value)
        return value


class IntMap(Kind):
    """A map from strings to integers (``welcome.limits``)."""

    __slots__ = ("value_kind",)

    def __init__(self) -> None:
        self.value_kind = Int(INT64_MIN, INT64_MAX)

    def load(self, value: Any) -> Any:
        if type(value) is not dict:
            raise Invalid(ErrorCode.BAD_FIELD, "must be a map")
        return self._check(value, self.value_kind.load)

    def dump(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise Invalid(ErrorCode.BAD_FIELD, "must be a map")
        return self._check(value, self.value_kind.dump)

    @staticmethod
    def _check(value: Mapping[Any, Any], convert: Callable[[Any], Any]) -> dict[str, int]:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise Invalid(ErrorCode.BAD_FIELD, "has a key that is not a string")
            _utf8_len(key)
            try:
                out[key] = convert(item)
            except Invalid as exc:
                raise exc.at(key) from None
        return out
