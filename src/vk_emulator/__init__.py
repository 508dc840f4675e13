"""A local, deterministic VK API server for tests, the demo and benchmarks.

See docs/EMULATOR.md.  :class:`EmulatorServer` runs it over HTTP on loopback;
:func:`create_app` gives the bare ASGI app; :class:`Dataset` answers what the server
would, for comparing a collector's results.
"""

from vk_emulator.app import create_app
from vk_emulator.config import EmulatorConfig, FaultConfig, TokenKind, VkQuirks
from vk_emulator.dataset import Dataset
from vk_emulator.models import Comment, CommentTree, Group, Post, Profile
from vk_emulator.server import EmulatorServer, EmulatorStartError
from vk_emulator.stats import mask_token

__all__ = [
    "Comment",
    "CommentTree",
    "Dataset",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorStartError",
    "FaultConfig",
    "Group",
    "Post",
    "Profile",
    "TokenKind",
    "VkQuirks",
    "create_app",
    "mask_token",
]
