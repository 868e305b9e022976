"""Prometheus metrics (stage: server): GET /metrics in the text exposition format.

Per persistent query: records in and out (``query.stats``); processing-log errors per query
(``engine.processing_log.counts``); open push queries; HTTP requests and their latency as a
histogram per route template (not the raw path, to bound the label set)."""

from __future__ import annotations

import bisect
import collections

__all__ = ["Metrics"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _esc(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    def __init__(self):
        self.hist: dict[tuple[str, str], list] = {}
        self.requests: collections.Counter = collections.Counter()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        h = self.hist.get((method, route))
        if h is None:
            h = self.hist[(method, route)] = [[0] * (len(BUCKETS) + 1), 0.0, 0]
        h[0][bisect.bisect_left(BUCKETS, seconds)] += 1
        h[1] += seconds
        h[2] += 1

    def render(self, engine, push_open: int) -> str:
        out = []
        add = out.append
        add("# HELP ksqlpy_query_records_in_total Records read by a persistent query.")
        add("# TYPE ksqlpy_query_records_in_total counter")
        queries = list(engine.queries) if engine is not None else []
        for q in queries:
            add(f'ksqlpy_query_records_in_total{{query_id="{_esc(q.id)}"}} '
                f'{q.stats.records_in}')
        add("# HELP ksqlpy_query_records_out_total Records written by a persistent query.")
        add("# TYPE ksqlpy_query_records_out_total counter")
        for q in queries:
            add(f'ksqlpy_query_records_out_total{{query_id="{_esc(q.id)}"}} '
                f'{q.stats.records_out}')
        add("# HELP ksqlpy_query_running Whether a persistent query is running (1) or not.")
        add("# TYPE ksqlpy_query_running gauge")
        for q in queries:
            add(f'ksqlpy_query_running{{query_id="{_esc(q.id)}"}} '
                f'{1 if q.state == "RUNNING" else 0}')
        add("# HELP ksqlpy_query_partitions_owned Input partitions a persistent query "
            "processes on this server (scale-out splits them among servers).")
        add("# TYPE ksqlpy_query_partitions_owned gauge")
        for q in queries:
            add(f'ksqlpy_query_partitions_owned{{query_id="{_esc(q.id)}"}} '
                f'{q.partitions_owned}')
        add("# HELP ksqlpy_processing_log_errors_total Records that failed in a query.")
        add("# TYPE ksqlpy_processing_log_errors_total counter")
        counts = engine.processing_log.counts if engine is not None else {}
        for qid, n in sorted(counts.items()):
            add(f'ksqlpy_processing_log_errors_total{{query_id="{_esc(qid)}"}} {n}')
        add("# HELP ksqlpy_push_queries_open Push and pull queries streaming right now.")
        add("# TYPE ksqlpy_push_queries_open gauge")
        add(f"ksqlpy_push_queries_open {push_open}")
        add("# HELP ksqlpy_http_requests_total HTTP requests by route and status.")
        add("# TYPE ksqlpy_http_requests_total counter")
        for (m, r, s), n in sorted(self.requests.items()):
            add(f'ksqlpy_http_requests_total{{method="{m}",route="{_esc(r)}",'
                f'status="{s}"}} {n}')
        add("# HELP ksqlpy_http_request_duration_seconds Time to answer a request (for "
            "streams: until the response ended).")
        add("# TYPE ksqlpy_http_request_duration_seconds histogram")
        for (m, r), (counts_, total, n) in sorted(self.hist.items()):
            labels = f'method="{m}",route="{_esc(r)}"'
            cum = 0
            for b, c in zip(BUCKETS, counts_):
                cum += c
                add(f'ksqlpy_http_request_duration_seconds_bucket{{{labels},le="{b}"}} {cum}')
            add(f'ksqlpy_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {n}')
            add(f"ksqlpy_http_request_duration_seconds_sum{{{labels}}} {total}")
            add(f"ksqlpy_http_request_duration_seconds_count{{{labels}}} {n}")
        return "\n".join(out) + "\n"
