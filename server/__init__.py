"""The REST server (stage: server): ksqlDB's HTTP API over HTTP/1.1 and HTTP/2 on one port.

``python -m ksqlpy.server.main --port 8088`` (or ``ksqlpy server``) runs it; see ``main.py``.
"""

__all__ = ["KsqlServer", "ServerConfig"]


def __getattr__(name):
    if name in __all__:
        from ksqlpy.server import app

        return getattr(app, name)
    raise AttributeError(name)
