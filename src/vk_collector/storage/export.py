"""Streaming exports of one task's results: JSON Lines, CSV, XLSX and one JSON document.

Tabular formats have one row per comment, columns :data:`EXPORT_COLUMNS` in that
order (``parent_comment_id`` empty for a top-level comment), dates as ISO-8601 UTC.
The JSON document is ``{taskId, exportedAt, posts: [{...post, comments: [...]}]}``,
streamed post by post; it includes posts without comments.

Memory stays flat whatever the task's size: rows are read in chunks (see
``_export_rows``), text is flushed every :data:`CHUNK_BYTES`, and XLSX is written by
xlsxwriter in ``constant_memory`` mode to a temporary file that is then streamed.
CSV starts with a UTF-8 byte order mark so that Excel reads Cyrillic correctly, and
text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a
leading ``'`` (OWASP's CSV injection advice) so that spreadsheet programs show them
instead of running them as formulas; ``raw=True`` writes them verbatim for machine
consumers.  Numbers (negative owner ids) are never prefixed.
XLSX cells never become formulas or links (strings are written as strings); Excel
cuts text at 32,767 characters and a sheet at 1,048,576 rows (further rows continue
on a new sheet).

Every entry point raises ``ValidationError`` (``NOT_FOUND``) for an unknown task,
before the first byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import operator
import os
import tempfile
from collections.abc import AsyncGenerator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

import xlsxwriter

from vk_collector.clock import utc_now_iso
from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.storage._export_rows import (
    EXPORT_COLUMNS,
    CommentTuple,
    comment_rows,
    comment_tuples,
    ensure_task,
    post_rows,
)
from vk_collector.storage.engine import Database

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

CHUNK_BYTES = 64 * 1024
COMMENT_FIELDS: tuple[str, ...] = (
    "comment_id",
    "parent_comment_id",
    "reply_to_comment",
    "from_id",
    "author_id",
    "author_name",
    "date",
    "text",
    "likes",
    "deleted",
)
_OWNER, _POST = EXPORT_COLUMNS.index("owner_id"), EXPORT_COLUMNS.index("post_id")
_DELETED = EXPORT_COLUMNS.index("deleted")
_COMMENT_VALUES = operator.itemgetter(*(EXPORT_COLUMNS.index(f) for f in COMMENT_FIELDS))
_XLSX_MAX_ROWS = 1_048_576
_XLSX_BATCH_ROWS = 1000
_XLSX_WIDTHS = {"author_name": 24, "group_name": 24, "post_text": 50, "text": 60, "post_url": 36}


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"

    @property
    def media_type(self) -> str:
        return {
            ExportFormat.JSONL: "application/x-ndjson",
            ExportFormat.CSV: "text/csv; charset=utf-8",
            ExportFormat.XLSX: (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            ),
            ExportFormat.JSON: "application/json",
        }[self]

    def filename(self, task_id: int) -> str:
        return f"task-{task_id}-comments.{self.value}"

    @classmethod
    def parse(cls, value: ExportFormat | str) -> ExportFormat:
        """Raises ``ValidationError`` (``INVALID_INPUT``) for an unknown format."""
        try:
            return cls(str(value).lower())
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise ValidationError(
                f"unknown export format {value!r}; use one of {allowed}", ErrorCode.INVALID_INPUT
            ) from None


async def export_rows(db: Database, task_id: int) -> AsyncGenerator[dict[str, Any], None]:
    """One dict per comment of the task (keys :data:`EXPORT_COLUMNS`), ordered by
    ``(owner_id, post_id, comment_id)``."""
    await ensure_task(db, task_id)
    async for row in comment_rows(db, task_id):
        yield row


class _TextBuffer:
    """Accumulates text and hands it out as UTF-8 chunks of about CHUNK_BYTES."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def full(self) -> bool:
        return self.buffer.tell() >= CHUNK_BYTES

    def take(self) -> bytes:
        data = self.buffer.getvalue().encode("utf-8")
        self.buffer.seek(0)
        self.buffer.truncate()
        return data


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, with a leading ``'``;
    anything else unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


async def _csv_chunks(db: Database, task_id: int, raw: bool) -> AsyncGenerator[bytes, None]:
    out = _TextBuffer()
    writer = csv.writer(out.buffer)  # writes None as an empty field
    out.buffer.write("\ufeff")
    writer.writerow(EXPORT_COLUMNS)
    async for values in comment_tuples(db, task_id):
        deleted = "true" if values[_DELETED] else "false"
        row = (*values[:_DELETED], deleted, *values[_DELETED + 1 :])
        writer.writerow(row if raw else map(neutralise_formula, row))
        if out.full():
            yield out.take()
    yield out.take()


async def _jsonl_chunks(db: Database, task_id: int, raw: bool) -> AsyncGenerator[bytes, None]:
    out = _TextBuffer()
    async for row in comment_rows(db, task_id):
        out.buffer.write(json.dumps(row, ensure_ascii=False))
        out.buffer.write("\n")
        if out.full():
            yield out.take()
    yield out.take()


