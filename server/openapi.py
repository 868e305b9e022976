"""The OpenAPI 3.1 description of the REST API (stage: server), written by hand to match
the handlers in ``app.py``; a test checks that every route in ``app.ROUTES`` is here."""

from __future__ import annotations

from ksqlpy.server.app import ROUTES, VERSION

__all__ = ["spec"]

_ERROR = {"$ref": "#/components/schemas/KsqlErrorMessage"}
_ERRORS = {
    "400": {"description": "Bad request (40000), bad statement (40001), SELECT/PRINT on /ksql "
                           "(40002), too many push queries (40003), HTTP/2 only (40004)",
            "content": {"application/json": {"schema": _ERROR}}},
    "401": {"description": "Unauthorized (40100)",
            "content": {"application/json": {"schema": _ERROR}}},
    "413": {"description": "Request body too large (41300)",
            "content": {"application/json": {"schema": _ERROR}}},
    "503": {"description": "Server initializing (50302) or shutting down (50303)",
            "content": {"application/json": {"schema": _ERROR}}},
}
_QUERY_TYPES = ["application/vnd.ksqlapi.delimited.v1", "application/json",
                "application/vnd.ksql.v1+json", "application/vnd.ksql.v1+protobuf"]


def _json(schema: dict, types=("application/json",)) -> dict:
    return {t: {"schema": schema} for t in types}


def _ok(description: str, schema: dict | None = None, types=("application/json",)) -> dict:
    r = {"description": description}
    if schema is not None:
        r["content"] = _json(schema, types)
    return r


def _body(ref: str, types=("application/json", "application/vnd.ksql.v1+json")) -> dict:
    return {"required": True, "content": _json({"$ref": f"#/components/schemas/{ref}"}, types)}


