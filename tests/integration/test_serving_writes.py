"""The served connection after the cheaper deadline timer and write coalescing: a
streaming response's head (held back, being small) leaves while the app still waits,
answers of every size arrive whole and in order on one keep-alive connection, and the
header deadline starts again when a response ends."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from starlette.types import Receive, Scope, Send

from vk_collector.serving import deadline_protocol
from vk_emulator.serving import ThreadedServer

_RELEASE = threading.Event()
_BIG = b"0123456789abcdef" * 8192  # 128 KiB, well past the held-back size


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        released = await asyncio.to_thread(_RELEASE.wait, 10)
        body = b"last" if released else b"never released"
        await send({"type": "http.response.body", "body": body})
        return
    body = _BIG if path == "/big" else b"small"
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    running = ThreadedServer(_app, lifespan="off", http=deadline_protocol(0.5, 0.5))
    running.start()
    yield running
    running.stop()


def _connect(server: ThreadedServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _read_until(connection: socket.socket, answer: bytes, marker: bytes) -> bytes:
    while marker not in answer:
        data = connection.recv(65536)
        assert data, answer[-200:]
        answer += data
    return answer


def _read_sized(connection: socket.socket) -> tuple[bytes, bytes]:
    """One content-length response: (its body, bytes read past it)."""
    answer = _read_until(connection, b"", b"\r\n\r\n")
    head, rest = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    size = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < size:
        data = connection.recv(65536)
        assert data, len(rest)
        rest += data
    return rest[:size], rest[size:]


def test_a_streaming_head_leaves_while_the_app_waits(
    server: ThreadedServer,
) -> None:
    _RELEASE.clear()
    with _connect(server) as connection:
        connection.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_until(connection, b"", b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert b"last" not in answer  # the app is still waiting for the release
        _RELEASE.set()
        answer = _read_until(connection, answer, b"\r\n0\r\n\r\n")
    assert b"last" in answer


def test_answers_of_every_size_arrive_whole_and_in_order_on_one_connection(
    server: ThreadedServer,
) -> None:
    with _connect(server) as connection:
        for path in ("/small", "/big", "/small", "/big", "/big", "/small"):
            connection.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            body, extra = _read_sized(connection)
            assert body == (_BIG if path == "/big" else b"small"), path
            assert extra == b"", path


def test_the_header_deadline_starts_again_when_a_response_ends(
    server: ThreadedServer,
) -> None:
    with _connect(server) as connection:
        for _ in range(3):  # answered requests never run into the deadline
            connection.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_sized(connection) == (b"small", b"")
            time.sleep(0.3)  # a client pausing between requests, under the deadline
        connection.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\n")  # headers never end
        started = time.monotonic()
        assert connection.recv(1024) == b""  # closed by the server, not our timeout
        waited = time.monotonic() - started
    assert waited < 2.0, waited
