"""The processing log as ksqlDB's KSQL_PROCESSING_LOG: records in the topic
``<service id>ksql_processing_log``, the stream over it, push and pull queries, restart."""

from __future__ import annotations

import asyncio
import base64
import json

from ksqlpy.log.base import records
from ksqlpy.runtime.engine import Engine, EngineConfig
from ksqlpy.runtime.processing_log import build_record, create_stream_statement

from .conftest import memory_engine, run, topic_values

TOPIC = "default_ksql_processing_log"
ORDERS = ("CREATE STREAM orders (id STRING KEY, qty INT) "
          "WITH (kafka_topic='orders', value_format='JSON', partitions=1);")
BAD = [b'{"qty": 1}', b"{not json", b'{"qty": 3}']


async def _started(**props) -> Engine:
    engine = await memory_engine(**props)
    await engine.processing_log.wait_started()
    return engine


async def _bad_input(engine: Engine, values=BAD) -> None:
    await engine.execute(ORDERS)
    await engine.execute("CREATE STREAM out AS SELECT id, qty FROM orders;")
    await engine.log.append("orders", 0, records([b"k%d" % i for i in range(len(values))],
                                                 list(values), list(range(len(values)))))
    await engine.run_until_idle()
    await engine.processing_log.flush()


async def _collect(query) -> list:
    return [row async for row in query.rows()]


def test_deserialization_error_is_written_to_the_topic_as_ksqldb_does():
    async def go():
        engine = await _started()
        await _bad_input(engine)
        values = await topic_values(engine, TOPIC)
        await engine.close()
        return values

    values = run(go())
    assert len(values) == 1
    key, value, ts = values[0]
    assert key is None and ts == value["time"]
    assert value["level"] == "ERROR"
    assert value["logger"] == "processing.CSAS_OUT_0.KsqlTopic.Source.deserializer"
    msg = value["message"]
    assert msg["type"] == 0
    assert set(msg) == {"type", "deserializationError", "recordProcessingError",
                        "productionError", "serializationError", "kafkaStreamsThreadError"}
    assert all(msg[k] is None for k in msg if k not in ("type", "deserializationError"))
    err = msg["deserializationError"]
    assert err["target"] == "value" and err["topic"] == "orders"
    assert err["errorMessage"].startswith("Failed to deserialize value from topic: orders.")
    assert err["cause"] and err["cause"][0] in err["errorMessage"]
    assert err["recordB64"] is None  # rows only with ksql.logging.processing.rows.include


def test_rows_include_writes_the_record_bytes():
    async def go():
        engine = await _started(**{"ksql.logging.processing.rows.include": "true"})
        await _bad_input(engine)
        values = await topic_values(engine, TOPIC)
        await engine.close()
        return values

    (_, value, _), = run(go())
    assert base64.b64decode(value["message"]["deserializationError"]["recordB64"]) == \
        b"{not json"


def test_stream_is_listed_and_queryable_by_pull_and_push():
    async def go():
        engine = await _started()
        shown = (await engine.execute("SHOW STREAMS;"))[0].entity["streams"]
        described = (await engine.execute("DESCRIBE KSQL_PROCESSING_LOG;"))[0].entity
        push = await engine.push_query(
            "SELECT logger, message->type, message->deserializationError->`topic` "
            "FROM KSQL_PROCESSING_LOG EMIT CHANGES LIMIT 2;", {"auto.offset.reset": "latest"})
        await asyncio.sleep(0.05)
        await _bad_input(engine, [b"{not json", b'{"qty": 2}', b"[1,"])
        pushed = await asyncio.wait_for(_collect(push), 10)
        pull = await engine.push_query(
            "SELECT * FROM KSQL_PROCESSING_LOG WHERE message->type = 0;")
        pulled = await asyncio.wait_for(_collect(pull), 10)
        cols = [(c.name, str(c.type)) for c in pull.columns]
        await engine.close()
        return shown, described, pushed, push, pulled, cols

    shown, described, pushed, push, pulled, cols = run(go())
    plog = [s for s in shown if s["name"] == "KSQL_PROCESSING_LOG"]
    assert plog == [{"type": "STREAM", "name": "KSQL_PROCESSING_LOG", "topic": TOPIC,
                     "keyFormat": "KAFKA", "valueFormat": "JSON", "isWindowed": False}]
    assert described["sourceDescription"]["topic"] == TOPIC
    logger = "processing.CSAS_OUT_0.KsqlTopic.Source.deserializer"
    assert pushed == [[logger, 0, "orders"], [logger, 0, "orders"]]
    assert push.done_reason == "Limit Reached"
    assert [c[0] for c in cols] == ["LOGGER", "LEVEL", "TIME", "MESSAGE"]
    assert cols[3][1].startswith("STRUCT<`TYPE` INTEGER, `DESERIALIZATIONERROR` STRUCT<"
                                 "`TARGET` STRING, `ERRORMESSAGE` STRING, `RECORDB64` STRING, "
                                 "`CAUSE` ARRAY<STRING>, `topic` STRING>")
    assert "`KAFKASTREAMSTHREADERROR` STRUCT<`ERRORMESSAGE` STRING, `THREADNAME` STRING" \
        in cols[3][1]
    assert len(pulled) == 2
    for row in pulled:
        assert row[0] == logger and row[1] == "ERROR"
        assert row[3]["TYPE"] == 0 and row[3]["DESERIALIZATIONERROR"]["topic"] == "orders"
        assert row[3]["RECORDPROCESSINGERROR"] is None


