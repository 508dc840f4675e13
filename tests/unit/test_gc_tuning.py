"""Long-running processes collect garbage rarely and never traverse what start-up built."""

from __future__ import annotations

import json
import subprocess
import sys

from vk_collector.gc_tuning import YOUNG_THRESHOLD

_CHILD = """
import gc, json
from vk_collector.gc_tuning import tune_for_service
before = gc.get_threshold()
tune_for_service()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_tuning_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    # in a child: freezing is process-wide and this test process should keep its GC
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(out.stdout)
    assert seen["before"][0] == 700
    assert seen["after"] == [YOUNG_THRESHOLD, 20, 10]
    assert seen["frozen"] > 1000  # the modules and objects imported before the call
