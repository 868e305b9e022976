"""ksqlpy: a streaming SQL engine that speaks ksqlDB's SQL and REST API over Arrow batches."""

__version__ = "0.1.0"
__all__ = ["__version__"]
