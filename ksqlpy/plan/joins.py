"""Planning joins (stage: analysis → operators).

``FROM a JOIN b ON … [JOIN c ON …]`` is planned left-deep. Every source's columns enter the
joined row as ``<ALIAS>_<COLUMN>``; a reference resolves by qualifier, or unqualified when
only one source has the column ("Column 'X' is ambiguous" otherwise). The result's key is
the join expression's column (left side preferred), or a synthetic ``ROWKEY`` when both
sides are expressions or the join is FULL OUTER, as in ksqlDB. Projection names follow
ksqlDB too: a column keeps its bare name when no other source has it, else
``<ALIAS>_<COLUMN>``; ``*`` always gives prefixed names.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ksqlpy.catalog import Catalog, Source
from ksqlpy.errors import AnalysisError
from ksqlpy.expr import CompileContext, compile_expr
from ksqlpy.operators.join import (JOIN_KEY, LEFT, RIGHT, ForeignKeyJoin, JoinSide, Prefix,
                                   StreamStreamJoin, StreamTableJoin, TableTableJoin)
from ksqlpy.operators.stateless import Select
from ksqlpy.parse import name_of
from ksqlpy.plan.scope import RowScope, ScopeColumn
from ksqlpy.schema import (KEY, PSEUDO_COLUMNS, ROWTIME, VALUE, WINDOW_BOUNDS, Column,
                           LogicalSchema)

SYNTHETIC_KEY = "ROWKEY"


@dataclass
class JoinedSource:
    """What later planning stages need to know of a join's result."""

    kind: str                 # STREAM or TABLE
    schema: LogicalSchema     # key: the join key column (__join_key)
    name: str = "JOIN"
    window = None


class JoinScope(RowScope):
    """Columns of several aliased sources, resolved by qualifier or unique bare name."""

    def __init__(self, sides: list[tuple[str, Source]], synthetic_key: tuple | None = None):
        self.sides = sides
        self.qualified: dict[tuple[str, str], ScopeColumn] = {}
        self.owners: dict[str, list[str]] = {}
        cols = [ScopeColumn(ROWTIME, PSEUDO_COLUMNS[ROWTIME], "PSEUDO", ROWTIME)]
        for alias, src in sides:
            for name, t, ns in _source_columns(src):
                sc = ScopeColumn(f"{alias}_{name}", t, ns, f"{alias}_{name}")
                cols.append(sc)
                self.qualified[(alias, name)] = sc
                if ns != "PSEUDO":
                    self.owners.setdefault(name, []).append(alias)
        self.synthetic_key = synthetic_key
        if synthetic_key is not None:
            cols.append(ScopeColumn(SYNTHETIC_KEY, synthetic_key[1], KEY, JOIN_KEY))
        super().__init__(cols, {a for a, _ in sides})

    def resolve(self, qualifier, name):
        col = self.lookup_ref(qualifier, name)
        return col.batch_name, col.type

    def lookup_ref(self, qualifier, name) -> ScopeColumn:
        if qualifier is not None:
            if qualifier not in self.aliases:
                raise AnalysisError(f"'{qualifier}' is not a valid stream/table name or alias.")
            col = self.qualified.get((qualifier, name))
            if col is None:
                prefix = f"{self.clause} column" if self.clause else "Column"
                raise AnalysisError(f"{prefix} '{qualifier}.{name}' cannot be resolved.")
            return col
        if name == SYNTHETIC_KEY and self.synthetic_key is not None:
            return self.columns[SYNTHETIC_KEY]
        owners = self.owners.get(name, [])
        if len(owners) > 1:
            shown = " or ".join(f"{a}.{name}" for a in owners)
            raise AnalysisError(f"Column '{name}' is ambiguous. Could be {shown}.")
        if len(owners) == 1:
            return self.qualified[(owners[0], name)]
        if name in self.columns:
            return self.columns[name]
        prefix = f"{self.clause} column" if self.clause else "Column"
        raise AnalysisError(f"{prefix} '{name}' cannot be resolved.")

    def column_of(self, node: exp.Column) -> tuple[str, str] | None:
        """(alias, bare name) a column reference resolves to, or None (ROWKEY, ROWTIME)."""
        q = name_of(node.args["table"]) if node.args.get("table") else None
        col = self.lookup_ref(q, name_of(node.this))
        for (alias, name), sc in self.qualified.items():
            if sc is col:
                return alias, name
        return None

    def output_name(self, alias: str, name: str) -> str:
        return name if len(self.owners.get(name, [])) == 1 else f"{alias}_{name}"


