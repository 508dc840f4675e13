"""Fixtures for the VK API emulator (filled in with the emulator)."""