def test_reports_are_buffered_and_appended_in_batches():
    async def go():
        engine = await _started()
        appends = []
        original = engine.log.append

        async def counting(topic, partition, batch):
            if topic == TOPIC:
                appends.append(batch.num_rows)
            return await original(topic, partition, batch)

        engine.log.append = counting
        await _bad_input(engine, [b"{bad %d" % i for i in range(200)] + [b'{"qty": 1}'])
        await asyncio.sleep(0.1)
        values = await topic_values(engine, TOPIC)
        await engine.close()
        return appends, values

    appends, values = run(go())
    assert len(values) == 200 and sum(appends) == 200
    assert len(appends) <= 3, appends   # one batch per burst, not one append per record


def test_group_by_null_and_serialization_errors_name_their_step():
    async def go():
        engine = await _started()
        await engine.execute("CREATE STREAM s (id STRING KEY, g STRING, v DOUBLE) "
                             "WITH (kafka_topic='s', value_format='JSON', partitions=1);")
        await engine.execute("CREATE TABLE t AS SELECT g, COUNT(*) AS n FROM s GROUP BY g;")
        await engine.execute("INSERT INTO s (id, g, v) VALUES ('a', null, 1.0);")
        await engine.execute("INSERT INTO s (id, g, v) VALUES ('b', 'x', 1.0);")
        await engine.run_until_idle()
        await engine.processing_log.flush()
        values = [v for _, v, _ in await topic_values(engine, TOPIC)]
        await engine.close()
        return values

    values = run(go())
    assert len(values) == 1
    rec = values[0]
    assert rec["logger"] == "processing.CTAS_T_0.Aggregate.GroupBy"
    assert rec["message"]["type"] == 1
    err = rec["message"]["recordProcessingError"]
    assert "null" in err["errorMessage"] and err["cause"] == [] and err["record"] is None


def test_record_shapes_for_every_type():
    ser = build_record("CSAS_OUT_3", "SERIALIZATION_ERROR",
                       "Error serializing message to topic: OUT. boom", {"topic": "OUT"}, 7,
                       include_rows=False)
    assert ser["logger"] == "processing.CSAS_OUT_3.OUT.serializer"
    assert ser["message"]["type"] == 3
    assert ser["message"]["serializationError"] == {
        "target": "value", "errorMessage": "Error serializing message to topic: OUT. boom",
        "record": None, "cause": ["boom"], "topic": "OUT"}
    prod = build_record("INSERTQUERY_5", "PRODUCTION_ERROR", "broker down", {}, 7, False)
    assert prod["message"]["type"] == 2
    assert prod["message"]["productionError"] == {"errorMessage": "broker down"}
    assert prod["message"]["deserializationError"] is None
    sql = create_stream_statement("KSQL_PROCESSING_LOG", "x_ksql_processing_log")
    assert sql.startswith("CREATE STREAM KSQL_PROCESSING_LOG (logger VARCHAR, level VARCHAR, "
                          "time BIGINT, message STRUCT<type INT, deserializationError "
                          "STRUCT<target VARCHAR, errorMessage VARCHAR, recordB64 VARCHAR, "
                          "cause ARRAY<VARCHAR>, `topic` VARCHAR>, ")
    assert sql.endswith("WITH(KAFKA_TOPIC='x_ksql_processing_log', VALUE_FORMAT='JSON', "
                        "KEY_FORMAT='KAFKA');")


def test_disabled_and_custom_names():
    async def go():
        off = await _started(**{"ksql.logging.processing.topic.auto.create": "false",
                                "ksql.logging.processing.stream.auto.create": "false"})
        await _bad_input(off)
        off_state = (off.log.topic(TOPIC), off.catalog.source("KSQL_PROCESSING_LOG"),
                     len(off.processing_log.entries))
        await off.close()
        custom = await _started(**{"ksql.service.id": "svc_",
                                   "ksql.logging.processing.stream.name": "ERRORS"})
        await _bad_input(custom)
        src = custom.catalog.source("ERRORS")
        values = await topic_values(custom, "svc_ksql_processing_log")
        await custom.close()
        return off_state, src, values

    (topic, source, entries), src, values = run(go())
    assert topic is None and source is None
    assert entries == 1   # still kept in memory (and counted for /metrics)
    assert src is not None and src.topic == "svc_ksql_processing_log"
    assert len(values) == 1 and values[0][1]["message"]["type"] == 0


def test_survives_restart_without_a_second_create(tmp_path):
    async def first():
        engine = Engine(EngineConfig(data_dir=str(tmp_path),
                                     properties={"auto.offset.reset": "earliest"}))
        await engine.start()
        await engine.processing_log.wait_started()
        await _bad_input(engine)
        await engine.close()

    async def second():
        engine = Engine(EngineConfig(data_dir=str(tmp_path),
                                     properties={"auto.offset.reset": "earliest"}))
        await engine.start()
        await engine.processing_log.wait_started()
        streams = (await engine.execute("SHOW STREAMS;"))[0].entity["streams"]
        pull = await engine.push_query("SELECT logger FROM KSQL_PROCESSING_LOG;")
        rows = await asyncio.wait_for(_collect(pull), 10)
        batch = await engine.log.read(engine.command_topic, 0, 0, 1000)
        commands = [json.loads(v)["statement"] for v in batch.column("value").to_pylist()]
        await engine.close()
        return streams, rows, commands

    run(first())
    streams, rows, commands = run(second())
    assert [s["name"] for s in streams].count("KSQL_PROCESSING_LOG") == 1
    assert rows == [["processing.CSAS_OUT_0.KsqlTopic.Source.deserializer"]]
    assert sum(c.startswith("CREATE STREAM KSQL_PROCESSING_LOG") for c in commands) == 1
