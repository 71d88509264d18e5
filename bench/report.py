"""The bench's records and its report: targets, results, medians, the Markdown table with
the figures measured before (`bench/baseline.json`) beside them, the machine and the commit.

All pure but `machine_info` and `git_commit`; tests/test_bench_smoke.py covers them so that
a broken bench shows up in `make test`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# -- targets and results ----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A limit a figure must stay within: `value <= limit` or `value >= limit`."""

    op: str  # "<=" or ">="
    limit: float
    unit: str = ""

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            raise ValueError(f"target op must be <= or >=, not {self.op!r}")

    def met(self, value: float | None) -> bool | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None  # not measured: neither met nor missed
        return value <= self.limit if self.op == "<=" else value >= self.limit

    @property
    def text(self) -> str:
        sign = "≤" if self.op == "<=" else "≥"
        return f"{sign} {format_value(self.limit, self.unit)}"


@dataclass
class Result:
    """One figure: what it is, its value, and the target it is judged on (if any)."""

    group: str  # the benchmark: "page_weight", "throughput"...
    name: str  # what the figure is, for people
    value: float | None
    unit: str
    target: Target | None = None
    runs: list[float] = field(default_factory=list)  # the individual runs behind a median
    note: str = ""
    detail: dict = field(default_factory=dict)  # anything else worth keeping in results.json

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["target"] = self.target.text if self.target else None
        data["target_op"] = self.target.op if self.target else None
        data["target_value"] = self.target.limit if self.target else None
        data["met"] = self.met
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        """The record back from results.json (what `to_dict` wrote)."""
        op = data.get("target_op")
        target = Target(op, data["target_value"], data["unit"]) if op else None
        fields = ("runs", "note", "detail")
        extra = {k: data[k] for k in fields if k in data}
        return cls(data["group"], data["name"], data["value"], data["unit"], target, **extra)


def median(values: Iterable[float | None]) -> float | None:
    """The median of the measured values; None when nothing was measured."""
    clean = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(clean) if clean else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "B":
        return f"{value / 1024:.1f} KB" if value >= 1024 else f"{value:.0f} B"
    if unit in ("ms", "s"):
        return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit in ("req/s", "pushes/s", "users"):
        return f"{value:,.0f} {unit}"
    if unit == "score":
        return f"{value:.0f}"
    if unit == "":
        return f"{value:.3f}" if abs(value) < 1 else f"{value:g}"
    return f"{value:g} {unit}"


def _met_text(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "–"}[met]


def render_table(results: Sequence[Result], before: dict | None = None, label: str = "") -> str:
    """One row per figure; with `before` ({(group, name): text}), a column of the figures
    measured before, headed `label`."""
    before_head = f" {label} |" if before else ""
    lines = [
        f"| Benchmark | Figure |{before_head} Value | Target | Met |",
        "| --- | --- |" + (" --- |" if before else "") + " --- | --- | --- |",
    ]
    for r in results:
        target = r.target.text if r.target else "–"
        name = r.name.replace("|", "\\|")
        value = format_value(r.value, r.unit)
        old = f" {before.get((r.group, r.name), '–')} |" if before else ""
        lines.append(f"| {r.group} | {name} |{old} {value} | {target} | {_met_text(r.met)} |")
    return "\n".join(lines)


def summary_counts(results: Sequence[Result]) -> tuple[int, int, int]:
    """(met, not met, judged) over the figures that have a target."""
    judged = [r for r in results if r.target is not None]
    met = sum(1 for r in judged if r.met is True)
    missed = sum(1 for r in judged if r.met is False)
    return met, missed, len(judged)


def render_report(
    results: Sequence[Result],
    machine: dict,
    meta: dict,
    notes: Sequence[str] = (),
    appendix: str = "",
    baseline: dict | None = None,
) -> str:
    """BENCHMARKS.md: the machine, the date, the commit, the table, the notes, the appendix.

    A `baseline` (a results.json kept as `bench/baseline.json`) of another commit adds its
    figures as a column, headed by its `meta.label`, and a line saying how it was run."""
    met, missed, judged = summary_counts(results)
    old = baseline if baseline and baseline["meta"].get("commit") != meta.get("commit") else None
    label = old["meta"].get("label", "before") if old else ""
    before_line = (
        [
            f"- {label}: {old['meta'].get('date', '?')}, {old['meta'].get('mode', '?')} run, "
            f"load average {old['meta'].get('load') or 'not recorded'}"
        ]
        if old
        else []
    )
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`.venv/bin/python -m bench`); every figure is also in",
        "`bench/results.json`. Medians of several runs; figures compared with each other were",
        "measured in the same run. See README, section Benchmarks, for how each one is taken.",
        "",
        f"- Date: {meta.get('date', '?')}",
        f"- Commit: {meta.get('commit', '?')}",
        f"- Machine: {machine.get('cpu_model', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('memory_gb', '?')} GB memory, {machine.get('os', '?')}",
        f"- Software: Python {machine.get('python', '?')}, {meta.get('software', '')}".rstrip(", "),
        f"- Run: {meta.get('mode', 'full')}, {meta.get('seconds', 0):.0f} s",
        f"- Load average (1 min, {machine.get('cores', '?')} cores) around each benchmark: "
        f"{meta.get('load') or 'not recorded'}",
        f"- Targets: {met} of {judged} met, {missed} not met",
        *before_line,
        "",
        render_table(results, baseline_values(old), label),
        "",
    ]
    if notes:
        lines += ["## Notes", ""]
        lines += [f"- {note}" for note in notes]
        lines.append("")
    if appendix.strip():
        lines += [appendix.strip(), ""]
    return "\n".join(lines)


# -- the machine and the commit -----------------------------------------------------------


def machine_info() -> dict:
    cpu_model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def git_commit() -> str:
    """The commit measured, with `+dirty` when the working tree has uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    try:
        sha = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_json(path: Path, data: dict) -> None:
    """One line per top-level key and one per result: short files, readable diffs."""
    results = data.get("results", [])
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items() if k != "results"]
    if "results" in data:
        rows = ",\n".join(f"    {json.dumps(r)}" for r in results)
        lines.append('  "results": [\n' + rows + "\n  ]")
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")


# -- the figures measured before ----------------------------------------------------------


def baseline_values(baseline: dict | None) -> dict[tuple[str, str], str]:
    """{(benchmark, figure): formatted value} from a results.json kept as the baseline."""
    if not baseline:
        return {}
    return {
        (r["group"], r["name"]): format_value(r["value"], r["unit"])
        for r in baseline.get("results", [])
    }
