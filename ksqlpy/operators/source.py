"""Source decoding (stage: log records → rows). Turns a batch of log records (key/value bytes,
timestamp, headers) into a row batch: pseudo columns, key columns, value columns, headers.

Records whose key or value cannot be decoded are dropped and reported to the processing log
(DESERIALIZATION_ERROR), as ksqlDB does with ``ksql.fail.on.deserialization.error=false``.
"""

from __future__ import annotations

import base64

import pyarrow as pa
import pyarrow.compute as pc

from ksqlpy.catalog import Source
from ksqlpy.formats import get_format
from ksqlpy.operators.base import HEADERS_COL, NULL_KEY_COL, OP_COL, OperatorContext
from ksqlpy.schema import HEADER, ROWOFFSET, ROWPARTITION, ROWTIME, WINDOWEND, WINDOWSTART



class SourceDecoder:
    """Decodes one source's log records into row batches."""

    def __init__(self, source: Source, ctx: OperatorContext):
        self.source = source
        self.ctx = ctx
        self.key_columns = list(source.schema.key)
        self.value_columns = list(source.schema.value)
        self.key_format = get_format(source.key_format, is_key=True)
        self.value_format = get_format(source.value_format, is_key=False)
        self.is_table = source.kind == "TABLE"
        self.timestamp_fn = None
        if source.timestamp_column:
            from ksqlpy.operators.timestamps import timestamp_extractor

            self.timestamp_fn = timestamp_extractor(source)

    def decode(self, records: pa.RecordBatch, partition: int) -> pa.RecordBatch:
        n = records.num_rows
        src = self.source
        bad: dict[int, str] = {}
        key_data = records.column("key")
        window_cols = {}
        if src.window is not None:
            from ksqlpy.formats.windowed import decode_windowed_key

            session = src.window.type == "SESSION"
            inner, start, end = decode_windowed_key(key_data, session)
            if end is None:
                end = pc.add(start, pa.scalar(src.window.size_ms or 0, pa.int64()))
            key_data = inner
            window_cols = {WINDOWSTART: start, WINDOWEND: end}
        keys = self.key_format.decode(key_data, self.key_columns) if self.key_columns else None
        values = self.value_format.decode(records.column("value"), self.value_columns)
        if keys is not None:
            for i, msg in keys.errors.items():
                bad.setdefault(i, f"Failed to deserialize key from topic: {src.topic}. {msg}")
        for i, msg in values.errors.items():
            bad.setdefault(i, f"Failed to deserialize value from topic: {src.topic}. {msg}")

        arrays: dict[str, pa.Array] = {
            ROWTIME: records.column("timestamp"),
            ROWPARTITION: pa.array([partition] * n, pa.int32()) if n else pa.array([], pa.int32()),
            ROWOFFSET: records.column("offset"),
        }
        arrays.update(window_cols)
        for col, arr in zip(self.key_columns, keys.arrays if keys else ()):
            arrays[col.name] = arr
        for col, arr in zip(self.value_columns, values.arrays):
            arrays[col.name] = arr
        headers = records.column("headers")
        for col in src.schema.headers:
            arrays[col.name] = _header_column(headers, col) if col.namespace == HEADER \
                else _sql_headers(headers)
        arrays[HEADERS_COL] = headers
        if len(self.key_columns) > 1:
            arrays[NULL_KEY_COL] = pc.is_null(records.column("key"))

        keep = None
        tombstones = values.null_rows
        # __op: true for a row, false for a null value (a table delete; on a stream a row
        # whose value is null, which projections pass on as a null value)
        arrays[OP_COL] = pc.invert(tombstones) if tombstones is not None \
            else pa.array([True] * n, pa.bool_())
        if self.is_table and self.key_columns:
            null_key = None
            for col in self.key_columns:
                m = pc.is_null(arrays[col.name])
                null_key = m if null_key is None else pc.or_(null_key, m)
            if null_key.true_count:
                for i in range(n):
                    if null_key[i].as_py():
                        bad.setdefault(i, f"Table {src.name} dropped a record with a null key "
                                          f"(topic: {src.topic})")
        batch = pa.RecordBatch.from_pydict(arrays)
        if self.timestamp_fn is not None:
            ts, ts_errors = self.timestamp_fn(batch)
            for i, msg in ts_errors.items():
                bad.setdefault(i, msg)
            batch = batch.set_column(0, ROWTIME, ts)
        negative = pc.less(batch.column(0), 0)
        if negative.true_count:  # Kafka Streams skips records with negative timestamps
            for i, neg in enumerate(negative.to_pylist()):
                if neg:
                    bad.setdefault(i, f"Skipped record with negative timestamp "
                                      f"{batch.column(0)[i].as_py()} (topic: {src.topic})")
        if bad:
            for i, msg in sorted(bad.items()):
                self.ctx.report("DESERIALIZATION_ERROR" if "deserialize" in msg
                                else "RECORD_PROCESSING_ERROR", msg,
                                _record_info(records, i, src.topic, partition))
            mask = [i not in bad for i in range(n)]
            keep = pa.array(mask) if keep is None else pc.and_(keep, pa.array(mask))
        if keep is not None:
            batch = batch.filter(keep)
        return batch


_HEADER_STRUCT = pa.struct([pa.field("KEY", pa.string()), pa.field("VALUE", pa.binary())])


def _sql_headers(headers: pa.Array) -> pa.Array:
    """Kafka headers as the SQL type ARRAY<STRUCT<KEY STRING, VALUE BYTES>>."""
    if isinstance(headers, pa.ChunkedArray):
        headers = headers.combine_chunks()
    if headers.offset and headers.null_count:
        # a slice (a log read starting mid-batch): Arrow cannot pair its offsets with a
        # null mask, so copy it out first
        headers = pa.concat_arrays([pa.array([], headers.type), headers])
    flat = headers.values
    items = pa.StructArray.from_arrays([flat.field("key"), flat.field("value")],
                                       fields=list(_HEADER_STRUCT))
    return pa.ListArray.from_arrays(headers.offsets, items, mask=headers.is_null())


def _header_column(headers: pa.Array, col) -> pa.Array:
    """The last value of header ``col.header_key`` in each record (ksqlDB's HEADER('k'))."""
    out = []
    for hs in headers.to_pylist():
        value = None
        for h in hs or ():
            if h["key"] == col.header_key:
                value = h["value"]
        out.append(value)
    return pa.array(out, pa.binary())


def _record_info(records: pa.RecordBatch, i: int, topic: str, partition: int) -> dict:
    value = records.column("value")[i].as_py()
    return {"topic": topic, "partition": partition,
            "offset": records.column("offset")[i].as_py(),
            "recordB64": base64.b64encode(value).decode() if value is not None else None}
