"""Logs: durable partitioned topics, the storage edge of the pipeline (input → output).

``open_log("embedded", data_dir)`` gives the durable on-disk default; ``open_log("memory")`` the
in-memory log for unit tests; ``open_log("kafka", bootstrap_servers=...)`` a Kafka broker
(ksqlpy.log.kafka). All implement :class:`~ksqlpy.log.base.Log`.
"""

from __future__ import annotations

from pathlib import Path

from ._common import LogClosedError
from .base import (HEADER_TYPE, PRODUCE_SCHEMA, RECORD_SCHEMA, Log, TopicExistsError, TopicInfo,
                   Transaction, UnknownTopicError, records)
from .embedded import EmbeddedLog, LogCorruptError, LogLockedError
from .memory import MemoryLog

__all__ = ["HEADER_TYPE", "PRODUCE_SCHEMA", "RECORD_SCHEMA", "Log", "Transaction", "TopicInfo",
           "records", "TopicExistsError", "UnknownTopicError", "LogClosedError",
           "LogCorruptError", "LogLockedError", "EmbeddedLog", "MemoryLog", "open_log"]


def open_log(kind: str, data_dir: str | Path | None = None, **options) -> Log:
    """Open a log backend by name: "embedded" (needs ``data_dir``), "memory" or "kafka"
    (``bootstrap_servers=``, ``properties=``: Kafka client settings, see KafkaConfig)."""
    if kind == "embedded":
        if data_dir is None:
            raise ValueError("the embedded log needs a data directory")
        return EmbeddedLog(data_dir)
    if kind == "memory":
        return MemoryLog()
    if kind == "kafka":  # [kafka hook] imported lazily: aiokafka only when used
        from .kafka import KafkaConfig, KafkaLog

        return KafkaLog(KafkaConfig.from_properties(options.get("properties"),
                                                    options.get("bootstrap_servers")))
    raise ValueError(f"unknown log backend {kind!r} (expected 'embedded', 'memory' or 'kafka')")
