"""`python -m bench`: run every benchmark in one process run, print the table, write the files.

    .venv/bin/python -m bench                              # all six, full sizes (make bench)
    .venv/bin/python -m bench --only page_weight,server
    .venv/bin/python -m bench --quick                      # smaller sizes, for development
    .venv/bin/python -m bench --render                     # BENCHMARKS.md from results.json
    .venv/bin/python -m bench --keep-as-baseline "before (00e8a57)"

Only a complete, full-size run writes the committed `BENCHMARKS.md` and `bench/results.json`;
`--only` and `--quick` runs write theirs to the git-ignored `bench/out/` (unless `--write`),
so a partial run never replaces the reference figures. A benchmark that fails is reported
in the table as an error, the others still run, and the exit status is 1.
`bench/findings.md` (what the figures say) is appended to BENCHMARKS.md as it stands.
`bench/baseline.json` (a results.json kept with `--keep-as-baseline LABEL`: the figures of
an earlier commit) adds a column of those figures beside the new ones.
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

from bench.common import CHROMIUM, OUT, ROOT, Context, log
from bench.report import (
    Result,
    git_commit,
    machine_info,
    now_text,
    render_report,
    render_table,
    summary_counts,
    write_json,
)

BENCHMARKS = ["page_weight", "lighthouse", "offline_repeat", "server", "push", "claim_cost"]
RESULTS = ROOT / "bench" / "results.json"
BASELINE = ROOT / "bench" / "baseline.json"
FINDINGS = ROOT / "bench" / "findings.md"

STANDING_NOTES = [
    "Page weight counts every byte the page itself requests on a first visit until the "
    "network is idle, headers included, as Lighthouse's `total-byte-weight` does; the "
    "service worker's background precache is reported beside it, not judged.",
    "Lighthouse runs are first visits (fresh profile, no cookie): a new anonymous user for "
    "`/` and `/progress`. Its mobile defaults apply: simulated slow 4G and a 4x CPU "
    "slowdown on top of this machine's own speed (`benchmarkIndex` in results.json).",
    "Server: gunicorn as configured in `gunicorn.conf.py`, wrk (8 connections) in another "
    "process on the same cores.",
    "Push: the push service (20 ms per push) runs in its own process on the same cores as "
    "the one dispatcher process, which is driven only through `flask reminders dispatch`.",
    'Claim cost: "flat" is judged on the work per claim (SQLite VM steps, PostgreSQL '
    "rows of users read by the plan), exact where timings are not: 100x more users not due may "
    "cost at most 1.5x.",
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
    parser.add_argument(
        "--render", action="store_true", help="only rewrite BENCHMARKS.md from results.json"
    )
    parser.add_argument(
        "--keep-as-baseline",
        metavar="LABEL",
        help="only copy results.json to bench/baseline.json, its column headed LABEL",
    )
    return parser.parse_args(argv)


def read_json(path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def keep_as_baseline(label: str) -> None:
    data = read_json(RESULTS)
    if data is None:
        raise SystemExit(f"no {RESULTS.relative_to(ROOT)} to keep")
    data["meta"]["label"] = label
    write_json(BASELINE, data)


def render(data: dict, md_path) -> str:
    """BENCHMARKS.md from a results.json's content, the findings and the baseline."""
    results = [Result.from_dict(r) for r in data["results"]]
    appendix = FINDINGS.read_text() if FINDINGS.exists() else ""
    notes = STANDING_NOTES + data["meta"].get("notes", [])
    report = render_report(
        results, data["machine"], data["meta"], notes, appendix, read_json(BASELINE)
    )
    md_path.write_text(report)
    return report


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
    if args.keep_as_baseline:
        keep_as_baseline(args.keep_as_baseline)
        return 0
    if args.render:
        render(read_json(RESULTS), ROOT / "BENCHMARKS.md")
        return 0
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
    meta["notes"] = ctx.notes
    if complete or args.write:
        md_path, json_path = ROOT / "BENCHMARKS.md", RESULTS
    else:
        OUT.mkdir(parents=True, exist_ok=True)
        md_path, json_path = OUT / "BENCHMARKS.md", OUT / "results.json"
    met, missed, judged = summary_counts(results)
    data = {
        "machine": machine,
        "meta": meta,
        "summary": {"met": met, "not_met": missed, "judged": judged, "failed": failed},
        "results": [r.to_dict() for r in results],
    }
    write_json(json_path, data)
    render(data, md_path)
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
