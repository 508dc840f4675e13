"""Distinct community references in first-seen order, stored compactly.

An upload may name 100,000 communities (``VKC_MAX_UPLOAD_IDENTIFIERS``), most of
them numeric ids.  :class:`CompactRefs` keeps each numeric id as 8 bytes of an
``array('q')`` and each screen name as the string it arrived as; a
:class:`~vk_collector.vk.identifiers.GroupRef` is built only when one is read.  The
first line of each reference (for duplicate reports) is kept in a dict keyed by the id
or the name, which is also what removes duplicates: about 100 bytes per distinct
reference in all, against about 600 for a list of ``GroupRef`` plus a line record.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import overload

from vk_collector.vk.identifiers import GroupRef

__all__ = ["CompactRefs"]


class CompactRefs(Sequence[GroupRef]):
    """A sequence of distinct :class:`GroupRef` (by ``key``), in the order first added.

    Equal to any sequence holding the same refs in the same order (so tests compare
    it with a plain list).  Not thread-safe; filled by one parse, then only read.
    """

    __slots__ = ("_first_line", "_names", "_order")

    def __init__(self) -> None:
        # > 0: a community id; <= 0: -index into _names
        self._order = array("q")
        self._names: list[str] = []
        self._first_line: dict[int | str, int] = {}

    def add(self, ref: GroupRef, line: int) -> int:
        """Add ``ref`` seen on ``line`` unless already there; the line it was first
        seen on (``line`` itself when it is new)."""
        key: int | str = ref.group_id if ref.group_id is not None else str(ref.screen_name)
        first = self._first_line.setdefault(key, line)
        if first == line:
            if isinstance(key, int):
                self._order.append(key)
            else:
                self._order.append(-len(self._names))
                self._names.append(key)
        return first

    def texts(self) -> Iterator[str]:
        """Each ref as ``str(ref)`` (the id's digits or the screen name), without
        building the refs: what a job's ``groupIdentifiers`` carries."""
        names = self._names
        for value in self._order:
            yield str(value) if value > 0 else names[-value]

    def _ref(self, value: int) -> GroupRef:
        if value > 0:
            return GroupRef(group_id=value)
        return GroupRef(screen_name=self._names[-value])

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> GroupRef: ...

    @overload
    def __getitem__(self, index: slice) -> list[GroupRef]: ...

    def __getitem__(self, index: int | slice) -> GroupRef | list[GroupRef]:
        if isinstance(index, slice):
            return [self._ref(value) for value in self._order[index]]
        return self._ref(self._order[index])

    def __iter__(self) -> Iterator[GroupRef]:
        return (self._ref(value) for value in self._order)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(str(ref) for ref in self[:5])
        more = f", ... {len(self) - 5} more" if len(self) > 5 else ""
        return f"CompactRefs([{shown}{more}])"
