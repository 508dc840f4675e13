from __future__ import annotations

import pytest

from vk_collector.errors import ErrorCode, ErrorSeverity, VkApiError
from vk_collector.redaction import register_secret
from vk_collector.retries import instant_retries
from vk_collector.vk.errors import (
    VkBatchError,
    VkObjectError,
    VkQuotaError,
    api_error,
    backoff_delay,
    is_object_level,
    transport_error,
)

SECRET = "unit-errors-secret-token-0123456789"


@pytest.mark.parametrize("code", [1, 6, 9, 10, 14, 36, 43])
def test_transient_codes(code: int) -> None:
    exc = api_error({"error_code": code, "error_msg": "x"}, "wall.get")
    assert type(exc) is VkApiError
    assert exc.severity is ErrorSeverity.TRANSIENT
    assert exc.error_code == code
    assert exc.method == "wall.get"


@pytest.mark.parametrize("code", [5, 7, 8, 17, 24, 27, 28, 101])
def test_fatal_codes(code: int) -> None:
    exc = api_error({"error_code": code, "error_msg": "x"}, "wall.get")
    assert type(exc) is VkApiError
    assert exc.severity is ErrorSeverity.PERMANENT
    assert not is_object_level(exc)


@pytest.mark.parametrize("code", [15, 18, 19, 30, 100, 113, 125, 203, 212])
def test_object_level_codes(code: int) -> None:
    exc = api_error({"error_code": code, "error_msg": "x"}, "wall.getComments")
    assert isinstance(exc, VkObjectError)
    assert exc.severity is ErrorSeverity.PERMANENT
    assert is_object_level(exc)


@pytest.mark.parametrize("code", [12, 13])
def test_execute_codes_are_batch_errors(code: int) -> None:
    exc = api_error({"error_code": code, "error_msg": "x"}, "execute")
    assert isinstance(exc, VkBatchError)
    assert exc.severity is ErrorSeverity.PERMANENT


def test_quota_and_unknown_codes() -> None:
    quota = api_error({"error_code": 29, "error_msg": "Rate limit reached"}, "wall.get")
    assert isinstance(quota, VkQuotaError)
    assert quota.severity is ErrorSeverity.PERMANENT
    unknown = api_error({"error_code": 9999, "error_msg": "?"}, "wall.get")
    assert unknown.severity is ErrorSeverity.UNKNOWN
    garbage = api_error({"error_code": "nope"}, "wall.get")
    assert garbage.error_code == 0


def test_inner_method_wins_for_execute_errors() -> None:
    exc = api_error({"method": "wall.getComments", "error_code": 212, "error_msg": "x"}, "execute")
    assert exc.method == "wall.getComments"
    assert exc.details == {"errorCode": 212, "method": "wall.getComments"}


def test_messages_never_carry_a_token() -> None:
    register_secret(SECRET)
    exc = api_error(
        {"error_code": 5, "error_msg": f"User authorization failed: bad token {SECRET}"},
        "wall.get",
    )
    for text in (str(exc), repr(exc), str(exc.details), str(exc.to_dict())):
        assert SECRET not in text
    unregistered = api_error(
        {"error_code": 5, "error_msg": "see https://x/?access_token=abcdef123456&v=5"}, "m.a"
    )
    assert "abcdef123456" not in str(unregistered)


def test_transport_error() -> None:
    exc = transport_error("wall.get", "HTTP 502")
    assert exc.severity is ErrorSeverity.TRANSIENT
    assert exc.code is ErrorCode.VK_TRANSPORT_ERROR
    assert exc.error_code == 0


def test_backoff_is_bounded_with_floors_and_switch() -> None:
    assert 0.5 <= backoff_delay(1, 0.5, 30) <= 1.0
    assert 30 <= backoff_delay(20, 0.5, 30) <= 30.5
    assert backoff_delay(1, 0.1, 30, error_code=6) >= 1.0
    assert backoff_delay(1, 0.1, 30, error_code=9) >= 30
    with instant_retries():
        assert backoff_delay(5, 0.5, 30, error_code=9) == 0.0
    assert backoff_delay(1, 0.5, 30) > 0
