"""VK's wire conventions: error messages, the error envelope and parameter parsing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MESSAGES", "Params", "VkError", "invalid_param"]

# error_msg of each code the emulator answers, from VK's errors.json; details follow ": ".
MESSAGES: dict[int, str] = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed",
    6: "Too many requests per second",
    8: "Invalid request",
    9: "Flood control",
    10: "Internal server error",
    12: "Unable to compile code",
    13: "Runtime error occurred during code invocation",
    14: "Captcha needed",
    15: "Access denied",
    27: "Group authorization failed: method is unavailable with group auth.",
    28: "Application authorization failed: method is unavailable with service token.",
    29: "Rate limit reached",
    30: "This profile is private",
    100: "One of the parameters specified was missing or invalid",
    212: "Access to post comments denied",
}


class VkError(Exception):
    """A VK API error the emulator answers; ``extra`` adds fields such as ``captcha_sid``."""

    def __init__(self, code: int, detail: str | None = None, **extra: Any) -> None:
        base = MESSAGES.get(code, "Unknown error occurred")
        self.code = code
        self.message = f"{base}: {detail}" if detail else base
        self.extra = extra
        super().__init__(self.message)

    def envelope(self, request_params: Iterable[tuple[str, str]]) -> dict[str, Any]:
        error: dict[str, Any] = {
            "error_code": self.code,
            "error_msg": self.message,
            **self.extra,
            "request_params": [{"key": key, "value": value} for key, value in request_params],
        }
        return {"error": error}


def invalid_param(detail: str) -> VkError:
    return VkError(100, detail)


class Params:
    """Request parameters (strings; the last occurrence of a name wins) with VK's checks."""

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._values: dict[str, str] = {}
        for key, value in pairs:
            self._values[key] = value

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def items(self) -> list[tuple[str, str]]:
        return list(self._values.items())

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._values.get(name)
        return default if value is None or value == "" else value

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise invalid_param(f"{name} is undefined")
        return value

    def integer(
        self,
        name: str,
        default: int,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        clamp: bool = False,
    ) -> int:
        """The integer ``name``; outside ``minimum..maximum`` it is clamped or refused (100)."""
        value = self.optional_int(name)
        if value is None:
            return default
        if minimum is not None and value < minimum:
            if not clamp:
                raise invalid_param(f"{name} should be greater or equal {minimum}")
            value = minimum
        if maximum is not None and value > maximum:
            if not clamp:
                raise invalid_param(f"{name} should be less or equal {maximum}")
            value = maximum
        return value

    def optional_int(self, name: str) -> int | None:
        raw = self.get(name)
        if raw is None:
            return None
        try:
            return int(raw.strip())
        except ValueError:
            raise invalid_param(f"{name} not integer") from None

    def required_int(self, name: str) -> int:
        value = self.optional_int(name)
        if value is None:
            raise invalid_param(f"{name} is undefined")
        return value

    def flag(self, name: str) -> bool:
        return self.get(name, "0") not in ("0", "false", "False")

    def csv(self, name: str) -> list[str]:
        raw = self.get(name)
        if raw is None:
            return []
        return [part.strip() for part in raw.split(",") if part.strip()]
