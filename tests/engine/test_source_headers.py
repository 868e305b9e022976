"""Source decoding of Kafka headers (stage: log records → rows)."""

import pyarrow as pa

from ksqlpy.log.base import HEADER_TYPE
from ksqlpy.operators.source import _sql_headers


def test_headers_of_a_sliced_read_with_null_headers_decode():
    # a log read that starts mid-batch returns a slice; records without headers are null
    headers = pa.array([[{"key": "a", "value": b"1"}], None, [{"key": "b", "value": b"2"}],
                        None], HEADER_TYPE)
    assert _sql_headers(headers.slice(1, 3)).to_pylist() == [
        None, [{"KEY": "b", "VALUE": b"2"}], None]
    assert _sql_headers(headers).to_pylist()[0] == [{"KEY": "a", "VALUE": b"1"}]
