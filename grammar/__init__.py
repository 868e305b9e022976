"""The ksql SQL dialect on sqlglot (pipeline stage 1: SQL text → AST).

Public entry points (implemented in ``parser.py``):

- ``parse(sql) -> list[sqlglot.exp.Expression]``: every statement of a script, in order.
- ``parse_one(sql) -> sqlglot.exp.Expression``: exactly one statement.
- ``parse_data_type(text) -> sqlglot.exp.DataType``: a type in ksql syntax.
"""
