"""The emulator is a package of its own: importing all of it loads nothing of vk_collector."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import importlib, pkgutil, sys
import vk_emulator
for info in pkgutil.walk_packages(vk_emulator.__path__, "vk_emulator."):
    importlib.import_module(info.name)
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "vk_collector")
print(len([n for n in sys.modules if n.startswith("vk_emulator.")]))
print(",".join(loaded))
"""


def test_emulator_imports_nothing_of_the_collector() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    modules, loaded = done.stdout.splitlines()
    assert int(modules) >= 15, "the probe should have imported every emulator module"
    assert loaded == "", f"vk_emulator pulled in {loaded}"
