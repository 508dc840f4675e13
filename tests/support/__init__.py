"""Helpers and fixture plugins shared by the test suite (importable as ``support.*``)."""
