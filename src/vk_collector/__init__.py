"""vk-collector: collects VK communities, posts and comments through a BullMQ queue."""

__version__ = "0.1.0"
