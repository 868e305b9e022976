"""The ksql SQL dialect on sqlglot (pipeline stage 1: SQL text → AST).

Public entry points:

- ``parse(sql) -> list[sqlglot.exp.Expression]``: every statement of a script, in order.
- ``parse_one(sql) -> sqlglot.exp.Expression``: exactly one statement.
- ``parse_data_type(text) -> sqlglot.exp.DataType``: a type in ksql syntax.
- ``substitute_variables(sql, variables) -> str``: replace ``${name}`` before parsing.
- ``to_sql(ast) -> str``: print an AST back as ksql SQL.
- ``KsqlParseError``: raised on syntax errors (attributes ``message``, ``line``, ``column``).

Importing this package registers the ``ksql`` dialect with sqlglot
(``sqlglot.transpile(sql, read="ksql", write="duckdb")``).

AST contract (see the custom nodes in ``expressions.py``):

- Statements: CreateSource, CreateAsSelect, InsertInto, InsertValues, DropSource, AlterSource,
  CreateType, DropType, CreateConnector, DropConnector, Terminate, PauseResume, Show, Describe,
  DescribeFunction, DescribeConnector, Explain, PrintTopic, SetProperty, UnsetProperty,
  AlterSystem, DefineVariable, UndefineVariable, RunScript, AssertTopic, AssertSchema,
  AssertValues, AssertStream; a query is a plain ``exp.Select``.
- ``exp.Select`` extra args: ``window`` (WindowSpec), ``partition_by`` (PartitionBy),
  ``emit`` (Emit); joins are ``exp.Join`` (side LEFT/RIGHT/FULL, kind INNER/OUTER, as sqlglot
  spells them) with an extra ``within`` (Within) arg.
- Types: ``exp.DataType``; STRING/VARCHAR -> DType.VARCHAR, BYTES -> DType.VARBINARY,
  INT/INTEGER -> DType.INT, an unknown name -> DType.USERDEFINED with ``kind=name``.
- Function calls: always ``exp.Anonymous(this=name as written, expressions=args)``; CAST,
  MAP(k := v), STRUCT(f := v), ARRAY[...] keep their own nodes.
- ``a->b`` -> ``Dereference(this=a, expression=Identifier b | exp.Star)``.
- Lambdas: ``exp.Lambda(this=body, expressions=[Identifier, ...])``; inside the body a
  reference to a lambda parameter is a bare ``exp.Identifier`` (sqlglot's convention), not an
  ``exp.Column``.
"""

from .expressions import (  # noqa: F401
    AlterSource, AlterSystem, AssertSchema, AssertStream, AssertTopic, AssertValues,
    CreateAsSelect, CreateConnector, CreateSource, CreateType, DefineVariable, Dereference,
    Describe, DescribeConnector, DescribeFunction, DropConnector, DropSource, DropType, Duration,
    Emit, Explain, InsertInto, InsertValues, KsqlStatement, PartitionBy, PauseResume, PrintTopic,
    RunScript, SetProperty, Show, TableElement, Terminate, UndefineVariable, UnsetProperty,
    Within, WindowSpec, WithProperty,
)
from .dialect import Ksql  # noqa: F401  (importing registers the dialect)
from .parser import (  # noqa: F401
    KsqlParseError, parse, parse_data_type, parse_one, substitute_variables, to_sql,
)
from .keywords import KEYWORDS  # noqa: F401

__all__ = [
    "KsqlParseError", "parse", "parse_one", "parse_data_type", "substitute_variables", "to_sql",
    "Ksql", "KEYWORDS",
]
