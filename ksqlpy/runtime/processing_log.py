"""The processing log (stage: runtime, side output): records that failed to decode, evaluate
or encode, with where they came from. Like ksqlDB's KSQL_PROCESSING_LOG, entries are kept for
inspection and written to the log at ERROR level; the query itself keeps running."""

from __future__ import annotations

import collections
import logging
import time

log = logging.getLogger("ksqlpy.processing")

TYPES = {"DESERIALIZATION_ERROR": 0, "RECORD_PROCESSING_ERROR": 1, "PRODUCTION_ERROR": 2,
         "SERIALIZATION_ERROR": 3}


class ProcessingLog:
    def __init__(self, max_entries: int = 10_000):
        self.entries: collections.deque[dict] = collections.deque(maxlen=max_entries)
        self.counts: collections.Counter[str] = collections.Counter()

    def reporter(self, query_id: str):
        def report(kind: str, message: str, info: dict) -> None:
            entry = {"logger": f"processing.{query_id}", "level": "ERROR",
                     "time": int(time.time() * 1000),
                     "message": {"type": TYPES.get(kind, 1), "kind": kind,
                                 "errorMessage": message, **info}}
            self.entries.append(entry)
            self.counts[query_id] += 1
            log.warning("%s %s: %s", query_id, kind, message)
        return report
