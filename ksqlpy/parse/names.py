"""Identifier normalization (stage: AST → analysis): unquoted names are upper-cased, as in
ksqlDB; quoted ones are kept exactly.

>>> from sqlglot import exp
>>> name_of(exp.Identifier(this="orders", quoted=False)), name_of(exp.Identifier(this="o", quoted=True))
('ORDERS', 'o')
"""

from __future__ import annotations

from sqlglot import exp


def name_of(node) -> str:
    """The catalog name of an identifier-like AST node (or a plain string, returned as is)."""
    if node is None:
        return None
    if isinstance(node, str):
        return node
    if isinstance(node, exp.Identifier):
        return node.this if node.quoted else node.this.upper()
    if isinstance(node, (exp.Table, exp.Column)):
        return name_of(node.this)
    if isinstance(node, exp.Literal):
        return node.this
    return node.name.upper()
