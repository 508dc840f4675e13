"""One router per feature; :func:`vk_collector.api.app.create_app` includes them all."""
