"""Connection limits of the served API: requests that never finish arriving are cut
off, finished ones are not, and an out-of-descriptors storm logs one line."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from starlette.types import Receive, Scope, Send

from vk_collector.serving import RateLimitedLog, deadline_protocol
from vk_emulator.serving import ThreadedServer


async def _slow_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await asyncio.sleep(1.0)  # a response that takes longer than the request deadline
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    running = ThreadedServer(_slow_app, lifespan="off", http=deadline_protocol(0.5))
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
