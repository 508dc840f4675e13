"""Secrets never leave the process in text: logs, errors, job dumps."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
import structlog

from vk_collector.redaction import MASK, redact, redact_url, redact_value, register_secret


def test_registered_secrets_and_token_shapes_are_masked() -> None:
    register_secret("s3cr3t-token-value")
    text = (
        "failed with s3cr3t-token-value; url https://api.vk.ru/method/x?access_token=abc123&v=1 "
        "header Authorization: Bearer eyJhbGciOi.x-y"
    )
    out = redact(text)
    assert "s3cr3t-token-value" not in out
    assert "abc123" not in out
    assert "eyJhbGciOi" not in out
    assert out.count(MASK) == 3


def test_nested_values_and_token_keys() -> None:
    data = {"metadata": {"options": {"token": "anything", "limit": 3}}, "list": ["access_token=zz"]}
    out = redact_value(data)
    assert out["metadata"]["options"] == {"token": MASK, "limit": 3}
    assert out["list"] == [f"access_token={MASK}"]


def test_log_lines_never_carry_a_registered_token(
    log_capture: Callable[[str], io.StringIO],
) -> None:
    register_secret("vk1.a.known-token-for-the-test")
    stream = log_capture("json")
    structlog.get_logger("t").info("vk.call", detail="token vk1.a.known-token-for-the-test")
    try:
        raise RuntimeError("boom vk1.a.known-token-for-the-test")
    except RuntimeError:
        structlog.get_logger("t").exception("vk.failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["vk.call", "vk.failed"]
    assert "known-token" not in stream.getvalue()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "Redis at redis://:s3cret-pw@10.0.0.5:6379/0 does not answer",
            "Redis at redis://:***@10.0.0.5:6379/0 does not answer",
        ),
        ("rediss://default:pa55@cache.example:6380", "rediss://default:***@cache.example:6380"),
        ("postgresql+asyncpg://vkc:pw@db/vkc", "postgresql+asyncpg://vkc:***@db/vkc"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        (
            "see https://vk.com/club1 or mail a@b.example",
            "see https://vk.com/club1 or mail a@b.example",
        ),
    ],
)
def test_url_passwords_are_masked(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact_url(text) == shown
