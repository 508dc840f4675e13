"""Connection limits of the served API: requests that never finish arriving are cut
off, finished ones are not, a body that pauses too long is cut while one that keeps
arriving is not, and an out-of-descriptors storm logs one line."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from starlette.types import Receive, Scope, Send

from vk_collector.serving import RateLimitedLog, deadline_protocol, hardened_options
from vk_collector.settings import ApiSettings
from vk_emulator.serving import ThreadedServer


async def _slow_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await asyncio.sleep(1.0)  # a response that takes longer than the request deadline
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    running = ThreadedServer(_slow_app, lifespan="off", http=deadline_protocol(0.5, 0.5))
    running.start()
    yield running
    running.stop()


def _connect(server: ThreadedServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def test_a_request_that_never_finishes_arriving_is_cut_off(server: ThreadedServer) -> None:
    for partial in (
        b"",
        b"GET / HTTP/1.1\r\nHost: x\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
    ):
        with _connect(server) as connection:
            connection.sendall(partial)
            started = time.monotonic()
            assert connection.recv(1024) == b""  # closed by the server, not our timeout
            assert time.monotonic() - started < 3


def test_a_request_that_arrived_may_take_longer_than_the_deadline(
    server: ThreadedServer,
) -> None:
    with _connect(server) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b"done" not in answer:
            data = connection.recv(1024)
            assert data, answer
            answer += data
        assert answer.startswith(b"HTTP/1.1 200")


async def _body_length_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body and answers with its length."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"got {size}".encode()})


@pytest.fixture
def body_server() -> Iterator[ThreadedServer]:
    """Headers within 0.5 s, at most 0.6 s between body chunks, set through settings."""
    api = ApiSettings(timeout_request_s=0.5, timeout_body_idle_s=0.6)
    options = hardened_options(
        keep_alive_s=api.timeout_keep_alive_s,
        request_timeout_s=api.timeout_request_s,
        body_idle_s=api.timeout_body_idle_s,
        limit_concurrency=api.limit_concurrency,
    )
    running = ThreadedServer(_body_length_app, lifespan="off", http=options["http"])
    running.start()
    yield running
    running.stop()


def _read_response(connection: socket.socket) -> bytes:
    """A chunked response up to its last chunk (or what came before the close)."""
    answer = b""
    while b"\r\n0\r\n\r\n" not in answer and (data := connection.recv(4096)):
        answer += data
    return answer


def test_a_body_that_keeps_arriving_is_never_cut(body_server: ThreadedServer) -> None:
    """Thirty chunks 0.1 s apart: 3 s in all, five times the header deadline."""
    chunk = b"x" * 1000
    with _connect(body_server) as connection:
        connection.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 30000\r\n\r\n")
        started = time.monotonic()
        for _ in range(30):
            connection.sendall(chunk)
            time.sleep(0.1)  # the slow client under test, not synchronisation
        assert time.monotonic() - started > 2.5
        answer = _read_response(connection)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b"\r\ngot 30000\r\n" in answer


def test_a_body_that_stops_arriving_is_cut_after_the_idle_timeout(
    body_server: ThreadedServer,
) -> None:
    with _connect(body_server) as connection:
        connection.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        for _ in range(8):  # one byte every 0.3 s: 2.4 s, each pause under the idle timeout
            connection.sendall(b"x")
            time.sleep(0.3)  # the slow client under test, not synchronisation
        connection.sendall(b"x")
        last_byte = time.monotonic()
        assert connection.recv(1024) == b""  # closed by the server, not our timeout
        waited = time.monotonic() - last_byte
    assert 0.5 < waited < 2.0, waited


def test_out_of_descriptors_errors_are_logged_once_per_interval() -> None:
    limiter = RateLimitedLog(every_s=60)
    logger = logging.getLogger("test.emfile")
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    logger.addFilter(limiter)
    try:
        for _ in range(1000):
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                logger.error("socket.accept() out of system resource", exc_info=True)
        logger.error("something else")
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(limiter)
    assert seen == ["socket.accept() out of system resource", "something else"]
    assert limiter.dropped == 999
