"""The entry points: an export as a stream of byte chunks, or written to a file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import BinaryIO

from vk_collector.export.csv_writer import csv_chunks
from vk_collector.export.formats import ExportFormat
from vk_collector.export.json_writers import json_chunks, jsonl_chunks
from vk_collector.export.rows import ensure_task
from vk_collector.export.xlsx_writer import write_xlsx, xlsx_chunks
from vk_collector.storage import Database

__all__ = ["export_chunks", "write_export"]

_Writer = Callable[[Database, int, bool], AsyncGenerator[bytes, None]]
_WRITERS: dict[ExportFormat, _Writer] = {
    ExportFormat.CSV: csv_chunks,
    ExportFormat.JSONL: jsonl_chunks,
    ExportFormat.JSON: json_chunks,
    ExportFormat.XLSX: xlsx_chunks,
}


async def export_chunks(
    db: Database, task_id: int, fmt: ExportFormat | str, *, raw: bool = False
) -> AsyncGenerator[bytes, None]:
    """The export as non-empty byte chunks, for a ``StreamingResponse``.  An unknown
    format (``ValidationError``) or task (``NotFoundError``) raises on first
    iteration: check both beforehand to answer 4xx before the headers go out.
    ``raw``: CSV cells verbatim, formulas included (other formats are never changed)."""
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
    partial export (the ``.part`` file is removed on failure)."""
    fmt = ExportFormat.parse(fmt)
    if not isinstance(out, str | os.PathLike):
        return await _copy(db, task_id, fmt, out, raw)
    target = Path(out)
    partial = target.with_name(target.name + ".part")
    try:
        if fmt is ExportFormat.XLSX:
            await ensure_task(db, task_id)
            await write_xlsx(db, task_id, partial)
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