async def _json_chunks(db: Database, task_id: int, raw: bool) -> AsyncGenerator[bytes, None]:
    out = _TextBuffer()
    exported_at = utc_now_iso("auto")
    out.buffer.write(f'{{"taskId": {task_id}, "exportedAt": "{exported_at}", "posts": [')
    async with (
        contextlib.aclosing(comment_tuples(db, task_id)) as comments,
        contextlib.aclosing(post_rows(db, task_id)) as posts,
    ):
        pending = await anext(comments, None)
        first_post = True
        async for post in posts:
            key = (post["owner_id"], post["post_id"])
            # Comments whose post appeared after the posts query ran are skipped.
            while pending is not None and (pending[_OWNER], pending[_POST]) < key:
                pending = await anext(comments, None)
            out.buffer.write("\n" if first_post else ",\n")
            first_post = False
            out.buffer.write(json.dumps(post, ensure_ascii=False)[:-1] + ', "comments": [')
            first_comment = True
            while pending is not None and (pending[_OWNER], pending[_POST]) == key:
                comment = dict(zip(COMMENT_FIELDS, _COMMENT_VALUES(pending), strict=True))
                out.buffer.write(
                    ("" if first_comment else ", ") + json.dumps(comment, ensure_ascii=False)
                )
                first_comment = False
                pending = await anext(comments, None)
                if out.full():
                    yield out.take()
            out.buffer.write("]}")
            if out.full():
                yield out.take()
    out.buffer.write("\n]}\n")
    yield out.take()


class _XlsxWriter:
    """xlsxwriter in constant_memory mode; called from a worker thread, one at a time."""

    def __init__(self, path: Path) -> None:
        self.workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "tmpdir": str(path.parent),
            },
        )
        self.header = self.workbook.add_format({"bold": True})
        self.sheets = 0
        self.row = _XLSX_MAX_ROWS  # forces the first sheet

    def _new_sheet(self) -> None:
        self.sheets += 1
        name = "comments" if self.sheets == 1 else f"comments {self.sheets}"
        self.sheet = self.workbook.add_worksheet(name)
        for index, column in enumerate(EXPORT_COLUMNS):
            self.sheet.set_column(index, index, _XLSX_WIDTHS.get(column, 14))
            self.sheet.write_string(0, index, column, self.header)
        self.sheet.freeze_panes(1, 0)
        self.row = 1

    def write(self, rows: Sequence[CommentTuple]) -> None:
        for row in rows:
            if self.row >= _XLSX_MAX_ROWS:
                self._new_sheet()
            for index, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, bool):
                    self.sheet.write_boolean(self.row, index, value)
                elif isinstance(value, int):
                    self.sheet.write_number(self.row, index, value)
                else:
                    self.sheet.write_string(self.row, index, str(value))
            self.row += 1

    def close(self) -> None:
        if self.sheets == 0:
            self._new_sheet()
        self.workbook.close()


async def _write_xlsx(db: Database, task_id: int, path: Path) -> None:
    writer = _XlsxWriter(path)
    batch: list[CommentTuple] = []
    try:
        async for row in comment_tuples(db, task_id):
            batch.append(row)
            if len(batch) >= _XLSX_BATCH_ROWS:
                await asyncio.to_thread(writer.write, batch)
                batch = []
        await asyncio.to_thread(writer.write, batch)
    finally:
        await asyncio.to_thread(writer.close)


async def _xlsx_chunks(db: Database, task_id: int, raw: bool) -> AsyncGenerator[bytes, None]:
    directory = tempfile.mkdtemp(prefix="vkc-export-")
    path = Path(directory) / "export.xlsx"
    try:
        await _write_xlsx(db, task_id, path)
        with path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
                yield chunk
    finally:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
            os.rmdir(directory)


_WRITERS = {
    ExportFormat.CSV: _csv_chunks,
    ExportFormat.JSONL: _jsonl_chunks,
    ExportFormat.JSON: _json_chunks,
    ExportFormat.XLSX: _xlsx_chunks,
}


async def export_chunks(
    db: Database, task_id: int, fmt: ExportFormat | str, *, raw: bool = False
) -> AsyncGenerator[bytes, None]:
    """The export as byte chunks, for a ``StreamingResponse``.  An unknown format or
    task raises ``ValidationError`` on first iteration (check both beforehand to
    answer 4xx before the headers go out).  ``raw``: CSV cells verbatim, formulas
    included (other formats are never changed)."""
    chunks = _WRITERS[ExportFormat.parse(fmt)]
    await ensure_task(db, task_id)
    async with contextlib.aclosing(chunks(db, task_id, raw)) as stream:
        async for chunk in stream:
            if chunk:
                yield chunk


async def write_export(
    db: Database,
    task_id: int,
    fmt: ExportFormat | str,
    out: BinaryIO | str | os.PathLike[str],
    *,
    raw: bool = False,
) -> int:
    """Write the export to a binary file object or a path; returns the bytes written.
    A path is written through a ``.part`` file renamed at the end, so it never holds a
    partial export."""
    fmt = ExportFormat.parse(fmt)
    if not isinstance(out, str | os.PathLike):
        return await _copy(db, task_id, fmt, out, raw)
    target = Path(out)
    partial = target.with_name(target.name + ".part")
    try:
        if fmt is ExportFormat.XLSX:
            await ensure_task(db, task_id)
            await _write_xlsx(db, task_id, partial)
            written = partial.stat().st_size
        else:
            with partial.open("wb") as file:
                written = await _copy(db, task_id, fmt, file, raw)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return written


async def _copy(db: Database, task_id: int, fmt: ExportFormat, out: BinaryIO, raw: bool) -> int:
    written = 0
    async with contextlib.aclosing(export_chunks(db, task_id, fmt, raw=raw)) as stream:
        async for chunk in stream:
            out.write(chunk)
            written += len(chunk)
    return written
