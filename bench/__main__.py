"""`python -m bench`: run every benchmark in one process run, print the table, write the files.

    .venv/bin/python -m bench                              # all six, full sizes (make bench)
    .venv/bin/python -m bench --only page_weight,throughput
    .venv/bin/python -m bench --quick                      # smaller sizes, for development

Only a complete, full-size run writes the committed `BENCHMARKS.md` and `bench/results.json`;
`--only` and `--quick` runs write theirs to the git-ignored `bench/out/` (unless `--write`),
so a partial run never replaces the reference figures. A benchmark that fails is reported
in the table as an error, the others still run, and the exit status is 1.
`bench/findings.md` (the analysis of the targets not met: causes, what was tried, what to
change) is appended to BENCHMARKS.md as it stands.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence

from bench.common import (
    CHROMIUM,
    OUT,
    ROOT,
    Context,
    Result,
    git_commit,
    log,
    machine_info,
    now_text,
    render_report,
    render_table,
    summary_counts,
    write_json,
)

BENCHMARKS = [
    "page_weight",
    "lighthouse",
    "offline_repeat",
    "throughput",
    "push_fanout",
    "claim_cost",
]

STANDING_NOTES = [
    "Page weight is judged on the bytes until the `load` event, headers included (what a "
    "phone waits for on a first visit, over HTTP/1.1 as served here). The service worker's "
    "background precache and offline pages come after `load`; they are reported beside it "
    "with no target of their own.",
    "Lighthouse runs are first visits (fresh profile, no cookie): a new anonymous user for "
    "`/` and `/progress`. Its mobile defaults apply: simulated slow 4G and a 4x CPU "
    "slowdown on top of this machine's own speed (`benchmarkIndex` in results.json).",
    "Throughput: gunicorn as configured in `gunicorn.conf.py`, wrk in another process on "
    "the same 2 cores; both sides of the ratio share that handicap.",
    "Push fan-out: the push service runs in its own process on the same 2 cores as the "
    "sender; the encryption-only figure uses both cores and no HTTP.",
    'Claim cost: "does not grow" is judged on the work per claim (SQLite VM steps, '
    "PostgreSQL due-index entries read), exact where timings are not; its 1.5x limit for "
    "100x more not-due users is this bench's reading of the issue's words.",
]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="", help="comma-separated benchmarks: " + ",".join(BENCHMARKS)
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for development")
    parser.add_argument(
        "--write", action="store_true", help="write BENCHMARKS.md even for a partial or quick run"
    )
    return parser.parse_args(argv)


def selected(only: str) -> list[str]:
    if not only.strip():
        return list(BENCHMARKS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {BENCHMARKS}")
    return [n for n in BENCHMARKS if n in names]  # always in the order


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = selected(args.only)
    ctx = Context(quick=args.quick)
    commit_at_start = git_commit()
    started = time.monotonic()
    results: list[Result] = []
    timings: dict[str, dict] = {}
    failed = []
    for name in names:
        log(f"== {name} (load average {load_average()})")
        begun = time.monotonic()
        load_before = load_average()
        try:
            module = importlib.import_module(f"bench.{name}")
            results += module.run(ctx)
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(name)
            results.append(Result(name, f"error: {type(exc).__name__}: {exc}"[:200], None, ""))
        timings[name] = {
            "seconds": round(time.monotonic() - begun, 1),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        }
        log(f"== {name} took {timings[name]['seconds']:.0f} s")

    seconds = time.monotonic() - started
    commit_at_end = git_commit()
    complete = names == BENCHMARKS and not args.quick
    machine = machine_info()
    meta = {
        "date": now_text(),
        "commit": commit_text(
            commit_at_start, commit_at_end, changed_files(commit_at_start, commit_at_end)
        ),
        "mode": ("quick" if args.quick else "full")
        + ("" if names == BENCHMARKS else f", only {','.join(names)}"),
        "seconds": seconds,
        "software": software_versions(),
        "benchmarks": timings,
        "load": load_summary(timings),
    }
    notes = STANDING_NOTES + ctx.notes
    findings = ROOT / "bench" / "findings.md"
    appendix = findings.read_text() if findings.exists() else ""
    report = render_report(results, machine, meta, notes, appendix)
    if complete or args.write:
        md_path, json_path = ROOT / "BENCHMARKS.md", ROOT / "bench" / "results.json"
    else:
        OUT.mkdir(parents=True, exist_ok=True)
        md_path, json_path = OUT / "BENCHMARKS.md", OUT / "results.json"
    md_path.write_text(report)
    met, missed, judged = summary_counts(results)
    write_json(
        json_path,
        {
            "machine": machine,
            "meta": meta,
            "summary": {"met": met, "not_met": missed, "judged": judged, "failed": failed},
            "results": [r.to_dict() for r in results],
        },
    )
    print(render_table(results))
    print(
        f"\n{met} of {judged} targets met; written to {md_path.relative_to(ROOT)}, "
        f"{json_path.relative_to(ROOT)} ({seconds:.0f} s)"
    )
    return 1 if failed else 0


def load_summary(timings: dict[str, dict]) -> str:
    """The 1-minute load average seen around each benchmark: how busy the machine was."""
    parts = []
    for name, t in timings.items():
        seen = [t["load_average_before"][:1], t["load_average_after"][:1]]
        values = [v[0] for v in seen if v]
        if values:
            parts.append(f"{name} {min(values):.1f}-{max(values):.1f}")
    return ", ".join(parts)


def commit_text(at_start: str, at_end: str, changed: Sequence[str] | None = None) -> str:
    """The commit measured; both, loudly, if the code changed under a running bench.

    `changed` lists the files that differ between the two commits: when they are all
    Markdown, the code measured is the same and the run stands."""
    if at_start == at_end:
        return at_start
    if changed and all(name.endswith(".md") for name in changed):
        return f"{at_end} ({at_start} at the start; only {', '.join(changed)} changed since)"
    return f"{at_start} at the start, {at_end} at the end (CHANGED DURING THE RUN: rerun)"


def changed_files(at_start: str, at_end: str) -> list[str] | None:
    if "+" in at_start or "+" in at_end or "unknown" in (at_start, at_end):
        return None  # uncommitted changes: a diff of commits cannot tell what ran
    try:
        out = subprocess.run(
            ["git", "diff", "--name-only", at_start, at_end],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [line for line in out.splitlines() if line]


def run_mode(quick: bool, names: Sequence[str]) -> str:
    mode = "quick" if quick else "full"
    return mode if list(names) == BENCHMARKS else f"{mode}, only {','.join(names)}"


def software_versions() -> str:
    versions = []
    try:
        from importlib.metadata import version

        for package in ("gunicorn", "Flask", "SQLAlchemy", "playwright", "pywebpush"):
            versions.append(f"{package} {version(package)}")
    except Exception:  # metadata missing: the table is still worth having
        pass
    try:
        lighthouse = json.loads((ROOT / "node_modules/lighthouse/package.json").read_text())
        versions.append(f"Lighthouse {lighthouse['version']}")
    except (OSError, ValueError, KeyError):
        pass
    try:
        chromium = subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True, timeout=20
        ).stdout.strip()
        if chromium:
            versions.append(chromium)
    except (OSError, subprocess.SubprocessError):
        pass
    return ", ".join(versions)


if __name__ == "__main__":
    sys.exit(main())
