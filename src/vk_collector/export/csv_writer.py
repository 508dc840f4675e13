"""CSV: one row per comment, columns :data:`~vk_collector.export.rows.EXPORT_COLUMNS`.

Starts with a UTF-8 byte order mark so that Excel reads Cyrillic correctly.  Text
cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a leading
``'`` (OWASP's CSV injection advice) so that spreadsheet programs show them instead
of running them as formulas; ``raw=True`` writes them verbatim for machine consumers.
Numbers (negative owner ids) are never prefixed; None is an empty field; ``deleted``
is ``true`` or ``false``.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncGenerator

from vk_collector.export.buffer import TextBuffer
from vk_collector.export.rows import EXPORT_COLUMNS, comment_rows
from vk_collector.storage import Database

__all__ = ["csv_chunks", "neutralise_formula"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_DELETED = EXPORT_COLUMNS.index("deleted")


def neutralise_formula(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, with a leading ``'``;
    anything else unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


async def csv_chunks(db: Database, task_id: int, raw: bool) -> AsyncGenerator[bytes, None]:
    out = TextBuffer()
    writer = csv.writer(out.buffer)  # writes None as an empty field
    out.buffer.write("\ufeff")
    writer.writerow(EXPORT_COLUMNS)
    async for values in comment_rows(db, task_id):
        deleted = "true" if values[_DELETED] else "false"
        row = (*values[:_DELETED], deleted, *values[_DELETED + 1 :])
        writer.writerow(row if raw else map(neutralise_formula, row))
        if out.full():
            yield out.take()
    yield out.take()
