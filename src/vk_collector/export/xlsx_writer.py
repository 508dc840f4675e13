"""XLSX: one row per comment, columns :data:`~vk_collector.export.rows.EXPORT_COLUMNS`.

Written by xlsxwriter in ``constant_memory`` mode, from a worker thread, to a
temporary file that is then streamed, so memory stays flat.  Cells never become
formulas or links (strings are written as strings); Excel cuts text at 32,767
characters and a sheet at 1,048,576 rows (further rows continue on a new sheet).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path

import xlsxwriter

from vk_collector.export.buffer import CHUNK_BYTES
from vk_collector.export.rows import EXPORT_COLUMNS, comment_rows
from vk_collector.storage import CommentRow, Database

__all__ = ["write_xlsx", "xlsx_chunks"]

_XLSX_MAX_ROWS = 1_048_576
_XLSX_BATCH_ROWS = 1000
_XLSX_WIDTHS = {"author_name": 24, "group_name": 24, "post_text": 50, "text": 60, "post_url": 36}


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

    def write(self, rows: Sequence[CommentRow]) -> None:
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


async def write_xlsx(db: Database, task_id: int, path: Path) -> None:
    """Write the task's workbook to ``path`` (the task is not checked: an unknown
    task gives a sheet with the header only)."""
    writer = _XlsxWriter(path)
    batch: list[CommentRow] = []
    try:
        async for row in comment_rows(db, task_id):
            batch.append(row)
            if len(batch) >= _XLSX_BATCH_ROWS:
                await asyncio.to_thread(writer.write, batch)
                batch = []
        await asyncio.to_thread(writer.write, batch)
    finally:
        await asyncio.to_thread(writer.close)


async def xlsx_chunks(db: Database, task_id: int, raw: bool) -> AsyncGenerator[bytes, None]:
    directory = tempfile.mkdtemp(prefix="vkc-export-")
    path = Path(directory) / "export.xlsx"
    try:
        await write_xlsx(db, task_id, path)
        with path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
                yield chunk
    finally:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
            os.rmdir(directory)
