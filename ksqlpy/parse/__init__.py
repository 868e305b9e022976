"""AST helpers between the grammar and the engine: identifier names and WITH properties."""

from ksqlpy.parse.names import name_of
from ksqlpy.parse.properties import WithProperties, parse_with

__all__ = ["name_of", "WithProperties", "parse_with"]
