"""``ksqlpy server`` (stage: entry point): configure and run the REST server.

Settings, later ones winning: defaults, ``--config FILE`` (java-properties ``key=value``
lines), ``KSQLPY_*`` environment variables (``KSQLPY_KSQL_SERVICE_ID`` → ``ksql.service.id``;
``KSQLPY_DATA_DIR`` is the data directory), then command-line flags. Server keys:
``listeners`` (``http://0.0.0.0:8088``), ``ksql.max.push.queries``, ``ssl.certificate.location``,
``ssl.key.location``, ``authentication.basic.file``, ``authentication.skip.paths``,
``authentication.realm``, ``ksql.properties.overrides.denylist``, ``ksqlpy.max.request.bytes``,
``ksqlpy.log`` (embedded|memory|kafka); every other key goes to the engine as a property
(``bootstrap.servers`` and Kafka client settings included: ``--bootstrap-servers`` selects
the Kafka log backend).
SIGTERM/SIGINT stop the server gracefully (queries closed, engine closed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from urllib.parse import urlsplit

from ksqlpy.server.app import KsqlServer, ServerConfig

__all__ = ["main", "build_config", "read_properties"]

SERVER_KEYS = {"listeners", "ksql.max.push.queries", "ssl.certificate.location",
               "ssl.key.location", "authentication.basic.file", "authentication.skip.paths",
               "authentication.realm", "ksql.properties.overrides.denylist",
               "ksqlpy.max.request.bytes", "ksqlpy.log", "data.dir",
               "ksql.queries.file"}  # [headless]


def read_properties(path: str) -> dict[str, str]:
    props = {}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#!":
                continue
            sep = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
            if sep < 0:
                props[line] = ""
            else:
                props[line[:sep].strip()] = line[sep + 1:].strip()
    return props


def env_properties(environ=None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    out = {}
    for k, v in environ.items():
        if k.startswith("KSQLPY_") and len(k) > 7:
            out[k[7:].lower().replace("_", ".")] = v
    return out


def build_config(argv: list[str]) -> ServerConfig:
    p = argparse.ArgumentParser(prog="ksqlpy server", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, help="port (default 8088)")
    p.add_argument("--data-dir", help="data directory (default $KSQLPY_DATA_DIR or "
                                      "./ksqlpy-data)")
    p.add_argument("--config", help="java-properties file of server and ksql settings")
    p.add_argument("--memory", action="store_true", help="keep everything in memory")
    # [kafka hook] the Kafka log backend (ksqlpy.log.kafka); client settings from --config
    p.add_argument("--bootstrap-servers", help="Kafka brokers host:port[,…]: use the Kafka "
                                               "log backend instead of the embedded log")
    p.add_argument("--ssl-cert", help="PEM certificate (enables TLS; HTTP/2 via ALPN)")
    p.add_argument("--ssl-key", help="PEM private key")
    p.add_argument("--auth-file", help="HTTP Basic users: lines user:bcrypt-hash")
    p.add_argument("--max-push-queries", type=int)
    p.add_argument("--queries-file", help="headless mode: run only the statements of this "
                                          "file (ksql.queries.file); the REST API refuses "
                                          "statements")  # [headless]
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    settings: dict[str, str] = {}
    if args.config:
        settings.update(read_properties(args.config))
    settings.update(env_properties())
    cfg = ServerConfig()
    listeners = settings.get("listeners")
    if listeners:
        u = urlsplit(listeners.split(",")[0].strip())
        cfg.host = u.hostname or cfg.host
        cfg.port = u.port or cfg.port
    cfg.data_dir = settings.get("data.dir")
    if "ksql.max.push.queries" in settings:
        cfg.max_push_queries = int(settings["ksql.max.push.queries"])
    cfg.ssl_cert = settings.get("ssl.certificate.location")
    cfg.ssl_key = settings.get("ssl.key.location")
    cfg.auth_file = settings.get("authentication.basic.file")
    if "authentication.skip.paths" in settings:
        cfg.skip_auth_paths = tuple(s.strip() for s in
                                    settings["authentication.skip.paths"].split(",") if s.strip())
    cfg.auth_realm = settings.get("authentication.realm", cfg.auth_realm)
    if settings.get("ksql.properties.overrides.denylist"):
        cfg.denylist = tuple(s.strip() for s in
                             settings["ksql.properties.overrides.denylist"].split(","))
    if "ksqlpy.max.request.bytes" in settings:
        cfg.max_body_bytes = int(settings["ksqlpy.max.request.bytes"])
    cfg.log = settings.get("ksqlpy.log", cfg.log)
    cfg.properties = {k: v for k, v in settings.items() if k not in SERVER_KEYS}
    cfg.queries_file = args.queries_file or settings.get("ksql.queries.file")  # [headless]
    if args.host:
        cfg.host = args.host
    if args.port is not None:
        cfg.port = args.port
    if args.data_dir:
        cfg.data_dir = args.data_dir
    if args.memory:
        cfg.log = "memory"
    if args.bootstrap_servers:  # [kafka hook]
        cfg.properties["bootstrap.servers"] = args.bootstrap_servers
        cfg.log = "kafka"
    elif cfg.log == "kafka" and not cfg.properties.get("bootstrap.servers"):
        p.error("ksqlpy.log=kafka needs --bootstrap-servers or bootstrap.servers")
    if args.ssl_cert:
        cfg.ssl_cert = args.ssl_cert
    if args.ssl_key:
        cfg.ssl_key = args.ssl_key
    if args.auth_file:
        cfg.auth_file = args.auth_file
    if args.max_push_queries is not None:
        cfg.max_push_queries = args.max_push_queries
    if cfg.ssl_cert and not cfg.ssl_key:
        p.error("--ssl-cert needs --ssl-key")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return cfg


async def serve(cfg: ServerConfig) -> int:
    server = KsqlServer(cfg)
    await server.start()
    if cfg.queries_file:  # [headless] ksqlDB's welcome line, once the file has run
        await server.wait_ready()
        if server.failed.is_set():
            print(f"Failed to start KSQL Server with query file: {cfg.queries_file}: "
                  f"{server.startup_error or 'see the log'}", file=sys.stderr, flush=True)
            await server.stop()
            return 1
        from ksqlpy.server.app import VERSION

        print(f"Server {VERSION} started with query file {cfg.queries_file}. Interactive "
              "mode is disabled.", flush=True)
    print(f"ksqlpy server listening on {'https' if cfg.ssl_cert else 'http'}://"
          f"{cfg.host}:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(server.failed.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for w in waits:
        w.cancel()
    logging.getLogger(__name__).info("shutting down")
    await server.stop()
    return 1 if server.failed.is_set() else 0


def main(argv: list[str] | None = None) -> int:
    cfg = build_config(list(sys.argv[1:] if argv is None else argv))
    return asyncio.run(serve(cfg))


if __name__ == "__main__":
    sys.exit(main())
