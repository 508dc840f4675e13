"""Text output handed out in chunks of about :data:`CHUNK_BYTES` of UTF-8."""

from __future__ import annotations

import io

__all__ = ["CHUNK_BYTES", "TextBuffer"]

CHUNK_BYTES = 64 * 1024


class TextBuffer:
    """Accumulates text in :attr:`buffer`; :meth:`take` empties it as UTF-8 bytes."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def full(self) -> bool:
        """At least :data:`CHUNK_BYTES` characters written since the last take."""
        return self.buffer.tell() >= CHUNK_BYTES

    def take(self) -> bytes:
        data = self.buffer.getvalue().encode("utf-8")
        self.buffer.seek(0)
        self.buffer.truncate()
        return data
