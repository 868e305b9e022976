"""Pull-query validation (stage: analysis): ksqlDB's ``PullQueryValidator`` rules and the
WHERE-clause analysis of its ``QueryFilterNode`` (key lookups, range scans, table scans).

A pull query is a SELECT without EMIT. Its WHERE clause is rewritten to disjunctive normal form
(IN → OR of equalities, BETWEEN → two bounds, NOT pushed down); each disjunct must be a
conjunction of comparisons (or LIKE). A disjunct with an equality on every key column is a key
lookup; a single bound on a STRING/BYTES key is a range scan; anything else needs a table scan
(``ksql.query.pull.table.scan.enabled``, default true). Messages are ksqlDB's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ksqlpy.errors import AnalysisError
from ksqlpy.parse import name_of
from ksqlpy.schema import ROWOFFSET, ROWPARTITION, WINDOWEND, WINDOWSTART

__all__ = ["PULL_QUERY_SYNTAX_HELP", "DOC_LINK", "validate_pull_select", "not_queryable",
           "KeyAnalysis", "analyze_where", "to_dnf"]

DOC_LINK = "https://cnfl.io/queries"
PULL_QUERY_SYNTAX_HELP = (f" See {DOC_LINK} for more info.\n"
                          "Add EMIT CHANGES if you intended to issue a push query.")
_DISALLOWED = (ROWPARTITION, ROWOFFSET)


def _sql(node) -> str:
    from ksqlpy.grammar import to_sql

    return to_sql(node)


def not_queryable(name: str) -> AnalysisError:
    return AnalysisError(
        f"The `{name}` table isn't queryable. To derive a queryable table, you can do "
        f"'CREATE TABLE QUERYABLE_{name} AS SELECT * FROM {name}'. See {DOC_LINK} for more "
        "info.")


def _limit_value(select: exp.Select) -> int | None:
    limit = select.args.get("limit")
    if limit is None:
        return None
    node = limit.expression if limit.expression is not None else limit.this
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return -int(node.this.this)
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            raise AnalysisError("Failed to prepare statement: Value must be integer for "
                                "command: LIMIT") from None
    raise AnalysisError("Failed to prepare statement: Value must be integer for command: LIMIT")


def _columns_in(node) -> list[str]:
    out = []
    for c in node.find_all(exp.Column):
        if isinstance(c.this, exp.Identifier):
            out.append(name_of(c.this))
    return out


def validate_pull_select(select: exp.Select) -> int | None:
    """ksqlDB's PullQueryValidator rules (before planning); returns the LIMIT."""
    def fail(msg: str):
        raise AnalysisError(msg + PULL_QUERY_SYNTAX_HELP)

    if select.args.get("joins"):
        fail("Pull queries don't support JOIN clauses.")
    if select.args.get("window") is not None:
        fail("Pull queries don't support WINDOW clauses.")
    if select.args.get("group") is not None:
        fail("Pull queries don't support GROUP BY clauses.")
    if select.args.get("partition_by") is not None:
        fail("Pull queries don't support PARTITION BY clauses.")
    if select.args.get("having") is not None:
        fail("Pull queries don't support HAVING clauses.")
    limit = _limit_value(select)
    if limit is not None and limit < 0:
        fail("Pull queries don't support negative integers in the LIMIT clause.")
    bad = []
    for item in select.expressions:
        node = item.this if isinstance(item, exp.Alias) else item
        for name in _columns_in(node):
            if name.upper() in _DISALLOWED and name.upper() not in bad:
                bad.append(name.upper())
    if bad:
        fail("Pull queries don't support the following columns in SELECT clauses: "
             + ", ".join(f"`{b}`" for b in bad) + "\n")
    where = select.args.get("where")
    if where is not None:
        bad = []
        for name in _columns_in(where.this):
            if name.upper() in _DISALLOWED and name.upper() not in bad:
                bad.append(name.upper())
        if bad:
            fail("Pull queries don't support the following columns in WHERE clauses: "
                 + ", ".join(f"`{b}`" for b in bad) + "\n")
    return limit


# -- WHERE analysis --------------------------------------------------------------------------

_NEGATE = {exp.EQ: exp.NEQ, exp.NEQ: exp.EQ, exp.GT: exp.LTE, exp.GTE: exp.LT,
           exp.LT: exp.GTE, exp.LTE: exp.GT, exp.NullSafeEQ: exp.NullSafeNEQ,
           exp.NullSafeNEQ: exp.NullSafeEQ}
_COMPARISONS = tuple(_NEGATE)
_OP_NAMES = {exp.EQ: "EQUAL", exp.NEQ: "NOT_EQUAL", exp.GT: "GREATER_THAN",
             exp.GTE: "GREATER_THAN_OR_EQUAL", exp.LT: "LESS_THAN",
             exp.LTE: "LESS_THAN_OR_EQUAL", exp.NullSafeEQ: "IS_NOT_DISTINCT_FROM",
             exp.NullSafeNEQ: "IS_DISTINCT_FROM"}
