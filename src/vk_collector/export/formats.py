"""The export formats: their names, media types and download file names."""

from __future__ import annotations

from enum import StrEnum

from vk_collector.errors import ErrorCode, ValidationError

__all__ = ["ExportFormat"]


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
