"""The benchmarks' pure helpers on fixed inputs, so a broken bench shows up in `make test`.

No servers, no browsers, no timings asserted: `make bench` measures, this only checks that
the code that turns measurements into the table and results.json still works.
"""

from __future__ import annotations

import importlib
import json

import pytest

from bench import __main__ as bench_main
from bench.lighthouse import summarise
from bench.push import PAYLOAD, encryption_cpu_ms, make_subscribers
from bench.report import (
    Result,
    Target,
    format_value,
    median,
    ratio,
    render_report,
    render_table,
    summary_counts,
)
from bench.server import parse_duration_ms, parse_wrk

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8000/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    20.10ms    5.02ms  80.00ms   90.00%
    Req/Sec     1.60k   100.00     1.80k    70.00%
  Latency Distribution
     50%   19.50ms
     75%   22.00ms
     90%   25.00ms
     99%    1.02s{space}
  32000 requests in 10.00s, 100.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   3200.50
Transfer/sec:     10.00MB
""".format(space=" ")  # wrk pads seconds with a trailing space


def test_every_benchmark_module_imports_and_has_run():
    for name in bench_main.BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        assert callable(module.run), name


def test_median_ignores_missing_values():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    assert median([None, 5.0, float("nan"), 7.0]) == 6.0
    assert median([]) is None


def test_ratio_of_missing_values_is_missing():
    assert ratio(3, 6) == 0.5
    assert ratio(None, 6) is None
    assert ratio(3, 0) is None


def test_targets_judge_both_directions_and_missing_values():
    at_most = Target("<=", 50, "ms")
    at_least = Target(">=", 1500, "pushes/s")
    assert at_most.met(50) is True
    assert at_most.met(50.1) is False
    assert at_least.met(1500) is True
    assert at_least.met(1499) is False
    assert at_most.met(None) is None
    assert at_most.text == "≤ 50.0 ms"
    with pytest.raises(ValueError):
        Target("<", 1)


def test_result_record_carries_name_value_unit_target_and_verdict():
    record = Result("server", "p50", 31.5, "ms", Target("<=", 25, "ms"), [30.0, 31.5, 40.0])
    data = record.to_dict()
    assert {k: data[k] for k in ("name", "value", "unit", "target", "met")} == {
        "name": "p50",
        "value": 31.5,
        "unit": "ms",
        "target": "≤ 25.0 ms",
        "met": False,
    }
    assert data["target_op"] == "<=" and data["target_value"] == 25
    json.dumps(data)  # results.json must be able to hold it
    untargeted = Result("server", "req/s", 900.0, "req/s").to_dict()
    assert untargeted["target"] is None and untargeted["met"] is None


def test_a_record_comes_back_from_results_json_with_its_verdict():
    record = Result("push", "pushes/s", 480.0, "pushes/s", Target(">=", 500, "pushes/s"), [480.0])
    back = Result.from_dict(json.loads(json.dumps(record.to_dict())))
    assert back == record and back.met is False
    assert Result.from_dict(Result("push", "CPU", 0.4, "ms").to_dict()).target is None


def test_values_are_formatted_with_their_units():
    assert format_value(7 * 1024, "B") == "7.0 KB"
    assert format_value(512, "B") == "512 B"
    assert format_value(12.34, "ms") == "12.3 ms"
    assert format_value(1234.5, "pushes/s") == "1,234 pushes/s"
    assert format_value(8.5, "x") == "8.50x"
    assert format_value(100, "score") == "100"
    assert format_value(None, "ms") == "n/a"


def test_table_has_one_row_per_figure_and_says_met_or_not():
    results = [
        Result("page_weight", "HTML", 4000, "B", Target("<=", 8192, "B")),
        Result("page_weight", "total | all", 40000, "B", Target("<=", 30720, "B")),
        Result("page_weight", "after load", 90000, "B"),
    ]
    table = render_table(results).splitlines()
    assert table[0] == "| Benchmark | Figure | Value | Target | Met |"
    assert len(table) == 2 + len(results)
    assert table[2].endswith("| ≤ 8.0 KB | met |")
    assert table[3].endswith("| **not met** |")
    assert "total \\| all" in table[3]  # a pipe in a name must not break the table
    assert table[4].endswith("| – | – |")
    assert summary_counts(results) == (1, 1, 2)


def test_report_names_machine_date_commit_and_notes():
    report = render_report(
        [Result("claim_cost", "SQLite", 3.0, "ms", Target("<=", 50, "ms"))],
        {"cpu_model": "Test CPU", "cores": 2, "memory_gb": 4.0, "os": "Linux", "python": "3.11"},
        {"date": "2026-11-26 12:00 UTC", "commit": "abc123", "mode": "full", "seconds": 60},
        ["a note"],
        "## Findings\n\nwhy",
    )
    for text in ("Test CPU, 2 cores", "2026-11-26 12:00 UTC", "abc123", "1 of 1 met", "- a note"):
        assert text in report
    assert report.rstrip().endswith("## Findings\n\nwhy")


def test_figures_measured_before_stand_in_their_own_column():
    now = [Result("server", "p50", 20.0, "ms", Target("<=", 25, "ms"))]
    before = {"meta": {"commit": "00e8a57", "label": "before (00e8a57)", "date": "d"}}
    before["results"] = [Result("server", "p50", 30.0, "ms").to_dict()]
    machine = {"cores": 2}
    report = render_report(now, machine, {"commit": "abc"}, baseline=before).splitlines()
    table = [line for line in report if line.startswith("| ")]
    assert table[0] == "| Benchmark | Figure | before (00e8a57) | Value | Target | Met |"
    assert table[2] == "| server | p50 | 30.0 ms | 20.0 ms | ≤ 25.0 ms | met |"
    assert any(line.startswith("- before (00e8a57): d") for line in report)
    # The run that made the baseline shows no column of itself.
    same = render_report(now, machine, {"commit": "00e8a57"}, baseline=before)
    assert "before (00e8a57)" not in same


def test_a_figure_new_since_the_baseline_shows_a_dash_before():
    table = render_table([Result("push", "new", 1.0, "ms")], {("push", "old"): "2.0 ms"}, "before")
    assert table.splitlines()[2] == "| push | new | – | 1.0 ms | – | – |"


def test_push_bench_encrypts_for_real_subscribers_with_pywebpush():
    subs = make_subscribers(3, "http://127.0.0.1:9")
    assert len({s["token"] for s in subs}) == 3
    assert all(s["endpoint"].startswith("http://127.0.0.1:9/push/") for s in subs)
    assert encryption_cpu_ms(subs) > 0
    assert 200 < len(PAYLOAD) < 4096  # a reminder's size, within what push services take


def test_wrk_output_is_parsed_into_rate_latencies_and_errors():
    parsed = parse_wrk(WRK_OUTPUT)
    assert parsed["rps"] == 3200.5
    assert parsed["p50"] == 19.5
    assert parsed["p99"] == 1020.0
    assert parsed["errors"] == 3
    assert parsed["non_2xx"] == 5
    assert parsed["requests"] == 32000
    assert parse_duration_ms("850.00us") == pytest.approx(0.85)
    with pytest.raises(ValueError):
        parse_wrk("no numbers here")


def test_lighthouse_report_is_summarised():
    refs = [{"id": "total-blocking-time", "weight": 30}]
    report = {
        "categories": {
            c: {"score": 1.0 if c != "performance" else 0.9, "auditRefs": refs}
            for c in ("performance", "accessibility", "best-practices", "seo")
        },
        "audits": {
            "largest-contentful-paint": {"numericValue": 900.0},
            "total-blocking-time": {"numericValue": 250.0, "score": 0.8, "displayValue": "250 ms"},
            "cumulative-layout-shift": {"numericValue": 0.0},
            "first-contentful-paint": {"numericValue": 800.0},
        },
        "environment": {"benchmarkIndex": 1000},
    }
    summary = summarise(report)
    assert summary["performance"] == 0.9 and summary["lcp"] == 900.0
    assert any("total-blocking-time" in line for line in summary["failing"])


def test_load_summary_names_each_benchmark():
    timings = {"server": {"load_average_before": [1.5, 1, 1], "load_average_after": [4.0]}}
    assert bench_main.load_summary(timings) == "server 1.5-4.0"


def test_a_commit_that_changed_during_the_run_is_flagged():
    assert bench_main.commit_text("abc", "abc") == "abc"
    assert "CHANGED DURING THE RUN" in bench_main.commit_text("abc", "def")
    assert "CHANGED DURING THE RUN" in bench_main.commit_text("abc", "def", ["app.py"])
    docs_only = bench_main.commit_text("abc", "def", ["README.md"])
    assert docs_only.startswith("def") and "only README.md changed" in docs_only


def test_benchmarks_are_selected_by_name_in_the_issues_order():
    assert bench_main.selected("") == bench_main.BENCHMARKS
    assert bench_main.selected("server, page_weight") == ["page_weight", "server"]
    with pytest.raises(SystemExit):
        bench_main.selected("nope")
    args = bench_main.parse_args(["--only", "claim_cost", "--quick"])
    assert args.only == "claim_cost" and args.quick


def test_results_json_kept_as_baseline_renders_beside_a_later_run(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_main, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(bench_main, "BASELINE", tmp_path / "baseline.json")
    monkeypatch.setattr(bench_main, "FINDINGS", tmp_path / "findings.md")
    (tmp_path / "findings.md").write_text("## Findings\n\nwhat the figures say")

    def results(commit, p50):
        record = Result("server", "`/` p50", p50, "ms", Target("<=", 25, "ms"))
        meta = {"commit": commit, "date": "today", "mode": "full", "notes": ["a run note"]}
        return {"machine": {"cores": 2}, "meta": meta, "results": [record.to_dict()]}

    bench_main.write_json(bench_main.RESULTS, results("00e8a57", 31.0))
    assert bench_main.main(["--keep-as-baseline", "before (00e8a57)"]) == 0
    bench_main.write_json(bench_main.RESULTS, results("def456", 12.0))
    report = bench_main.render(bench_main.read_json(bench_main.RESULTS), tmp_path / "B.md")
    assert (tmp_path / "B.md").read_text() == report
    assert "| server | `/` p50 | 31.0 ms | 12.0 ms | ≤ 25.0 ms | met |" in report
    assert "- a run note" in report and report.rstrip().endswith("what the figures say")