_FLIP = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE}


def to_dnf(node) -> list[list]:
    """A predicate as a list of disjuncts, each a list of leaf conditions (ANDed)."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Or):
        return to_dnf(node.this) + to_dnf(node.expression)
    if isinstance(node, exp.And):
        return [a + b for a in to_dnf(node.this) for b in to_dnf(node.expression)]
    if isinstance(node, exp.In) and not node.args.get("query"):
        return [[exp.EQ(this=node.this.copy(), expression=e.copy())]
                for e in node.expressions]
    if isinstance(node, exp.Between):
        return [[exp.GTE(this=node.this.copy(), expression=node.args["low"].copy()),
                 exp.LTE(this=node.this.copy(), expression=node.args["high"].copy())]]
    if isinstance(node, exp.Not):
        inner = node.this
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.Not):
            return to_dnf(inner.this)
        if isinstance(inner, exp.And):
            return to_dnf(exp.Or(this=exp.Not(this=inner.this), expression=exp.Not(
                this=inner.expression)))
        if isinstance(inner, exp.Or):
            return to_dnf(exp.And(this=exp.Not(this=inner.this), expression=exp.Not(
                this=inner.expression)))
        if type(inner) in _NEGATE:
            return [[_NEGATE[type(inner)](this=inner.this.copy(),
                                          expression=inner.expression.copy())]]
    return [[node]]


def _col_name(node) -> str | None:
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
        return name_of(node.this)
    return None


def _show(leaves: list) -> str:
    from ksqlpy.expr.compiler import ksql_text

    parts = [ksql_text(leaf) for leaf in leaves]
    parts = [p if p.startswith("(") else f"({p})" for p in parts]
    out = parts[0]
    for p in parts[1:]:
        out = f"({out} AND {p})"
    return out


@dataclass
class Constraint:
    """One disjunct's access path: ``kind`` is "key" (values per key column), "range" (one
    bound on the single key column) or "scan"."""

    kind: str
    keys: list = field(default_factory=list)        # [(column, value expression)] for "key"
    op: type | None = None                          # comparison class for "range"
    bound: object = None                            # value expression for "range"


@dataclass
class KeyAnalysis:
    table_scan: bool
    constraints: list[Constraint]


def _invalid(msg: str, windowed: bool) -> AnalysisError:
    extra = ""
    if windowed:
        extra = ("\n - (optionally) limits the time bounds of the windowed table."
                 "\n\t Bounds on [`WINDOWSTART`, `WINDOWEND`] are supported"
                 "\n\t Supported operators are [EQUAL, GREATER_THAN, GREATER_THAN_OR_EQUAL, "
                 "LESS_THAN, LESS_THAN_OR_EQUAL]")
    return AnalysisError(
        msg + ". " + PULL_QUERY_SYNTAX_HELP + "\nPull queries require a WHERE clause that:"
        "\n - includes a key equality expression, e.g. `SELECT * FROM X WHERE <key-column> = Y;`."
        "\n - in the case of a multi-column key, is a conjunction of equality expressions that "
        "cover all key columns."
        "\n - to support range expressions, e.g.,  SELECT * FROM X WHERE <key-column> < Y;`, "
        "range scans need to be enabled by setting ksql.query.pull.range.scan.enabled=true"
        + extra +
        "\nIf more flexible queries are needed, , table scans can be enabled by setting "
        "ksql.query.pull.table.scan.enabled=true.")


def _split(leaf):
    """(column name, other side, operator class as seen from the column) or None."""
    left, right = leaf.this, leaf.expression
    if _col_name(right) is not None and _col_name(left) is None:
        op = _FLIP.get(type(leaf), type(leaf))
        return _col_name(right), left, op
    if _col_name(left) is not None:
        return _col_name(left), right, type(leaf)
    return None


def check_like(where, source) -> None:
    """The LIKE checks of ksqlDB's pull-query WHERE validation, which it makes before type
    checking the expression."""
    if where is None:
        return
    windowed = source.window is not None
    for leaf in where.find_all(exp.Like):
        col = _col_name(leaf.this)
        if col is None:
            continue
        c = source.schema.find(col)
        if c is not None and c.type.base != "STRING":
            raise _invalid("The column type for Like condition must be VARCHAR. The column "
                           f"type is {c.type.base}", windowed)


def analyze_where(where, source, *, table_scans: bool, range_scans: bool = True
                  ) -> KeyAnalysis:
    """QueryFilterNode's validation and lookup-constraint extraction."""
    windowed = source.window is not None
    key_cols = list(source.schema.key)
    key_index = {c.name: i for i, c in enumerate(key_cols)}
    if where is None:
        return KeyAnalysis(True, [Constraint("scan")])
    disjuncts = to_dnf(where)
    scan = False
    for leaves in disjuncts:
        seen: set[int] = set()
        keyed = False
        needs_scan = False

        def scan_or(msg: str, windowed_hint: bool = windowed):
            nonlocal needs_scan
            if table_scans:
                needs_scan = True
            else:
                raise _invalid(msg, windowed_hint)

        for leaf in leaves:
            if isinstance(leaf, exp.Like):
                col = _col_name(leaf.this)
                if col is not None:
                    c = source.schema.find(col)
                    if c is None:
                        raise _invalid(f"Like condition on non-existent column {col}", windowed)
                    if c.type.base != "STRING":
                        raise _invalid("The column type for Like condition must be VARCHAR. "
                                       f"The column type is {c.type.base}", windowed)
                    pat = leaf.expression
                    if not (isinstance(pat, exp.Null) or
                            (isinstance(pat, exp.Literal) and pat.is_string)):
                        raise _invalid("Like condition on non-string pattern", windowed)
                else:
                    scan_or("Like condition must be between strings")
                continue
            if not isinstance(leaf, _COMPARISONS):
                raise _invalid(f"Unsupported expression in WHERE clause: {_sql(leaf)}", False)
            parts = _split(leaf)
            if parts is None:
                scan_or("A comparison must directly reference a key column")
                continue
            col, other, op = parts
            if any(True for _ in other.find_all(exp.Column)) and \
                    not isinstance(other, exp.Literal):
                scan_or("A comparison must be between a key column and a resolvable expression")
                continue
            if col in (WINDOWSTART, WINDOWEND):
                if op in (exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ):
                    raise _invalid(f"Unsupported {col} bounds: {_OP_NAMES[op]}", True)
                if not windowed:
                    raise _invalid("Cannot use WINDOWSTART/WINDOWEND on non-windowed source",
                                   False)
                continue
            if col in key_index:
                if op in (exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ):
                    shown = "[" + ", ".join(c.sql() for c in key_cols) + "]"
                    scan_or(f"Bound on key columns '{shown}' must currently be '='")
                if key_index[col] in seen and not table_scans:
                    raise _invalid("A comparison condition on the key column cannot be combined "
                                   "with other comparisons such as an IN predicate", windowed)
                seen.add(key_index[col])
                keyed = True
        if needs_scan:
            scan = True
            break
        if not keyed:
            if table_scans:
                scan = True
                break
            raise _invalid(f"WHERE clause missing key column for disjunct: {_show(leaves)}",
                           windowed)
        if seen and len(seen) != len(key_cols):
            if table_scans:
                scan = True
                break
            names = ", ".join(f"`{key_cols[i].name}`" for i in sorted(seen))
            expected = ", ".join(c.sql() for c in key_cols)
            raise _invalid("Multi-column sources must specify every key in the WHERE clause. "
                           f"Specified: [{names}] Expected: [{expected}]", windowed)
    if scan:
        return KeyAnalysis(True, [Constraint("scan")])
    constraints = []
    for leaves in disjuncts:
        ops: dict[int, tuple[type, object]] = {}
        for leaf in leaves:
            if isinstance(leaf, exp.Like):
                continue
            col, other, op = _split(leaf)
            if col not in key_index:
                continue
            i = key_index[col]
            if i in ops and ops[i][0] is exp.EQ:
                continue
            if op is exp.EQ or i not in ops:
                ops[i] = (op, other)
        if len(ops) > 1 or (ops and ops[next(iter(ops))][0] is exp.EQ):
            if all(o is exp.EQ for o, _ in ops.values()):
                constraints.append(Constraint(
                    "key", keys=[(key_cols[i], ops[i][1]) for i in range(len(key_cols))]))
            else:
                constraints.append(Constraint("scan"))
            continue
        (i, (op, other)), = ops.items()
        if key_cols[i].type.base in ("STRING", "BYTES") and range_scans:
            constraints.append(Constraint("range", keys=[(key_cols[i], None)], op=op,
                                          bound=other))
        else:
            constraints.append(Constraint("scan"))
    if len(constraints) > 1 and any(c.kind == "range" for c in constraints):
        constraints.append(Constraint("scan"))  # ranges are scanned one disjunct at most
    if any(c.kind == "scan" for c in constraints):
        if not table_scans:
            raise AnalysisError("Query requires table scan to be enabled. Table scans can be "
                                "enabled by setting ksql.query.pull.table.scan.enabled=true")
        return KeyAnalysis(True, [Constraint("scan")])
    return KeyAnalysis(False, constraints)
