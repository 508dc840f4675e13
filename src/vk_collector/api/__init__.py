"""The HTTP API: ``create_app(settings, redis_url)`` (see :mod:`vk_collector.api.app`)."""

from vk_collector.api.app import create_app

__all__ = ["create_app"]
