"""Peak memory of parsing an uploaded groups file, measured in a fresh child process.

    python benchmarks/upload_memory.py [--mib 10] [--lines-bytes 110]

Writes a file of ``--mib`` MiB (default 10) of distinct communities, one per line
(``https://vk.com/club<n>;<name>`` padded to ``--lines-bytes`` bytes, so a 10 MiB
file holds about 95,000 identifiers, under the default cap of 100,000), then in a
child process does what an upload does with it: parse it (as a stream from the file
when this version has ``parse_groups_stream``, else read whole and parse the bytes)
and build the process-groups job's wire data.  Prints the Python heap peak
(tracemalloc) and the growth of the process's peak RSS (``ru_maxrss``) over the
interpreter after imports, in MiB, and the seconds it took.  A parse that does not
find every identifier fails the run (exit 1, ``NotMeasuredError``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time, tracemalloc
from pathlib import Path
import vk_collector.vk.groups_file as groups_file
from vk_collector.queue.jobs import ProcessGroupsJobData, ProcessGroupsMetadata

path, expected, traced = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if traced:
    tracemalloc.start()
started = time.perf_counter()
stream = hasattr(groups_file, "parse_groups_stream")
if stream:
    with path.open("rb") as source:
        parsed = groups_file.parse_groups_stream(source, max_identifiers=100_000)
    texts = list(parsed.identifiers.texts())
else:
    parsed = groups_file.parse_groups_file(path.read_bytes(), max_identifiers=100_000)
    texts = [str(ref) for ref in parsed.identifiers]
job = ProcessGroupsJobData(
    task_id=1, metadata=ProcessGroupsMetadata(group_identifiers=texts)
).model_dump(by_alias=True, mode="json")
seconds = time.perf_counter() - started
peak = tracemalloc.get_traced_memory()[1] if traced else 0
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
found = len(job["metadata"]["groupIdentifiers"])
print(json.dumps({"stream": stream, "found": found, "expected": expected,
                  "peak": peak, "rss_kib": grown, "seconds": seconds}))
"""


class NotMeasuredError(RuntimeError):
    """A measurement did not do the work it reports."""


def write_file(path: Path, mib: int, line_bytes: int) -> int:
    """A file of exactly ``mib`` MiB (a comment line fills the rest); returns how many
    identifiers it names."""
    target = mib * 1024 * 1024
    written = count = 0
    with path.open("wb") as out:
        while written + line_bytes <= target:
            count += 1
            line = f"https://vk.com/club{count};Community number {count} "
            row = (line + "x" * line_bytes)[: line_bytes - 1] + "\n"
            out.write(row.encode())
            written += line_bytes
        out.write(b"#" * (target - written))
    return count


def measure(path: Path, expected: int, *, traced: bool) -> dict[str, float]:
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(expected), "1" if traced else "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise NotMeasuredError(f"the child failed:\n{run.stderr[-3000:]}")
    result: dict[str, float] = json.loads(run.stdout)
    if result["found"] != expected:
        raise NotMeasuredError(f"parsed {result['found']} identifiers, expected {expected}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=10)
    parser.add_argument("--line-bytes", type=int, default=110)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "groups.txt"
        expected = write_file(path, args.mib, args.line_bytes)
        rss = measure(path, expected, traced=False)  # tracemalloc itself costs memory
        heap = measure(path, expected, traced=True)
    mode = "stream" if rss["stream"] else "whole file"
    print(f"{args.mib} MiB file, {expected:,} identifiers, parsed as {mode}:")
    print(f"  Python heap peak (tracemalloc)   {heap['peak'] / 2**20:8.1f} MiB")
    print(f"  peak RSS growth (ru_maxrss)      {rss['rss_kib'] / 1024:8.1f} MiB")
    print(f"  time (no tracing)                {rss['seconds']:8.2f} s")


if __name__ == "__main__":
    main()
