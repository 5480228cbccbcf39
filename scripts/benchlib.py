"""What every benchmark script shares: naming the machine and recording a run.

BENCHMARKS.md holds one current table per area, between `<!-- current:AREA -->` and
`<!-- /current:AREA -->`. Recording a run replaces its area's block there and appends the dated
section to docs/benchmarks-history.md, so BENCHMARKS.md always shows only the latest figures and
the history keeps every run.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "BENCHMARKS.md"
HISTORY = Path("docs") / "benchmarks-history.md"  # relative to BENCHMARKS.md's folder
# A scratch copy of BENCHMARKS.md to record into instead (its history goes beside it), so a
# script can be tried without touching the real files.
BENCHMARKS_ENV = "FOLIO_BENCHMARKS"

_BENCHMARKS_HEADER = (
    "# Benchmarks\n\n"
    "The latest run of each area beside its baseline measured in the same run: compare the ratios, "
    "not absolute numbers across runs, since the machines are shared and noisy. Each table is "
    "rewritten by its script in `scripts/` (between `<!-- current:AREA -->` markers); every run's "
    "dated section, older ones included, is in [docs/benchmarks-history.md](docs/benchmarks-history.md).\n"
)
_HISTORY_HEADER = (
    "# Benchmark history\n\n"
    "Every recorded run, dated, newest last. The latest figures of each area are in "
    "[BENCHMARKS.md](../BENCHMARKS.md).\n"
)
_AREA = re.compile(r"[a-z0-9][a-z0-9-]*")


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


def command_line() -> str:
    """How this script was invoked, as a command to run from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(REPO))
    except ValueError:
        shown = str(script)
    return shlex.join([".venv/bin/python", shown, *sys.argv[1:]])


def _markers(area: str) -> tuple[str, str]:
    return f"<!-- current:{area} -->", f"<!-- /current:{area} -->"


def _with_current(text: str, area: str, block: str) -> str:
    """`text` with `area`'s marked block replaced by `block`, or `block` added at the end."""
    start, end = _markers(area)
    i, j = text.find(start), text.find(end)
    if i < 0 and j < 0:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    # A half-present or repeated block means the file was edited by hand: refuse rather than guess.
    if i < 0 or j < i or text.count(start) != 1 or text.count(end) != 1:
        raise ValueError(f"BENCHMARKS.md: the markers of {area!r} are missing, repeated or out of order")
    return text[:i] + block + text[j + len(end) :]


def record(
    area: str,
    title: str,
    notes: str,
    table: str,
    *,
    extra: str = "",
    label: str = "",
    command: str | None = None,
    where: str | None = None,
    when: dt.date | None = None,
    benchmarks: Path | None = None,
) -> None:
    """Make this run `area`'s current table in BENCHMARKS.md and append it to the history.

    `title` names the area ("Reranker"), `notes` says what was measured and against which
    baseline of the same run, `table` is the Markdown table, `extra` any text that follows it,
    `label` what changed since the last run. The command defaults to how this script was run, the
    machine to `machine()`, the file to BENCHMARKS.md (or $FOLIO_BENCHMARKS); the history is
    docs/benchmarks-history.md beside that file.
    """
    if not _AREA.fullmatch(area):
        raise ValueError(f"area must be lowercase letters, digits and dashes: {area!r}")
    path = benchmarks or Path(os.environ.get(BENCHMARKS_ENV) or BENCHMARKS)
    history = path.parent / HISTORY
    command = command or command_line()
    where = where or machine()
    when = when or dt.date.today()
    table, notes, extra = table.strip("\n"), notes.strip(), extra.strip()

    start, end = _markers(area)
    meta = f"Measured {when} on {where}. Reproduce: `{command}`"
    changed = f"What changed: {label}" if label else ""
    current = "\n\n".join(p for p in (f"## {title}", meta, changed, table, notes, extra) if p)
    text = path.read_text(encoding="utf-8") if path.exists() else _BENCHMARKS_HEADER
    # Computed before anything is written, so bad markers leave both files as they were.
    updated = _with_current(text, area, f"{start}\n{current}\n\n{end}")

    heading = f"## {title} — {when} — {where}" + (f" — {label}" if label else "")
    lead = f"`{command}`" + (f": {notes}" if notes else "")
    section = "\n\n".join(p for p in (heading, lead, table, extra) if p)
    history.parent.mkdir(parents=True, exist_ok=True)
    if not history.exists():
        history.write_text(_HISTORY_HEADER, encoding="utf-8")
    with history.open("a", encoding="utf-8") as out:
        out.write("\n" + section + "\n")

    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(updated, encoding="utf-8")
    os.replace(tmp, path)  # readers never see a half-written BENCHMARKS.md
