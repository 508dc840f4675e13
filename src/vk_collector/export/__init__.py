"""Exports of one task's results: JSON Lines, CSV, XLSX and one JSON document.

Formats are not storage: this package turns the flat rows that storage hands out
(:class:`~vk_collector.storage.CommentRow`, :class:`~vk_collector.storage.PostRow`,
read through ``uow.export_rows``) into bytes.  It imports only the storage package's
API and base modules; the API and the CLI import it (docs/ARCHITECTURE.md, "Layers").

::

    async for chunk in export_chunks(db, task_id, "csv"):
        ...
    await write_export(db, task_id, ExportFormat.XLSX, "out.xlsx")

Tabular formats have one row per comment, columns :data:`EXPORT_COLUMNS` in that
order (``parent_comment_id`` empty for a top-level comment), dates as ISO-8601 UTC.
Memory stays flat whatever the task's size: rows are read in pages, each in its own
short read-only unit of work (:mod:`.rows`), text is flushed every
:data:`CHUNK_BYTES`, and XLSX goes through a temporary file.  CSV neutralises
formulas unless ``raw`` (:mod:`.csv_writer`); XLSX never writes formulas or links
(:mod:`.xlsx_writer`).

Every entry point raises ``NotFoundError`` for an unknown task and
``ValidationError`` (``INVALID_INPUT``) for an unknown format, before the first byte.
"""

from vk_collector.export.buffer import CHUNK_BYTES
from vk_collector.export.csv_writer import neutralise_formula
from vk_collector.export.formats import ExportFormat
from vk_collector.export.json_writers import COMMENT_FIELDS
from vk_collector.export.rows import EXPORT_COLUMNS, export_rows
from vk_collector.export.stream import export_chunks, write_export

__all__ = [
    "CHUNK_BYTES",
    "COMMENT_FIELDS",
    "EXPORT_COLUMNS",
    "ExportFormat",
    "export_chunks",
    "export_rows",
    "neutralise_formula",
    "write_export",
]