def _source_columns(src: Source):
    out = [(n, t, "PSEUDO") for n, t in PSEUDO_COLUMNS.items()]
    if src.window is not None:
        out += [(n, t, "WINDOW") for n, t in WINDOW_BOUNDS.items()]
    out += [(c.name, c.type, c.namespace) for c in src.schema.columns]
    return out


def _refs(node: exp.Expression, scope: JoinScope) -> set[str]:
    aliases = set()
    for col in node.find_all(exp.Column):
        found = scope.column_of(col)
        if found is not None:
            aliases.add(found[0])
    return aliases


def _join_kind(join: exp.Join) -> str:
    side = (join.args.get("side") or "").upper()
    if side == "FULL":
        return "OUTER"
    return side if side in ("LEFT", "RIGHT") else "INNER"


def _format(node) -> str:
    from ksqlpy.grammar import to_sql

    return to_sql(node).replace("`", "")


def plan_joins(select: exp.Select, catalog: Catalog, ctx: CompileContext, first: Source,
               first_alias: str, steps: list):
    """Plan the FROM clause's joins. Returns (routes, post_operators, joined scope, the
    joined source description, key info) — routes as (Source, [operators up to the end of the
    joins]) per joined source."""
    sides = [(first_alias, first)]
    for j in select.args["joins"]:
        table = j.this
        if not isinstance(table, exp.Table):
            raise AnalysisError("Only streams and tables can be joined.")
        name = name_of(table.this)
        src = catalog.source(name)
        if src is None:
            raise AnalysisError(f"{name} does not exist.")
        alias = name_of(table.args["alias"].this) if table.args.get("alias") else name
        if src.name in {s.name for _, s in sides}:
            raise AnalysisError(f"Can not join '{src.name}' to '{src.name}': self joins are not "
                                f"yet supported.")
        if alias in {a for a, _ in sides}:
            raise AnalysisError(f"Can not join '{alias}' to '{alias}': self joins require "
                                f"aliases." if alias == name else
                                f"Duplicate source alias: {alias}")
        sides.append((alias, src))
    full = JoinScope(sides)

    def prefix_op(alias, src):
        return Prefix([(n, f"{alias}_{n}") for n, _, _ in _source_columns(src)])

    routes = {alias: [prefix_op(alias, src)] for alias, src in sides}
    left_kind = first.kind
    left_aliases = [first_alias]
    key_info = None
    for i, j in enumerate(select.args["joins"]):
        alias, src = sides[i + 1]
        kind = _join_kind(j)
        on = j.args.get("on")
        if not isinstance(on, exp.EQ):
            raise AnalysisError(
                f"Unsupported join expression: {_format(on) if on is not None else 'none'}. "
                f"Only equality joins of one expression per side are supported.")
        a, b = on.this, on.expression
        ra, rb = _refs(a, full), _refs(b, full)
        if ra == {alias} and rb and alias not in rb:
            a, b, ra, rb = b, a, rb, ra
        if rb != {alias} or not ra or alias in ra or not ra <= set(left_aliases):
            bad = a if (not ra or alias in ra) else b
            raise AnalysisError(
                f"Invalid comparison expression '{_format(bad)}' in join '({_format(on)})'. "
                f"Each side of the join comparision must contain references from exactly one "
                f"source.")
        left_scope = JoinScope([s for s in sides if s[0] in left_aliases],
                               key_info["synthetic"] if key_info else None)
        right_scope = JoinScope([sides[i + 1]])
        left_scope.clause = right_scope.clause = "JOIN ON"
        left_key = compile_expr(a, left_scope, ctx)
        right_key = compile_expr(b, right_scope, ctx)
        _check_windows(sides, left_aliases, alias, src)
        if left_key.type != right_key.type:
            raise AnalysisError(
                f"Invalid join condition: types don't match. Got {_format(a)}{{"
                f"{left_key.type}}} = {_format(b)}{{{right_key.type}}}.")
        within = j.args.get("within")
        right_kind = src.kind
        left_col = full.column_of(a) if isinstance(a, exp.Column) else None
        right_col = full.column_of(b) if isinstance(b, exp.Column) else None
        if left_kind == "TABLE" and right_kind == "STREAM":
            raise AnalysisError(
                f"Invalid join order: table-stream joins are not supported; only stream-table "
                f"joins. Got {_describe(sides, left_aliases)} {_JOIN_WORDS[kind]} "
                f"{src.name}.")
        left_cols = [(c.batch_name, c.type.to_arrow()) for c in left_scope.order
                     if c.batch_name not in (ROWTIME, JOIN_KEY)]
        right_cols = [(c.batch_name, c.type.to_arrow()) for c in right_scope.order
                      if c.batch_name != ROWTIME]
        args = (kind, (left_key, right_key), (left_cols, right_cols),
                left_key.type.to_arrow())
        fk = False
        if left_kind == "STREAM" and right_kind == "STREAM":
            if within is None:
                raise AnalysisError("Stream-Stream joins must have a WITHIN clause specified. "
                                    "None was provided. To learn about how to specify a WITHIN "
                                    "clause with a stream-stream join, please visit: "
                                    "https://docs.confluent.io/current/ksql/docs/syntax-"
                                    "reference.html#create-stream-as-select")
            from ksqlpy.plan.aggregation import duration_ms

            op = StreamStreamJoin(*args, before=duration_ms(within.args["before"]),
                                  after=duration_ms(within.args["after"]),
                                  grace=duration_ms(within.args.get("grace")))
            result_kind = "STREAM"
        else:
            if within is not None:
                raise AnalysisError(
                    "A window definition was provided for a Stream-Table join. These joins are "
                    "not windowed. Please drop the window definition (ie. the WITHIN clause) "
                    "and try to execute your join again.")
            if left_kind == "STREAM" and kind not in ("INNER", "LEFT"):
                what = "full-outer" if kind == "OUTER" else "right"
                raise AnalysisError(
                    f"Invalid join type: {what} join not supported for stream-table join. "
                    f"Got {_describe(sides, left_aliases)} {_JOIN_WORDS[kind]} {src.name}.")
            if not _is_primary_key(right_col, src):
                got = f"Got {_format(on.this)} = {_format(on.expression)}."
                if left_kind == "STREAM":
                    raise AnalysisError(
                        f"Invalid join condition: stream-table joins require to join on the "
                        f"table's primary key. {got}")
                raise AnalysisError(
                    f"Invalid join condition: table-table joins require to join on the primary "
                    f"key of the right input table. {got}")
            if left_kind == "STREAM":
                op = StreamTableJoin(*args)
                result_kind = "STREAM"
            elif len(left_aliases) == 1 and not _is_primary_key(left_col, sides[0][1]):
                if kind not in ("INNER", "LEFT"):
                    raise AnalysisError(
                        "Invalid join type: foreign-key table-table joins support only INNER "
                        "and LEFT joins.")
                first_pk = sides[0][1].schema.key
                pk_fn = compile_expr(exp.column(exp.to_identifier(first_pk[0].name, quoted=True),
                                                table=exp.to_identifier(left_aliases[0],
                                                                        quoted=True)),
                                     left_scope, ctx)
                args = (kind, (left_key, right_key), (left_cols, right_cols),
                        pk_fn.type.to_arrow())
                op = ForeignKeyJoin(*args, left_key=pk_fn)
                result_kind = "TABLE"
                fk = True
            else:
                op = TableTableJoin(*args)
                result_kind = "TABLE"
        for la in left_aliases:
            routes[la].append(JoinSide(op, LEFT))
        routes[alias].append(JoinSide(op, RIGHT))
        steps.append({"@type": {"StreamStreamJoin": "streamStreamJoin/v1",
                                "StreamTableJoin": "streamTableJoin/v1",
                                "TableTableJoin": "tableTableJoin/v1",
                                "ForeignKeyJoin": "foreignKeyTableTableJoin/v1"}[type(op).__name__],
                      "joinType": kind, "leftJoinExpression": _format(a),
                      "rightJoinExpression": _format(b)})
        # the result's key
        if fk:
            pk = sides[0][1].schema.key[0].name
            key_info = {"aliases": [(left_aliases[0], pk)], "synthetic": None,
                        "type": pk_fn.type, "exprs": [_format(exp.column(pk, left_aliases[0]))]}
        elif kind == "OUTER" or (left_col is None and right_col is None):
            key_info = {"aliases": [], "synthetic": (SYNTHETIC_KEY, left_key.type),
                        "type": left_key.type, "exprs": [SYNTHETIC_KEY]}
        else:
            cols = [c for c in (left_col, right_col) if c is not None]
            if key_info is not None and key_info["synthetic"] is None and \
                    left_col in key_info["aliases"]:
                # joined on the key the previous joins produced: every column equal to it
                # along the chain can stand for the key
                cols = key_info["aliases"] + [c for c in cols if c not in key_info["aliases"]]
            key_info = {"aliases": cols, "synthetic": None, "type": left_key.type,
                        "exprs": [f"{al}.{n}" for al, n in cols]}
        left_aliases.append(alias)
        left_kind = result_kind
    scope = JoinScope(sides, key_info["synthetic"])
    joined = JoinedSource(left_kind, LogicalSchema(key=(Column(JOIN_KEY, key_info["type"], KEY),)))
    return [(src, routes[alias]) for alias, src in sides], scope, joined, key_info


