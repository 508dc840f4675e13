"""The emulator counts a request when it arrives, even while another answer is built.

Built on the event loop, a slow answer held back the next requests' stamps, so a client
pacing correctly could be counted as too fast and refused with error 6.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from vk_emulator import EmulatorConfig
from vk_emulator.app import app_for
from vk_emulator.engine import Engine, Reply
from vk_emulator.serving import ThreadedServer

SLOW = "slow-token"
PACED = "paced-token"


class GatedEngine(Engine):
    """Builds every answer for ``SLOW`` only once ``gate`` is set; records each stamp."""

    def __init__(self, config: EmulatorConfig) -> None:
        super().__init__(config)
        self.gate = threading.Event()
        self.stamps: queue.Queue[float] = queue.Queue()

    def stamp(self) -> tuple[float, float]:
        arrived = super().stamp()
        self.stamps.put(arrived[0])
        return arrived

    def handle(
        self,
        method: str,
        params: list[tuple[str, str]],
        token: str | None,
        arrived: tuple[float, float] | None = None,
    ) -> Reply:
        if token == SLOW:
            assert self.gate.wait(10), "the test never opened the gate"
        return super().handle(method, params, token, arrived)


def _call(base_url: str, token: str) -> dict[str, Any]:
    form = {"v": "5.199", "access_token": token, "screen_name": "vkc_group_1"}
    with httpx.Client(timeout=15, verify=False) as client:
        response = client.post(base_url + "method/utils.resolveScreenName", data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_requests_are_counted_on_arrival_while_an_answer_is_built() -> None:
    config = EmulatorConfig(
        seed=7, groups=2, posts_per_group=(8, 8), rps=1, user_tokens=(SLOW, PACED)
    )
    engine = GatedEngine(config)
    app = app_for(engine)
    server = ThreadedServer(app, name="vk-emulator-test", lifespan="off")
    server.start()
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            slow: Future[dict[str, Any]] = pool.submit(_call, server.base_url, SLOW)
            slow_stamp = engine.stamps.get(timeout=10)
            first = pool.submit(_call, server.base_url, PACED)
            first_stamp = engine.stamps.get(timeout=10)
            # the subject of the test, not synchronisation: the second paced request goes
            # one rate window (1 s at 1 request/s) after the first arrived, by the
            # emulator's own clock
            time.sleep(max(0.0, first_stamp + 1.05 - time.monotonic()))
            second = pool.submit(_call, server.base_url, PACED)
            second_stamp = engine.stamps.get(timeout=10)
            # both paced requests were taken in while the slow answer was still unbuilt
            assert [f.done() for f in (slow, first, second)] == [False, False, False]
            engine.gate.set()
            answers = [slow.result(), first.result(), second.result()]
    finally:
        engine.gate.set()
        server.stop()
        app.state.builder.shutdown(wait=False)
    assert slow_stamp <= first_stamp < second_stamp
    assert second_stamp - first_stamp > 1.0
    # counted when they arrived, 1 s apart: neither paced request is refused with error 6
    assert [answer.get("error") for answer in answers] == [None, None, None]
    stats = engine.stats_snapshot()
    assert stats["total_requests"] == 3
    assert stats["errors"] == {}
