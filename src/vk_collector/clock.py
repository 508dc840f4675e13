"""Times on the wire: UTC in ISO 8601 with a ``Z`` (``2026-01-31T12:00:00.000Z``), as the
original system wrote them (JavaScript's ``Date.toISOString()``)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_z", "utc_now_iso"]


def iso_z(moment: datetime, timespec: str = "milliseconds") -> str:
    """``moment`` (timezone-aware) in UTC with a ``Z``; ``timespec`` as ``isoformat``'s."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_now_iso(timespec: str = "milliseconds") -> str:
    """Now, as :func:`iso_z` writes it (milliseconds by default)."""
    return iso_z(datetime.now(UTC), timespec)