def spec() -> dict:
    obj = {"type": "object"}
    ops: dict[tuple[str, str], dict] = {
        ("POST", "/ksql"): {"requestBody": _body("KsqlRequest"), "responses": {
            "200": _ok("One entity per statement", {"type": "array", "items": obj}), **_ERRORS}},
        ("POST", "/ksql/terminate"): {"requestBody": _body("TerminateRequest"), "responses": {
            "200": _ok("Cluster terminated", obj), **_ERRORS}},
        ("POST", "/query"): {"requestBody": _body("KsqlRequest"), "responses": {
            "200": _ok("Chunked StreamedRow array: header, rows, final message (Accept "
                       "application/vnd.ksql.v1+protobuf: rows as protobufBytes; Accept "
                       "application/vnd.ksqlapi.delimited.v1: the /query-stream form)",
                       {"type": "array", "items": {"$ref": "#/components/schemas/StreamedRow"}},
                       ("application/json", "application/vnd.ksql.v1+protobuf")),
            "405": _ok("Over HTTP/2 with the v1+json Accept", _ERROR), **_ERRORS}},
        ("POST", "/query-stream"): {"requestBody": _body("QueryStreamRequest"), "responses": {
            "200": _ok("Query metadata, then rows (framing chosen by Accept)",
                       {"$ref": "#/components/schemas/QueryStream"}, _QUERY_TYPES),
            "406": _ok("No acceptable media type", _ERROR), **_ERRORS}},
        ("POST", "/inserts-stream"): {
            "requestBody": {"required": True, "content": {
                "application/vnd.ksqlapi.delimited.v1": {"schema": {
                    "type": "string", "description": "First line {\"target\": \"S\"}, then "
                    "one JSON object per line"}}}},
            "responses": {"200": _ok("One InsertAck per line", {
                "$ref": "#/components/schemas/InsertAck"},
                ("application/vnd.ksqlapi.delimited.v1",)), **_ERRORS}},
        ("POST", "/close-query"): {"requestBody": _body("CloseQueryRequest"), "responses": {
            "200": {"description": "Closed"}, **_ERRORS}},
        ("GET", "/info"): {"responses": {"200": _ok("Server info", {
            "$ref": "#/components/schemas/ServerInfo"})}},
        ("GET", "/healthcheck"): {"responses": {"200": _ok("Health", {
            "$ref": "#/components/schemas/HealthCheck"})}},
        ("GET", "/chc/ready"): {"responses": {"200": _ok("Ready", obj)}},
        ("GET", "/chc/live"): {"responses": {"200": _ok("Live", obj)}},
        ("GET", "/clusterStatus"): {"responses": {"200": _ok("Cluster status", {
            "type": "object", "required": ["clusterStatus"],
            "properties": {"clusterStatus": obj}}), **_ERRORS}},
        ("GET", "/status"): {"responses": {"200": _ok("Command statuses", {
            "type": "object", "properties": {"commandStatuses": obj}}), **_ERRORS}},
        ("GET", "/status/{type}/{entity}/{action}"): {
            "parameters": [{"name": n, "in": "path", "required": True,
                            "schema": {"type": "string"}} for n in ("type", "entity", "action")],
            "responses": {"200": _ok("Command status", {
                "$ref": "#/components/schemas/CommandStatus"}),
                # a path the router cannot match at all (e.g. a control character in a
                # segment) gets the plain-text 404 of an unknown path
                "404": {"description": "Unknown command (JSON), or an unroutable path "
                                       "(text/plain)",
                        "content": {"application/json": {"schema": _ERROR},
                                    "text/plain": {"schema": {"type": "string"}}}},
                **_ERRORS}},
        ("GET", "/is_valid_property/{property}"): {
            "parameters": [{"name": "property", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": _ok("true", {"type": "boolean"}), **_ERRORS}},
        ("GET", "/v1/metadata"): {"responses": {"200": _ok("Metadata", {
            "type": "object", "properties": {"version": {"type": "string"},
                                             "clusterId": {"type": "string"}}}), **_ERRORS}},
        ("GET", "/v1/metadata/id"): {"responses": {"200": _ok("Cluster id", {
            "type": "object", "properties": {"id": {"type": "string"}}}), **_ERRORS}},
        ("GET", "/ws/query"): {
            "parameters": [{"name": "request", "in": "query", "required": True,
                            "schema": {"type": "string"},
                            "description": "URL-encoded KsqlRequest JSON"},
                           {"name": "version", "in": "query", "schema": {"type": "string"}}],
            "responses": {"101": {"description": "WebSocket: schema frame, then one "
                                                 "StreamedRow per frame"},
                          **_ERRORS}},
        ("GET", "/openapi.json"): {"responses": {"200": _ok("This document", obj)}},
        ("GET", "/metrics"): {"responses": {"200": _ok(
            "Prometheus text format", {"type": "string"}, ("text/plain",))}},
        ("GET", "/"): {"responses": {"307": {"description": "Redirect to /info"}}},
    }
    paths: dict[str, dict] = {}
    for method, path, name, summary in ROUTES:
        op = dict(ops[(method, path)])
        op["summary"] = summary
        op["operationId"] = f"{method.lower()}_{name}_{len(paths.get(path, {}))}" \
            if path in paths else f"{method.lower()}_{name}"
        paths.setdefault(path, {})[method.lower()] = op
    str_map = {"type": "object", "additionalProperties": True}
    schemas = {
        "KsqlErrorMessage": {"type": "object", "required": ["@type", "error_code", "message"],
                             "properties": {"@type": {"type": "string"},
                                            "error_code": {"type": "integer"},
                                            "message": {"type": "string"},
                                            "statementText": {"type": "string"},
                                            "entities": {"type": "array", "items": obj}}},
        "KsqlRequest": {"type": "object", "required": ["ksql"], "properties": {
            "ksql": {"type": "string"}, "streamsProperties": str_map,
            "sessionVariables": str_map, "requestProperties": str_map,
            "commandSequenceNumber": {"type": "integer"}}},
        "QueryStreamRequest": {"type": "object", "required": ["sql"], "properties": {
            "sql": {"type": "string"}, "properties": str_map, "sessionVariables": str_map,
            "requestProperties": str_map}},
        "TerminateRequest": {"type": "object", "properties": {
            "deleteTopicList": {"type": "array", "items": {"type": "string"}}}},
        "CloseQueryRequest": {"type": "object", "required": ["queryId"],
                              "properties": {"queryId": {"type": "string"}}},
        "StreamedRow": {"type": "object", "properties": {
            "header": {"type": "object", "properties": {
                "queryId": {"type": "string"}, "schema": {"type": "string"},
                "protoSchema": {"type": "string", "description": "v1+protobuf: the .proto "
                                "text of the rows' message (ConnectDefault1)"}}},
            "row": {"type": "object", "properties": {
                "columns": {"type": "array"}, "tombstone": {"type": "boolean"},
                "protobufBytes": {"type": "string", "contentEncoding": "base64",
                                  "description": "v1+protobuf: the row serialized as the "
                                                 "header's message"}}},
            "errorMessage": _ERROR, "finalMessage": {"type": "string"}}},
        "QueryStream": {"description": "delimited: metadata object line then one JSON array "
                                       "per line; application/json: [metadata, rows...]; "
                                       "v1+json: StreamedRow array; v1+protobuf: "
                                       "StreamedRow array with protoSchema/protobufBytes",
                        "type": ["object", "array", "string"]},
        "InsertAck": {"type": "object", "required": ["status", "seq"], "properties": {
            "status": {"enum": ["ok", "error"]}, "seq": {"type": "integer"},
            "error_code": {"type": "integer"}, "message": {"type": "string"}}},
        "ServerInfo": {"type": "object", "required": ["KsqlServerInfo"], "properties": {
            "KsqlServerInfo": {"type": "object", "properties": {
                "version": {"type": "string"}, "kafkaClusterId": {"type": "string"},
                "ksqlServiceId": {"type": "string"},
                "serverStatus": {"enum": ["RUNNING", "ERROR", "DEGRADED"]}}}}},
        "HealthCheck": {"type": "object", "required": ["isHealthy"], "properties": {
            "isHealthy": {"type": "boolean"}, "details": obj,
            "serverState": {"type": "string"}}},
        "CommandStatus": {"type": "object", "properties": {
            "status": {"type": "string"}, "message": {"type": "string"},
            "queryId": {"type": "string"}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "ksqlpy REST API (ksqlDB-compatible)", "version": VERSION},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"}}},
    }
