"""2. Lighthouse 12.2.3 (npm, pinned) with its mobile defaults on `/`, `/strategies`, `/progress`.

Lighthouse launches the system Chromium itself (`CHROME_PATH`) with a fresh profile for every
run, so each run is a *first visit*: no cookie (the server creates a new anonymous user, as
for any newcomer), no cache, no service worker. `/` and `/progress` of a returning user would
differ only by that user's own done marks and reflections; a first visit is the case that
matters for weight and speed. Throttling is Lighthouse's default for mobile: simulated slow
4G (150 ms RTT, 1.6 Mbps) and a 4x CPU slowdown applied to what this machine measured, so the
performance figures depend on this machine's speed (Lighthouse's `benchmarkIndex` for each
run is kept in results.json). Lighthouse's own `total-byte-weight` is reported beside the
page_weight benchmark's count, which follows its rules.
"""

from __future__ import annotations

import json
import os
import subprocess

from bench.common import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    AppServer,
    Context,
    log,
    warm,
)
from bench.report import Result, Target, median

GROUP = "lighthouse"
PAGES = ["/", "/strategies", "/progress"]
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
LCP_LIMIT = 1500.0  # ms
ATTEMPTS = 3


def run_lighthouse(url: str, out_path) -> dict:
    env = dict(os.environ, CHROME_PATH=CHROMIUM)
    cmd = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out_path}",
        "--form-factor=mobile",
        "--only-categories=" + ",".join(CATEGORIES),
        "--chrome-flags=--headless=new " + " ".join(CHROMIUM_ARGS),
    ]
    error = ""
    for attempt in range(1, ATTEMPTS + 1):
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
        if done.returncode == 0:
            return json.loads(out_path.read_text())
        # Lighthouse sometimes loses its own trace on a busy machine (NO_NAVSTART,
        # NO_FCP); that says nothing about the page, so the run is simply taken again.
        error = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        log(f"lighthouse attempt {attempt}/{ATTEMPTS} on {url} failed: {error[0][:200]}")
    raise RuntimeError(f"lighthouse failed {ATTEMPTS} times on {url}: {error[0][:300]}")


def summarise(report: dict) -> dict:
    audits = report["audits"]
    summary = {c: report["categories"][c]["score"] for c in CATEGORIES}
    summary.update(
        lcp=audits["largest-contentful-paint"]["numericValue"],
        tbt=audits["total-blocking-time"]["numericValue"],
        cls=audits["cumulative-layout-shift"]["numericValue"],
        fcp=audits["first-contentful-paint"]["numericValue"],
        bytes=audits.get("total-byte-weight", {}).get("numericValue"),
        benchmark_index=report.get("environment", {}).get("benchmarkIndex"),
        run_warnings=report.get("runWarnings", []),
    )
    # What costs points, so a missed target can be explained from results.json alone.
    failing = []
    for category in CATEGORIES:
        for ref in report["categories"][category]["auditRefs"]:
            audit = audits[ref["id"]]
            if ref.get("weight", 0) > 0 and audit.get("score") is not None and audit["score"] < 1:
                failing.append(
                    f"{category}: {ref['id']} {audit['score']} {audit.get('displayValue', '')}"
                )
    summary["failing"] = failing
    summary["long_tasks"] = [
        {"url": item.get("url"), "ms": round(item.get("duration", 0))}
        for item in audits.get("long-tasks", {}).get("details", {}).get("items", [])[:8]
    ]
    return summary


def explain(ctx: Context, per_page: dict[str, list[dict]]) -> None:
    """Which audits cost points, page by page, and how fast this machine was for Lighthouse."""
    indexes = [r["benchmark_index"] for runs in per_page.values() for r in runs]
    lost = []
    for page, runs in per_page.items():
        failing = sorted({f.split(" ", 2)[1] for r in runs for f in r["failing"]})
        if failing:
            lost.append(f"`{page}`: {', '.join(failing)}")
    if lost:
        ctx.note(
            "lighthouse: audits below full marks in at least one run: "
            + "; ".join(lost)
            + f". Lighthouse's benchmarkIndex of this machine: median {median(indexes):.0f}."
        )


def run(ctx: Context) -> list[Result]:
    runs = ctx.size(3, 1)
    ctx.out.mkdir(parents=True, exist_ok=True)
    per_page: dict[str, list[dict]] = {page: [] for page in PAGES}
    with AppServer() as server:
        warm(server.url, PAGES + ["/manifest.webmanifest", "/service-worker.js"])
        for i in range(runs):
            for page in PAGES:
                name = page.strip("/") or "today"
                report = run_lighthouse(server.url + page, ctx.out / f"lighthouse-{name}-{i}.json")
                per_page[page].append(summarise(report))
                s = per_page[page][-1]
                log(
                    f"lighthouse {page} run {i + 1}/{runs}: perf {s['performance']} "
                    f"LCP {s['lcp']:.0f} ms TBT {s['tbt']:.0f} ms"
                )
    explain(ctx, per_page)
    results = []
    for page in PAGES:
        runs_ = per_page[page]
        for category in CATEGORIES:
            values = [100 * r[category] for r in runs_ if r[category] is not None]
            results.append(
                Result(
                    GROUP,
                    f"`{page}` {category}",
                    median(values),
                    "score",
                    Target(">=", 100, "score"),
                    values,
                    detail={"failing": sorted({f for r in runs_ for f in r["failing"]})}
                    if category == "performance"
                    else {},
                )
            )
        lcps = [r["lcp"] for r in runs_]
        results.append(
            Result(GROUP, f"`{page}` LCP", median(lcps), "ms", Target("<=", LCP_LIMIT, "ms"), lcps)
        )
        tbts = [r["tbt"] for r in runs_]
        results.append(
            Result(
                GROUP,
                f"`{page}` TBT",
                median(tbts),
                "ms",
                None,
                tbts,
                detail={
                    "benchmark_index": [r["benchmark_index"] for r in runs_],
                    "long_tasks": runs_[-1]["long_tasks"],
                },
            )
        )
        clss = [r["cls"] for r in runs_]
        results.append(Result(GROUP, f"`{page}` CLS", median(clss), "", None, clss))
        weights = [r["bytes"] for r in runs_]
        results.append(
            Result(
                GROUP,
                f"`{page}` total-byte-weight (Lighthouse's own count)",
                median(weights),
                "B",
                None,
                weights,
            )
        )
    return results
