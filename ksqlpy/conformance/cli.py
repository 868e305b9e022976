"""``ksqlpy conformance PATH... [--rest] [--json FILE] [-k SUBSTRING] [-v] [--timeout S] [--fail-under N]``

``--rest`` runs the RQTT tests against a real ksqlpy server subprocess (a fresh one per test)
over HTTP instead of through the engine API (:func:`ksqlpy.conformance.rqtt.run_rqtt_rest_test`).

Runs QTT and RQTT (rest-query-validation-tests: tests with ``responses``) files (or directories of them) and prints one ``FAIL <test>: <reason>`` line per
failing test, then ``N passed, M failed, K skipped``. The exit code is 0 (the run is a
measurement) unless ``--fail-under N`` is given and fewer than N tests passed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from ksqlpy.conformance.qtt import (DEFAULT_TIMEOUT, TestResult, collect_files, load_file,
                                    run_test_sync)

__all__ = ["main", "run_paths"]

REASON_WIDTH = 300


def _one_line(s: str, n: int = REASON_WIDTH) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 3] + "..."


def run_paths(paths, keyword: list[str] | None = None, timeout: float = DEFAULT_TIMEOUT,
              per_record: bool = False, on_result=None, rest: bool = False) -> list[TestResult]:
    """Load, filter and run every test under ``paths``; ``on_result(result)`` after each.
    ``rest``: RQTT tests run against a real server subprocess (REST mode)."""
    from ksqlpy.conformance import rqtt

    results = []
    for f in collect_files(paths):
        if rqtt.is_rqtt_file(f):  # REST query-validation tests: tests with "responses"
            for rtc in rqtt.load_rqtt_file(f):
                if keyword and not all(k in rtc.name for k in keyword):
                    continue
                r = (rqtt.run_rqtt_rest_test_sync(rtc, max(timeout, 60.0)) if rest
                     else rqtt.run_rqtt_test_sync(rtc, timeout))
                results.append(r)
                if on_result is not None:
                    on_result(r)
            continue
        for tc in load_file(f):
            if keyword and not all(k in tc.name for k in keyword):
                continue
            r = run_test_sync(tc, timeout, per_record)
            results.append(r)
            if on_result is not None:
                on_result(r)
    return results


def summary(results: list[TestResult]) -> str:
    c = Counter(r.status for r in results)
    return f"{c['pass']} passed, {c['fail']} failed, {c['skip']} skipped"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ksqlpy conformance",
                                 description="Run ksqlDB QTT files against ksqlpy.")
    ap.add_argument("paths", nargs="+", metavar="PATH", help="QTT .json files or directories")
    ap.add_argument("--json", metavar="FILE", help="write per-test results as JSON")
    ap.add_argument("-k", action="append", metavar="SUBSTRING", default=[],
                    help="only tests whose name contains SUBSTRING (repeatable: all must match)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print passing/skipped tests too")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help=f"per-test timeout in seconds (default {DEFAULT_TIMEOUT:g})")
    ap.add_argument("--per-record", action="store_true",
                    help="feed queries one record per batch (default: consecutive records of "
                         "one topic as one batch)")
    ap.add_argument("--rest", action="store_true",
                    help="run RQTT tests against a real ksqlpy server subprocess over HTTP")
    ap.add_argument("--fail-under", type=int, metavar="N",
                    help="exit 1 if fewer than N tests pass")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()

    def report(r: TestResult) -> None:
        if r.status == "fail":
            print(f"FAIL {r.name}: {_one_line(r.reason)}", flush=True)
        elif args.verbose:
            tag = "PASS" if r.status == "pass" else "SKIP"
            print(f"{tag} {r.name} ({r.seconds * 1000:.0f} ms)", flush=True)

    results = run_paths(args.paths, args.k, args.timeout, args.per_record, report,
                        rest=args.rest)
    line = summary(results)
    if args.json:
        c = Counter(r.status for r in results)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"summary": {"passed": c["pass"], "failed": c["fail"],
                                   "skipped": c["skip"],
                                   "seconds": round(time.perf_counter() - t0, 2)},
                       "tests": [r.to_json() for r in results]}, fh, indent=1,
                      ensure_ascii=False)
    print(line, flush=True)
    if args.fail_under is not None:
        passed = sum(1 for r in results if r.status == "pass")
        return 0 if passed >= args.fail_under else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