def _check_windows(sides, left_aliases, alias, right: Source) -> None:
    left = [(a, s) for a, s in sides if a in left_aliases]
    lw = left[0][1].window
    rw = right.window
    if (lw is None) != (rw is None):
        win, plain = (left[0], (alias, right)) if lw is not None else ((alias, right), left[0])
        raise AnalysisError(
            f"Can not join windowed source to non-windowed source.\n`{win[1].name}` is "
            f"{win[1].window.type} windowed\n`{plain[1].name}` is not windowed")
    if lw is not None and (lw.type == "SESSION") != (rw.type == "SESSION"):
        raise AnalysisError(
            f"Incompatible windowed sources.\nLeft source: {lw.type}\nRight source: {rw.type}\n"
            f"Session windowed sources can only be joined to other session windowed sources, "
            f"and may still not result in expected behaviour as session bounds must be an "
            f"exact match.")
    if lw is not None:
        from ksqlpy.errors import NotSupportedError

        raise NotSupportedError("Joins of windowed sources are not supported yet.")


_JOIN_WORDS = {"INNER": "[INNER] JOIN", "LEFT": "LEFT [OUTER] JOIN",
               "RIGHT": "RIGHT [OUTER] JOIN", "OUTER": "[FULL] OUTER JOIN"}


