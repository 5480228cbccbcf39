"""What every benchmark script shares: naming the machine and appending a section to BENCHMARKS.md."""

from __future__ import annotations

import os
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
_HEADER = "# Benchmarks\n\nResults appended by the scripts in `scripts/`, newest last.\n"


def machine() -> str:
    """The CPU model and core count (and RAM), so each row says where it ran."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        ram = f", {pages / 2**30:.0f} GB RAM"
    except (ValueError, OSError):
        pass
    return f"{model}, {os.cpu_count()} cores{ram}"


def append_section(text: str, path: Path = BENCHMARKS) -> None:
    """Append one section (heading, notes, table) to BENCHMARKS.md, creating it with its header."""
    if not path.exists():
        path.write_text(_HEADER, encoding="utf-8")
    with path.open("a", encoding="utf-8") as out:
        out.write("\n" + text.strip("\n") + "\n")
