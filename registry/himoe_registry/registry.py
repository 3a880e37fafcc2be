"""The generic id-keyed :class:`Registry`."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from himoe_registry.duplicate_name import DuplicateName
from himoe_registry.expert_id import ExpertId
from himoe_registry.id_collision import IdCollision
from himoe_registry.ids import stable_id, validate_name

T = TypeVar("T")


# The method named ``list`` shadows the builtin inside the class body, hence
# ``builtins.list`` in the annotations below.
class Registry(Generic[T]):
    """Items registered under validated names, each with a stable id.

    Lookups by name and by id are single dict accesses; listing and
    iteration are in name order, so every process that registers the same
    names sees the same order whatever the plugin import order was.

    ``id_fn`` maps a name to its id (default :func:`stable_id`); ``kind``
    names what is registered (``"expert"``, ``"router"``...) in error
    messages.
    """

    def __init__(
        self,
        *,
        id_fn: Callable[[str], int] = stable_id,
        kind: str = "expert",
    ) -> None:
        self._id_fn = id_fn
        self._kind = kind
        # name -> (id, item, source)
        self._by_name: dict[str, tuple[ExpertId, T, str]] = {}
        # id -> name; the item itself is fetched through _by_name.
        self._by_id: dict[int, str] = {}
        # Sorted names and the (id, name, item) triples in that order, made
        # again lazily after an add: listings are frequent, registrations
        # happen once at start-up (10,000 of them must not sort 10,000 times).
        self._sorted: builtins.list[str] | None = []
        self._triples: tuple[tuple[ExpertId, str, T], ...] | None = ()

    @property
    def kind(self) -> str:
        """What this registry holds, as used in error messages."""
        return self._kind

    def add(self, name: str, item: T, *, source: str) -> ExpertId:
        """Register ``item`` under ``name`` and return its id.

        ``source`` says who registered it (e.g. ``"dist-a 1.0"``) so that
        conflicts can name both parties.  Raises ``InvalidName`` for a bad
        name, ``DuplicateName`` if the name is taken and ``IdCollision`` if
        a different name already has the same id; the registry is left
        unchanged in every case.
        """
        validate_name(name, kind=self._kind)
        existing = self._by_name.get(name)
        if existing is not None:
            raise DuplicateName(name, existing[2], source, self._kind)
        expert_id = ExpertId(self._id_fn(name))
        other = self._by_id.get(expert_id)
        if other is not None:
            raise IdCollision(expert_id, other, self._by_name[other][2], name, source, self._kind)
        self._by_name[name] = (expert_id, item, source)
        self._by_id[expert_id] = name
        self._sorted = None
        self._triples = None
        return expert_id

    def _names(self) -> builtins.list[str]:
        if self._sorted is None:
            self._sorted = sorted(self._by_name)
        return self._sorted

    def _items(self) -> tuple[tuple[ExpertId, str, T], ...]:
        triples = self._triples
        if triples is None:
            by_name = self._by_name
            triples = self._triples = tuple((by_name[name][0], name, by_name[name][1]) for name in self._names())
        return triples

    def names(self) -> builtins.list[str]:
        """The registered names, sorted (a new list each call, made from a kept one)."""
        return builtins.list(self._names())

    def list(self) -> builtins.list[tuple[ExpertId, str]]:
        """``(id, name)`` pairs, sorted by name."""
        return [(eid, name) for eid, name, _ in self._items()]

    def items(self) -> builtins.list[tuple[ExpertId, str, T]]:
        """``(id, name, item)`` triples, sorted by name (a copy of a kept list: no lookups)."""
        return builtins.list(self._items())

    def get_by_id(self, expert_id: int) -> T | None:
        """The item with id ``expert_id`` (an ``ExpertId`` or plain int), or None."""
        name = self._by_id.get(expert_id)
        return None if name is None else self._by_name[name][1]

    def get_by_name(self, name: str) -> T | None:
        """The item registered as ``name``, or None."""
        entry = self._by_name.get(name)
        return None if entry is None else entry[1]

    def id_of(self, name: str) -> ExpertId | None:
        """The id of ``name`` if it is registered, else None."""
        entry = self._by_name.get(name)
        return None if entry is None else entry[0]

    def name_of(self, expert_id: int) -> str | None:
        """The name registered under ``expert_id``, or None."""
        return self._by_id.get(expert_id)

    def source_of(self, name: str) -> str | None:
        """Who registered ``name``, or None if it is not registered."""
        entry = self._by_name.get(name)
        return None if entry is None else entry[2]

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, key: object) -> bool:
        """True for a registered name (``str``) or id (``ExpertId``/``int``)."""
        if isinstance(key, str):
            return key in self._by_name
        if isinstance(key, int) and not isinstance(key, bool):
            return key in self._by_id
        return False

    def __iter__(self) -> Iterator[T]:
        """The items, in name order."""
        return iter([item for _, _, item in self._items()])

    def __repr__(self) -> str:
        return f"Registry(kind={self._kind!r}, {len(self)} entries)"
