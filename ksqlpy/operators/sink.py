"""Sink encoding (stage: rows → log records). Encodes the key and value columns of each row
batch in the sink's formats and produces a batch ready to append to the sink topic
(``ksqlpy.log.base.PRODUCE_SCHEMA``). Rows that cannot be serialized are dropped and reported
(SERIALIZATION_ERROR). Table changelog rows marked as deletes become tombstones."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.catalog import Source
from ksqlpy.formats import get_format
from ksqlpy.log.base import HEADER_TYPE, PRODUCE_SCHEMA
from ksqlpy.operators.base import HEADERS_COL, NULL_KEY_COL, OP_COL, OperatorContext
from ksqlpy.schema import ROWTIME, WINDOWEND, WINDOWSTART



class SinkEncoder:
    def __init__(self, sink: Source, ctx: OperatorContext, copy_headers: bool = True):
        self.sink = sink
        self.ctx = ctx
        self.key_columns = list(sink.schema.key)
        self.value_columns = list(sink.schema.value)
        self.key_format = get_format(sink.key_format, is_key=True)
        self.value_format = get_format(sink.value_format, is_key=False)
        self.copy_headers = copy_headers
        self.timestamp_column = sink.timestamp_column

    def encode(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        n = batch.num_rows
        sink = self.sink
        errors: dict[int, str] = {}
        if self.key_columns:
            keys = self.key_format.encode([batch.column(c.name) for c in self.key_columns],
                                          self.key_columns)
            key_data = keys.data
            errors.update(keys.errors)
            kidx = batch.schema.get_field_index(NULL_KEY_COL)
            if kidx >= 0 and len(self.key_columns) > 1:
                # a record that arrived with a null key keeps it (a key computed by PARTITION
                # BY or GROUP BY is written even when all its columns are null)
                null_key = pc.fill_null(batch.column(kidx), False)
                if null_key.true_count:
                    key_data = pc.if_else(null_key, pa.nulls(n, pa.binary()), key_data)
        else:
            key_data = pa.nulls(n, pa.binary())
        if sink.window is not None:
            from ksqlpy.formats.windowed import encode_windowed_key

            session = sink.window.type == "SESSION"
            if not self.key_columns:  # one row per window: the key is the window alone
                key_data = pa.array([b""] * n, pa.binary())
            key_data = encode_windowed_key(key_data, batch.column(WINDOWSTART),
                                           batch.column(WINDOWEND) if session else None,
                                           session)
        values = self.value_format.encode([batch.column(c.name) for c in self.value_columns],
                                          self.value_columns)
        value_data = values.data
        for i, msg in values.errors.items():
            errors.setdefault(i, msg)
        idx = batch.schema.get_field_index(OP_COL)
        if idx >= 0:  # deletes become tombstones
            value_data = pc.if_else(batch.column(idx), value_data, pa.nulls(n, pa.binary()))
        if self.timestamp_column:
            ts = batch.column(self.timestamp_column).cast(pa.int64())
            ts = pc.fill_null(ts, batch.column(ROWTIME))
        else:
            ts = batch.column(ROWTIME)
        hidx = batch.schema.get_field_index(HEADERS_COL)
        headers = batch.column(hidx) if (hidx >= 0 and self.copy_headers) \
            else pa.nulls(n, HEADER_TYPE)
        out = pa.RecordBatch.from_arrays([ts, key_data, value_data, headers],
                                         schema=PRODUCE_SCHEMA)
        if errors:
            for i, msg in sorted(errors.items()):
                self.ctx.report("SERIALIZATION_ERROR",
                                f"Error serializing message to topic: {sink.topic}. {msg}",
                                {"topic": sink.topic})
            out = out.filter(pa.array([i not in errors for i in range(n)]))
        return out