def _describe(sides, aliases) -> str:
    """The left input as ksqlDB's messages name it: its source names."""
    names = dict(sides)
    return " JOIN ".join(names[a].name for a in aliases)


def _is_primary_key(col: tuple[str, str] | None, src: Source) -> bool:
    return col is not None and len(src.schema.key) == 1 and src.schema.key[0].name == col[1]


def plan_join_projection(select: exp.Select, scope: JoinScope, key_info: dict, ctx,
                         *, sink_name: str | None):
    """The SELECT list over a joined row: ksqlDB's names and key rules."""
    from ksqlpy.plan.planner import RESERVED, _Names

    items = []
    for item in select.expressions:
        alias = name_of(item.args["alias"]) if isinstance(item, exp.Alias) else None
        node = item.this if isinstance(item, exp.Alias) else item
        star_of = None
        if isinstance(node, exp.Star):
            star_of = "*"
        elif isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
            star_of = name_of(node.args["table"])
            if star_of not in scope.aliases:
                raise AnalysisError(f"'{star_of}' is not a valid stream/table name or alias.")
        if star_of is None:
            items.append((node, alias, None))
            continue
        if star_of == "*" and key_info["synthetic"] is not None:
            items.append((exp.column(SYNTHETIC_KEY), None, None))
        for a, src in scope.sides:
            if star_of not in ("*", a):
                continue
            for c in src.schema.key + src.schema.value:
                items.append((exp.column(exp.to_identifier(c.name, quoted=True),
                                         table=exp.to_identifier(a, quoted=True)),
                              None, f"{a}_{c.name}"))
    names = _Names({a for _, a, _ in items if a})
    key_aliases = set(key_info["aliases"])
    persistent = sink_name is not None
    key_col: Column | None = None
    key_first: str | None = None
    key_ref = None
    value_cols: list[Column] = []
    compiled_items = []
    described = []
    seen = set()
    for node, alias, star_name in items:
        ref = scope.column_of(node) if isinstance(node, exp.Column) else None
        if alias:
            name = alias
        elif star_name:
            name = star_name
        elif ref is not None:
            name = scope.output_name(*ref)
        elif isinstance(node, exp.Column) and name_of(node.this) == SYNTHETIC_KEY:
            name = SYNTHETIC_KEY
        else:
            name = names.for_expr(node) if not isinstance(node, exp.Column) else \
                name_of(node.this)
        if alias in RESERVED:  # ksqlDB words this differently for joins
            raise AnalysisError(f"Reserved column name in select: `{alias}`. Please remove or "
                                f"alias the column.")
        if persistent and alias is None and name in RESERVED:
            raise AnalysisError(
                f"Reserved column name in select: `{name}`. Please remove or alias the column.")
        is_key = (ref in key_aliases) or (
            isinstance(node, exp.Column) and ref is None and
            name_of(node.this) == SYNTHETIC_KEY and key_info["synthetic"] is not None)
        this_ref = ref if ref is not None else SYNTHETIC_KEY
        if is_key and persistent and key_col is not None:
            if this_ref != key_ref:
                is_key = False  # the other side's join column: an ordinary value
            else:
                raise AnalysisError(
                    f"The projection contains a key column (`{key_first}`) more than once, "
                    f"aliased as: {key_col.name} and {name}.")
        if is_key and persistent:
            key_ref = this_ref
            compiled = compile_expr(exp.column(exp.to_identifier(JOIN_KEY, quoted=True)),
                                    _KeyScope(key_info["type"]), ctx)
            key_col = Column(name, compiled.type, KEY)
            key_first = name if ref is None else f"{ref[0]}_{ref[1]}"
        else:
            compiled = compile_expr(node, scope, ctx)
            if name in seen:
                raise AnalysisError(f"Duplicate value columns found in schema: `{name}`")
            value_cols.append(Column(name, compiled.type, VALUE))
        seen.add(name)
        compiled_items.append((name, compiled))
        described.append((name, _format(node)))
    if persistent:
        if key_col is None:
            exprs = key_info["exprs"]
            listed = exprs[0] if len(exprs) == 1 else \
                ", ".join(exprs[:-1]) + " or " + exprs[-1]
            what = "join expression" if len(exprs) == 1 else "join expressions"
            raise AnalysisError(
                f"The query used to build `{sink_name}` must include the {what} {listed} in "
                f"its projection (eg, SELECT {exprs[0]}...).")
        if not value_cols:
            raise AnalysisError("The projection contains no value columns.")
    op = Select(compiled_items)
    op.describe_items = described
    key = (key_col,) if key_col is not None else ()
    return LogicalSchema(key=key, value=tuple(value_cols)), op


class _KeyScope:
    def __init__(self, t):
        self.t = t

    def resolve(self, qualifier, name):
        return JOIN_KEY, self.t
