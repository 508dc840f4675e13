"""The error tree of vk-collector.

::

    VkCollectorError (code: ErrorCode, severity: ErrorSeverity)
    ├── QueueError            queue service failures (INIT_FAILED, JOB_NOT_FOUND, ...)
    ├── WorkerError           job processing failures (TASK_NOT_FOUND, NO_GROUPS_FOUND, ...)
    ├── RedisConnectionError  Redis unreachable or too slow
    ├── VkApiError            a VK API failure; carries ``error_code`` and ``method``, never a token
    ├── StorageError          database failures
    └── ValidationError       bad input from a user; the API maps it to 4xx, the CLI to exit 2
        ├── NotFoundError     what the input names does not exist (NOT_FOUND; API 404)
        └── ConflictError     the request clashes with the current state (CONFLICT; API 409)

Every error keeps its cause (``__cause__``), so ``raise QueueError(...) from exc`` and
``QueueError(..., cause=exc)`` are equivalent.  ``severity`` tells a worker what to do:
``transient`` is retried, ``permanent`` is not, ``unknown`` is retried like transient.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "ConflictError",
    "ErrorCode",
    "ErrorSeverity",
    "NotFoundError",
    "QueueError",
    "RedisConnectionError",
    "StorageError",
    "ValidationError",
    "VkApiError",
    "VkCollectorError",
    "WorkerError",
    "task_not_found",
]


class ErrorSeverity(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"


class ErrorCode(StrEnum):
    # queue
    INIT_FAILED = "INIT_FAILED"
    NOT_INITIALIZED = "NOT_INITIALIZED"
    ADD_JOB_FAILED = "ADD_JOB_FAILED"
    GET_JOB_FAILED = "GET_JOB_FAILED"
    REMOVE_JOB_FAILED = "REMOVE_JOB_FAILED"
    RETRY_JOB_FAILED = "RETRY_JOB_FAILED"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    QUEUE_NOT_FOUND = "QUEUE_NOT_FOUND"
    CLEANUP_FAILED = "CLEANUP_FAILED"
    WORKERS_INIT_FAILED = "WORKERS_INIT_FAILED"
    # workers
    TASK_NOT_FOUND = "TASK_NOT_FOUND"
    NO_GROUPS_PROVIDED = "NO_GROUPS_PROVIDED"
    NO_GROUPS_FOUND = "NO_GROUPS_FOUND"
    JOB_PROCESSING_FAILED = "JOB_PROCESSING_FAILED"
    TASK_CANCELLED = "TASK_CANCELLED"
    # infrastructure
    REDIS_UNAVAILABLE = "REDIS_UNAVAILABLE"
    EMBEDDED_REDIS_FAILED = "EMBEDDED_REDIS_FAILED"
    STORAGE_FAILED = "STORAGE_FAILED"
    # VK
    VK_API_ERROR = "VK_API_ERROR"
    VK_TRANSPORT_ERROR = "VK_TRANSPORT_ERROR"
    VK_NO_TOKENS = "VK_NO_TOKENS"
    # user input
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_SETTINGS = "INVALID_SETTINGS"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    UNSUPPORTED_FILE = "UNSUPPORTED_FILE"
    # HTTP-level refusals of the API
    NOT_READY = "NOT_READY"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"


class VkCollectorError(Exception):
    """Base of every domain error.  ``details`` must never hold a secret."""

    default_code: ErrorCode = ErrorCode.INVALID_INPUT
    default_severity: ErrorSeverity = ErrorSeverity.UNKNOWN

    def __init__(
        self,
        message: str,
        code: ErrorCode | None = None,
        *,
        severity: ErrorSeverity | None = None,
        details: dict[str, Any] | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.severity = severity or self.default_severity
        self.details: dict[str, Any] = details or {}
        if cause is not None:
            self.__cause__ = cause

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.details:
            data["details"] = self.details
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!s})"


class QueueError(VkCollectorError):
    default_code = ErrorCode.INIT_FAILED
    default_severity = ErrorSeverity.UNKNOWN

    def __init__(
        self,
        message: str,
        code: ErrorCode | None = None,
        job_id: str | None = None,
        *,
        severity: ErrorSeverity | None = None,
        details: dict[str, Any] | None = None,
        cause: BaseException | None = None,
    ) -> None:
        merged = dict(details or {})
        if job_id is not None:
            merged["jobId"] = job_id
        super().__init__(message, code, severity=severity, details=merged, cause=cause)
        self.job_id = job_id


class WorkerError(VkCollectorError):
    default_code = ErrorCode.JOB_PROCESSING_FAILED
    default_severity = ErrorSeverity.UNKNOWN


class RedisConnectionError(VkCollectorError):
    default_code = ErrorCode.REDIS_UNAVAILABLE
    default_severity = ErrorSeverity.TRANSIENT


class StorageError(VkCollectorError):
    default_code = ErrorCode.STORAGE_FAILED
    default_severity = ErrorSeverity.TRANSIENT


class VkApiError(VkCollectorError):
    """A VK API failure.  ``error_code`` is VK's own code (0 for transport failures)."""

    default_code = ErrorCode.VK_API_ERROR
    default_severity = ErrorSeverity.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        error_code: int = 0,
        method: str | None = None,
        severity: ErrorSeverity | None = None,
        code: ErrorCode | None = None,
        cause: BaseException | None = None,
    ) -> None:
        details: dict[str, Any] = {"errorCode": error_code}
        if method:
            details["method"] = method
        super().__init__(message, code, severity=severity, details=details, cause=cause)
        self.error_code = error_code
        self.method = method


class ValidationError(VkCollectorError):
    """Bad input from a person or a client.  Never retried."""

    default_code = ErrorCode.INVALID_INPUT
    default_severity = ErrorSeverity.PERMANENT


class NotFoundError(ValidationError):
    """What the request names (a task, a community, a job's task) does not exist."""

    default_code = ErrorCode.NOT_FOUND


class ConflictError(ValidationError):
    """The request is valid but clashes with the current state (a running job, a done task)."""

    default_code = ErrorCode.CONFLICT


def task_not_found(task_id: int) -> NotFoundError:
    """The one "task not found" error."""
    return NotFoundError(f"task {task_id} not found", details={"taskId": task_id})
