"""``Frozen``: a base for small immutable values, compared, hashed and shown by their
fields as a frozen dataclass is (``Ordered``: and ordered by them).

``@dataclass(frozen=True)`` writes and compiles each method of each class as the module
is imported (an ``exec`` per method): for the values every ``jafhost call`` imports
(permissions, deny rules, the operator's ceiling, network rules, core metadata) that
was more time than the lane spends deciding. A subclass names its fields in
``_fields`` (and in ``__slots__`` when it keeps no ``__dict__``) and sets them in its
``__init__`` with ``object.__setattr__``, taking them in that order (copies and pickles
are made through it); the methods here read them, written once.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Frozen:
    """Fields set once in ``__init__``; equal when of the same class with equal fields
    (the tuple of them hashes them)."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _set(self, *values: Any) -> None:
        """Set the fields, in ``_fields`` order (what a subclass's ``__init__`` ends with)."""
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__qualname__}({shown})"

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        """Copied and pickled through ``__init__`` (fields in ``_fields`` order), as
        ``__setattr__`` refuses the attribute-by-attribute way."""
        return (self.__class__, self._values())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen value")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen value")


class Ordered(Frozen):
    """A ``Frozen`` value ordered by its fields (``order=True``)."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() < other._values()

    def __le__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() <= other._values()

    def __gt__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() > other._values()

    def __ge__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() >= other._values()
