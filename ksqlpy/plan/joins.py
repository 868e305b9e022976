"""Planning joins (stage: analysis → operators).

``FROM a JOIN b ON … [JOIN c ON …]`` is planned left-deep, in ksqlDB's three phases:

1. *prepare*: every column qualifier must name a source, and an unqualified column must
   belong to one source only ("Column 'X' is ambiguous");
2. *analysis* (ksqlDB's ``Analyzer.visitJoinedSource``): each ON clause is one equality whose
   sides reference exactly one, different source each, one of them the joined source; the
   sources' windowing must be compatible;
3. *planning* (ksqlDB's ``LogicalPlanner.verifyJoin``): join order and type, primary-key /
   foreign-key rules, key types, then the projection's key rules and co-partitioning.

Every source's columns enter the joined row as ``<ALIAS>_<COLUMN>``. The result's key
follows ksqlDB's ``JoinTree``: the *viable* key columns are the join expressions' columns
that stay equal to the key along the chain; the first of them the projection contains is
the key, and a synthetic ``ROWKEY`` is used when there is none (FULL OUTER, or expressions on
both sides). A foreign-key join is keyed by the left table's primary key. Projection names
follow ksqlDB too: a column keeps its bare name when no other source has it, else
``<ALIAS>_<COLUMN>``; ``*`` always gives prefixed names. Error messages print expressions as
ksqlDB does: qualified, binary operations parenthesised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ksqlpy.catalog import Catalog, Source, WindowInfo
from ksqlpy.errors import AnalysisError
from ksqlpy.expr import CompileContext, Compiled, compile_expr
from ksqlpy.expr.compiler import ksql_text
from ksqlpy.operators.join import (JOIN_KEY, LEFT, RIGHT, ForeignKeyJoin, JoinSide, Prefix,
                                   StreamStreamJoin, StreamTableJoin, TableTableJoin,
                                   WindowedJoinKey)
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
    window: WindowInfo | None = None  # the sources' window when joining windowed sources


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
        self.synthetic_key = synthetic_key    # (name, type) of a synthetic join key
        if synthetic_key is not None:
            cols.append(ScopeColumn(synthetic_key[0], synthetic_key[1], KEY, JOIN_KEY))
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
        if self.synthetic_key is not None and name == self.synthetic_key[0]:
            return self.columns[name]
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


def _text(node: exp.Expression) -> str:
    """An expression as ksqlDB prints it in messages: ``(A.X = B.Y)``, ``CAST(A.X AS INT)``."""
    if isinstance(node, exp.And):
        return f"({_text(node.this)} AND {_text(node.expression)})"
    return ksql_text(node)


def _location(node: exp.Expression) -> str:
    """ksqlDB's ``Line: L, Col: C: `` prefix for a column reference (its first identifier)."""
    ident = node.args.get("table") or node.this
    meta = getattr(ident, "meta", None) or {}
    if "line" not in meta or "col" not in meta:
        return ""
    col = meta["col"] - (meta.get("end", 0) - meta.get("start", 0))
    return f"Line: {meta['line']}, Col: {col}: "


def _column_refs(node: exp.Expression) -> list[exp.Column]:
    """Column references in text order, without ``*``, ``src.*`` and lambda variables."""
    lambda_vars = {name_of(v) for lam in node.find_all(exp.Lambda)
                   for v in lam.expressions if isinstance(v, exp.Identifier)}
    out = []
    for col in node.find_all(exp.Column):
        if isinstance(col.this, exp.Star):
            continue
        if col.args.get("table") is None and name_of(col.this) in lambda_vars:
            continue
        out.append(col)

    def position(col):
        meta = getattr(col.args.get("table") or col.this, "meta", None) or {}
        return meta.get("start", 1 << 60)

    return sorted(out, key=position)


# -- phase 1: prepare ----------------------------------------------------------------------

def _collect_sides(select: exp.Select, catalog: Catalog, first: Source,
                   first_alias: str) -> list[tuple[str, Source]]:
    """(alias, source) of the FROM source and of every joined one, in FROM order."""
    sides = [(first_alias, first)]
    for j in select.args["joins"]:
        table = j.this
        if not isinstance(table, exp.Table):
            raise AnalysisError("Only streams and tables can be joined.")
        from ksqlpy.plan.planner import table_source

        src, alias = table_source(table, catalog)
        if src.name in {s.name for _, s in sides}:
            if len(sides) > 1:
                raise AnalysisError(f"N-way joins do not support multiple occurrences of the "
                                    f"same source. Source: '{src.name}'.")
            raise AnalysisError(f"Can not join '{src.name}' to '{src.name}': self joins are not "
                                f"yet supported.")
        if alias in {a for a, _ in sides}:
            raise AnalysisError(f"Can not join '{alias}' to '{alias}': self joins require "
                                f"aliases." if alias == name_of(table.this) else
                                f"Duplicate source alias: {alias}")
        sides.append((alias, src))
    return sides


def _check_references(select: exp.Select, scope: JoinScope) -> None:
    """ksqlDB resolves qualifiers and unqualified names while it builds the statement, before
    any analysis; its errors carry the prepare step's prefix (and the column's position)."""
    refs = _column_refs(select)
    for col in refs:
        if col.args.get("table") is not None:
            qualifier = name_of(col.args["table"])
            if qualifier not in scope.aliases:
                raise AnalysisError(f"Failed to prepare statement: '{qualifier}' is not a valid "
                                    f"stream/table name or alias.")
    for col in refs:
        if col.args.get("table") is None:
            name = name_of(col.this)
            owners = scope.owners.get(name, [])
            if len(owners) > 1:
                shown = " or ".join(f"{a}.{name}" for a in owners)
                raise AnalysisError(f"Exception while preparing statement: {_location(col)}"
                                    f"Column '{name}' is ambiguous. Could be {shown}.")


# -- phase 2: analysis of each ON clause ---------------------------------------------------

@dataclass
class JoinInfo:
    """One JOIN clause after analysis, oriented so that ``right`` references the joined
    source and ``left`` an earlier one (ksqlDB's flipped ``JoinInfo``)."""

    kind: str
    alias: str                 # the joined source
    source: Source
    left_alias: str            # the earlier source the left expression references
    left_source: Source
    left: exp.Expression       # qualified
    right: exp.Expression      # qualified
    flipped: bool              # written with the joined source's side first
    within: exp.Expression | None
    foreign: bool = False      # set by planning: a foreign-key table-table join

    @property
    def as_written(self) -> str:
        """``A.X = B.Y`` in the order the ON clause has them: ksqlDB's messages use it."""
        a, b = (self.right, self.left) if self.flipped else (self.left, self.right)
        return f"{_text(a)} = {_text(b)}"


def _analyze_join(j: exp.Join, alias: str, src: Source,
                  visible: list[tuple[str, Source]]) -> JoinInfo:
    on = j.args.get("on")
    _check_condition_shape(on)
    scope = JoinScope(visible)
    scope.clause = "JOIN ON"
    a, b = _qualify(on.this, scope), _qualify(on.expression, scope)
    whole = exp.EQ(this=a, expression=b)
    la = _only_source(a, whole, _refs(a, scope))
    lb = _only_source(b, whole, _refs(b, scope))
    if la == lb:
        raise AnalysisError(
            f"Each side of the join must reference exactly one source and not the same "
            f"source. Left side references `{la}` and right references `{lb}`")
    sources = dict(visible)
    _check_windows((la, sources[la]), (lb, sources[lb]))
    if alias not in (la, lb):
        raise AnalysisError(
            f"A join criteria is expected to reference the source (`{alias}`) in the FROM "
            f"clause, instead the right source references `{lb}` and the left source "
            f"references `{la}`")
    flipped = la == alias
    if flipped:  # the joined source is always the right input
        a, b, la = b, a, lb
    return JoinInfo(_join_kind(j), alias, src, la, sources[la], a, b, flipped,
                    j.args.get("within"))


def _check_condition_shape(on) -> None:
    if isinstance(on, exp.EQ):
        return
    if isinstance(on, exp.And) and isinstance(on.this, exp.EQ) and \
            isinstance(on.expression, exp.EQ):
        raise AnalysisError(f"Invalid join condition: joins on multiple conditions are not yet "
                            f"supported. Got {_text(on)}.")
    if isinstance(on, (exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
        raise AnalysisError("Only equality join criteria is supported.")
    raise AnalysisError(
        f"Unsupported join expression: {_format(on) if on is not None else 'none'}. "
        f"Only equality joins of one expression per side are supported.")


def _qualify(node: exp.Expression, scope: JoinScope) -> exp.Expression:
    """A copy of ``node`` whose column references all carry their source's alias."""
    node = node.copy()
    for col in _column_refs(node):
        try:
            found = scope.column_of(col)
        except AnalysisError as e:
            raise AnalysisError(_location(col) + e.message) from None
        if found is not None and col.args.get("table") is None:
            col.set("table", exp.to_identifier(found[0], quoted=True))
    return node


def _only_source(side: exp.Expression, whole: exp.Expression, sources: set[str]) -> str:
    if len(sources) != 1:
        raise AnalysisError(
            f"Invalid comparison expression '{_text(side)}' in join '{_text(whole)}'. Each "
            f"side of the join comparision must contain references from exactly one source.")
    return next(iter(sources))


def _check_windows(left: tuple[str, Source], right: tuple[str, Source]) -> None:
    lw, rw = left[1].window, right[1].window
    if (lw is None) != (rw is None):
        def says(side):
            return f"{side[1].window.type} windowed" if side[1].window else "not windowed"

        raise AnalysisError(
            f"Can not join windowed source to non-windowed source.\n`{left[0]}` is "
            f"{says(left)}\n`{right[0]}` is {says(right)}")
    if lw is not None and (lw.type == "SESSION") != (rw.type == "SESSION"):
        raise AnalysisError(
            f"Incompatible windowed sources.\nLeft source: {lw.type}\nRight source: {rw.type}\n"
            f"Session windowed sources can only be joined to other session windowed sources, "
            f"and may still not result in expected behaviour as session bounds must be an "
            f"exact match for the join to work\nHopping and tumbling windowed sources can only "
            f"be joined to other hopping and tumbling windowed sources")


def _check_value_formats(sides: list[tuple[str, Source]]) -> None:
    """The KAFKA value format cannot be joined (ksqlDB's ``Analyzer.validate``)."""
    kafka = [alias for alias, src in sides if src.value_format.name == "KAFKA"]
    if kafka:
        raise AnalysisError(f"Source(s) {', '.join(kafka)} are using the 'KAFKA' value format. "
                            f"This format does not yet support JOIN.")


# -- phase 3: planning ---------------------------------------------------------------------

_JOIN_WORDS = {"INNER": "[INNER] JOIN", "LEFT": "LEFT [OUTER] JOIN",
               "RIGHT": "RIGHT [OUTER] JOIN", "OUTER": "[FULL] OUTER JOIN"}

_STEP_TYPES = {StreamStreamJoin: "streamStreamJoin/v1", StreamTableJoin: "streamTableJoin/v1",
               TableTableJoin: "tableTableJoin/v1", ForeignKeyJoin: "foreignKeyTableTableJoin/v1"}


@dataclass
class JoinKey:
    """The key of a join's result, as ksqlDB's ``JoinKey`` / ``JoinTree`` define it.

    ``viable``: the source columns equal to the key (for the projection to carry it);
    ``synthetic``: (name, type) of a ``ROWKEY``-like column when there is none; ``foreign``:
    the left table's primary-key columns, the key of a foreign-key join."""

    type: object
    viable: list[tuple[str, str]] = field(default_factory=list)
    equivalent: set[str] = field(default_factory=set)
    synthetic: tuple | None = None
    foreign: list[tuple[str, str]] = field(default_factory=list)
    foreign_source: str = ""

    @property
    def exprs(self) -> list[str]:
        """The expressions a projection may use for the key, for messages."""
        if self.synthetic is not None:
            return [self.synthetic[0]]
        return [f"{a}.{n}" for a, n in self.viable]


@dataclass
class JoinPlan:
    """The planned FROM clause: one route per source up to the joins' output."""

    routes: list[tuple[Source, list]]
    scope: JoinScope
    joined: JoinedSource
    key: JoinKey
    sides: list[tuple[str, Source]]
    infos: list[JoinInfo]


def plan_joins(select: exp.Select, catalog: Catalog, ctx: CompileContext, first: Source,
               first_alias: str, steps: list) -> JoinPlan:
    """Plan the FROM clause's joins (see the module docstring for the phases)."""
    sides = _collect_sides(select, catalog, first, first_alias)
    full = JoinScope(sides)
    _check_references(select, full)
    infos = [_analyze_join(j, *sides[i + 1], sides[:i + 2])
             for i, j in enumerate(select.args["joins"])]
    _check_value_formats(sides)

    routes = {alias: [_prefix_op(alias, src)] for alias, src in sides}
    sources = dict(sides)
    left_kind = first.kind
    left_aliases = [first_alias]
    key: JoinKey | None = None
    for info in infos:
        left_scope = JoinScope([s for s in sides if s[0] in left_aliases],
                               key.synthetic if key else None)
        right_scope = JoinScope([(info.alias, info.source)])
        left_scope.clause = right_scope.clause = "JOIN ON"
        left_key = compile_expr(info.left, left_scope, ctx)
        right_key = compile_expr(info.right, right_scope, ctx)
        left_col = full.column_of(info.left) if isinstance(info.left, exp.Column) else None
        right_col = full.column_of(info.right) if isinstance(info.right, exp.Column) else None
        _check_join_order(info, left_kind)
        _check_within(info, left_kind)
        result_kind = "STREAM" if left_kind == "STREAM" else "TABLE"
        fk = left_kind == "TABLE" and not _is_primary_key(left_col, sources)
        info.foreign = fk
        if info.source.kind == "TABLE":
            _check_table_join(info, left_kind, right_col, fk, len(left_aliases) > 1)
        key_fns = (left_key, right_key)
        if first.window is not None:
            key_fns = (_windowed_key(left_key, info.left_alias, first.window),
                       _windowed_key(right_key, info.alias, first.window))
        if fk:
            _check_foreign_key(info, left_key, right_key)
            pk_fn = _primary_key_fn(info.left_alias, sources[info.left_alias], left_scope, ctx)
            key_type = pk_fn.type
        else:
            _check_key_types(info, left_key, right_key)
            key_type = left_key.type
        _check_windowed_keys(info, sources, left_col, right_col)
        _check_map_key(info, left_col, left_key.type)
        left_cols = [(c.batch_name, c.type.to_arrow()) for c in left_scope.order
                     if c.batch_name not in (ROWTIME, JOIN_KEY)]
        right_cols = [(c.batch_name, c.type.to_arrow()) for c in right_scope.order
                      if c.batch_name != ROWTIME]
        args = (info.kind, key_fns, (left_cols, right_cols),
                (key_fns[0].type if first.window is not None else key_type).to_arrow())
        op = _join_operator(info, left_kind, args, fk, pk_fn if fk else None)
        for la in left_aliases:
            routes[la].append(JoinSide(op, LEFT))
        routes[info.alias].append(JoinSide(op, RIGHT))
        steps.append({"@type": _STEP_TYPES[type(op)], "joinType": info.kind,
                      "leftJoinExpression": _text(info.left),
                      "rightJoinExpression": _text(info.right)})
        key = _result_key(info, key, left_col, right_col, key_type, sides, fk)
        left_aliases.append(info.alias)
        left_kind = result_kind
    if first.window is not None:
        unwrap = WindowedJoinKey(first.window.size_ms if first.window.type != "SESSION"
                                 else None)
        for alias in routes:
            routes[alias].append(unwrap)
    scope = JoinScope(sides, key.synthetic)
    joined = JoinedSource(left_kind, LogicalSchema(key=(Column(JOIN_KEY, key.type, KEY),)),
                          window=first.window)
    return JoinPlan([(src, routes[alias]) for alias, src in sides], scope, joined, key, sides,
                    infos)


def _windowed_key(inner: Compiled, alias: str, window: WindowInfo) -> Compiled:
    """The join key of a windowed source's row: {K: key, S: window start[, E: end]}. Time
    windows match on their start only, as ksqlDB re-reads both sides with the left side's
    window serde; session windows need both bounds to match."""
    import pyarrow as pa

    from ksqlpy.types import BIGINT, struct

    bounds = [("S", f"{alias}_WINDOWSTART")]
    if window.type == "SESSION":
        bounds.append(("E", f"{alias}_WINDOWEND"))
    t = struct([("K", inner.type)] + [(n, BIGINT) for n, _ in bounds])

    def fn(batch):
        arrays = [inner(batch)] + [batch.column(c) for _, c in bounds]
        return pa.StructArray.from_arrays(arrays, names=["K"] + [n for n, _ in bounds])

    return Compiled(t, fn, inner.sql)


def _prefix_op(alias: str, src: Source) -> Prefix:
    return Prefix([(n, f"{alias}_{n}") for n, _, _ in _source_columns(src)])


def _check_join_order(info: JoinInfo, left_kind: str) -> None:
    if left_kind == "TABLE" and info.source.kind == "STREAM":
        raise AnalysisError(
            f"Invalid join order: table-stream joins are not supported; only stream-table "
            f"joins. Got {info.left_source.name} {_JOIN_WORDS[info.kind]} "
            f"{info.source.name}.")


def _check_within(info: JoinInfo, left_kind: str) -> None:
    stream_stream = left_kind == "STREAM" and info.source.kind == "STREAM"
    if stream_stream and info.within is None:
        raise AnalysisError("Stream-Stream joins must have a WITHIN clause specified. None was "
                            "provided. To learn about how to specify a WITHIN clause with a "
                            "stream-stream join, please visit: https://docs.confluent.io/"
                            "current/ksql/docs/syntax-reference.html#create-stream-as-select")
    if not stream_stream and info.within is not None:
        raise AnalysisError(
            "A window definition was provided for a Stream-Table join. These joins are not "
            "windowed. Please drop the window definition (ie. the WITHIN clause) and try to "
            "execute your join again.")


def _check_table_join(info: JoinInfo, left_kind: str, right_col, fk: bool,
                      n_way: bool) -> None:
    """ksqlDB's checks of a join whose right input is a table."""
    got = f"Got {info.left_source.name} {_JOIN_WORDS[info.kind]} {info.source.name}."
    if left_kind == "STREAM":
        if info.kind not in ("INNER", "LEFT"):
            what = "full-outer" if info.kind == "OUTER" else "right"
            raise AnalysisError(
                f"Invalid join type: {what} join not supported for stream-table join. {got}")
        if not _is_primary_key(right_col, {info.alias: info.source}):
            raise AnalysisError(f"Invalid join condition: stream-table joins require to join on "
                                f"the table's primary key. Got {info.as_written}.")
        return
    if not _is_primary_key(right_col, {info.alias: info.source}):
        raise AnalysisError(f"Invalid join condition: table-table joins require to join on the "
                            f"primary key of the right input table. Got {info.as_written}.")
    if not fk:
        return
    if info.kind == "OUTER":
        raise AnalysisError(
            f"Invalid join type: full-outer join not supported for foreign-key table-table "
            f"join. {got}")
    if info.kind == "RIGHT":
        raise AnalysisError("Invalid join type: RIGHT OUTER JOIN on a foreign key is not "
                            "supported.")
    if n_way:
        raise AnalysisError(f"Invalid join condition: foreign-key table-table joins are not "
                            f"supported as part of n-way joins. Got {info.as_written}.")


def _check_foreign_key(info: JoinInfo, left_key: Compiled, right_key: Compiled) -> None:
    _check_key_types(info, left_key, right_key)
    if info.source.window is not None:
        raise AnalysisError("Foreign-key table-table joins are not supported on windowed "
                            "tables.")


def _check_key_types(info: JoinInfo, left_key: Compiled, right_key: Compiled) -> None:
    if left_key.type == right_key.type:
        return
    a, b = (info.left, left_key.type), (info.right, right_key.type)
    if info.flipped:
        a, b = b, a
    raise AnalysisError(f"Invalid join condition: types don't match. Got {_text(a[0])}{{{a[1]}}}"
                        f" = {_text(b[0])}{{{b[1]}}}.")


def _is_primary_key(col: tuple[str, str] | None, sources: dict) -> bool:
    """Is the column reference (alias, name) the single primary-key column of its source?"""
    if col is None or col[0] not in sources:
        return False
    key = sources[col[0]].schema.key
    return len(key) == 1 and key[0].name == col[1]


def _primary_key_fn(alias: str, src: Source, scope: JoinScope, ctx) -> Compiled:
    """The left table's primary key from a joined row: its one column, or a STRUCT of its
    columns when it has several (the key of a foreign-key join's result)."""
    fns = [compile_expr(exp.column(exp.to_identifier(c.name, quoted=True),
                                   table=exp.to_identifier(alias, quoted=True)), scope, ctx)
           for c in src.schema.key]
    if len(fns) == 1:
        return fns[0]
    from ksqlpy.types import struct

    import pyarrow as pa

    t = struct([(c.name, f.type) for c, f in zip(src.schema.key, fns)])
    names = [c.name for c in src.schema.key]

    def fn(batch):
        return pa.StructArray.from_arrays([f(batch) for f in fns], names=names)

    return Compiled(t, fn, ", ".join(names))


def _check_windowed_keys(info: JoinInfo, sources: dict, left_col, right_col) -> None:
    """Windowed sources join on their key only: ksqlDB cannot repartition them."""
    for col, alias in ((left_col, info.left_alias), (right_col, info.alias)):
        if sources[alias].window is not None and not _is_primary_key(col, sources):
            raise AnalysisError("Implicit repartitioning of windowed sources is not supported. "
                                "See https://github.com/confluentinc/ksql/issues/4385.")


def _check_map_key(info: JoinInfo, left_col, key_type) -> None:
    """A join key is the key of the repartitioned input: it may not contain a MAP."""
    if not _contains_map(key_type):
        return
    name = f"{left_col[0]}_{left_col[1]}" if left_col else "ROWKEY"
    raise AnalysisError(
        "Map keys, including types that contain maps, are not supported as they may lead to "
        f"unexpected behavior due to inconsistent serialization. Key column name: `{name}`. "
        f"Column type: {key_type}. See https://github.com/confluentinc/ksql/issues/6621 for "
        "more.")


def _contains_map(t) -> bool:
    if t is None:
        return False
    if t.base == "MAP":
        return True
    if t.base == "ARRAY":
        return _contains_map(t.item)
    if t.base == "STRUCT":
        return any(_contains_map(ft) for _, ft in t.fields or ())
    return False


def _join_operator(info: JoinInfo, left_kind: str, args, fk: bool, pk_fn):
    if left_kind == "STREAM" and info.source.kind == "STREAM":
        from ksqlpy.plan.aggregation import duration_ms

        within = info.within
        return StreamStreamJoin(*args, before=duration_ms(within.args["before"]),
                                after=duration_ms(within.args["after"]),
                                grace=duration_ms(within.args.get("grace")))
    if left_kind == "STREAM":
        return StreamTableJoin(*args)
    if fk:
        return ForeignKeyJoin(*args, left_key=pk_fn)
    return TableTableJoin(*args)


def _result_key(info: JoinInfo, previous: JoinKey | None, left_col, right_col, key_type,
                sides, fk: bool) -> JoinKey:
    """ksqlDB's ``JoinTree``: the equivalence set and viable key columns of this join."""
    if fk:
        src = info.left_source
        key = JoinKey(key_type, foreign=[(info.left_alias, c.name) for c in src.schema.key],
                      foreign_source=info.left_alias)
    else:
        key = JoinKey(key_type)
    if info.kind == "OUTER":
        equivalent: set[str] = set()
    else:
        mine = {_text(info.left), _text(info.right)}
        before = previous.equivalent if previous is not None else set()
        equivalent = mine | before if mine & before else mine
    candidates = (previous.viable if previous is not None else []) + [left_col, right_col]
    viable = []
    for c in candidates:
        if c is not None and c not in viable and f"{c[0]}.{c[1]}" in equivalent:
            viable.append(c)
    key.equivalent, key.viable = equivalent, viable
    if not fk and not viable:
        key.synthetic = (_synthetic_key_name(sides), key_type)
    return key


def _synthetic_key_name(sides) -> str:
    """``ROWKEY``, or ``ROWKEY_n`` past the highest such name a source already uses."""
    import re

    highest = -1
    for _, src in sides:
        for c in src.schema.columns:
            m = re.fullmatch(r"ROWKEY(?:_(\d+))?", c.name)
            if m:
                highest = max(highest, int(m.group(1) or 0))
    return SYNTHETIC_KEY if highest < 0 else f"{SYNTHETIC_KEY}_{highest + 1}"


def check_partitions(plan: JoinPlan) -> None:
    """Joined inputs must be co-partitioned (foreign-key joins excepted). ksqlDB checks this
    last, when it builds the topology; the left input of a later join is the earlier join,
    whose partition count is its leftmost source's."""
    first_alias, first = plan.sides[0]
    for info in plan.infos:
        if not info.foreign and info.source.partitions != first.partitions:
            raise AnalysisError(
                f"Can't join `{first_alias}` with `{info.alias}` since the number of partitions "
                f"don't match. `{first_alias}` partitions = {first.partitions}; `{info.alias}` "
                f"partitions = {info.source.partitions}. Please repartition either one so that "
                f"the number of partitions match.")


# -- the projection ------------------------------------------------------------------------

class _KeyRule:
    """Which projection items carry the result's key columns, and what to say when they are
    missing. A *slot* is one key column of the result."""

    def __init__(self, plan: JoinPlan, scope: JoinScope, partition: list | None):
        self.key = plan.key
        self.scope = scope
        self.partition = partition
        if partition is not None:
            self.slots = [_text(e) for e in partition]
        elif self.key.foreign:
            self.slots = [f"{a}.{n}" for a, n in self.key.foreign]
        elif self.key.synthetic is not None:
            self.slots = [self.key.synthetic[0]]
        else:
            self.slots = [f"{a}.{n}" for a, n in self.key.viable[:1]]

    def choose(self, refs: list) -> None:
        """ksqlDB keys a join by the first viable column the projection contains."""
        if self.partition is None and not self.key.foreign and self.key.synthetic is None:
            present = [c for c in self.key.viable if c in refs]
            chosen = (present or self.key.viable)[0]
            self.slots = [f"{chosen[0]}.{chosen[1]}"]

    def slot_of(self, node: exp.Expression, ref) -> str | None:
        if self.partition is not None:
            texts = {ref and f"{ref[0]}.{ref[1]}", self._qualified_text(node)}
            return next((slot for slot in self.slots if slot in texts), None)
        if self.key.synthetic is not None:
            plain = isinstance(node, exp.Column) and node.args.get("table") is None
            return self.slots[0] if plain and ref is None and \
                name_of(node.this) == self.key.synthetic[0] else None
        text = ref and f"{ref[0]}.{ref[1]}"
        return text if text in self.slots else None

    def _qualified_text(self, node: exp.Expression) -> str | None:
        try:
            return _text(_qualify(node, self.scope))
        except AnalysisError:
            return None  # reported when the item is compiled

    def column_name(self, slot: str) -> str:
        """The key column's name inside ksqlDB's plan, for the 'more than once' message."""
        return slot.replace(".", "_")

    def from_join_key(self, slot: str) -> bool:
        """Is the slot's value the join operator's key (else it is computed from the row)?"""
        return self.partition is None and len(self.slots) == 1

    def missing(self, sink: str, slots: list[str]) -> AnalysisError:
        if self.partition is not None:
            e = self.partition[self.slots.index(slots[0])]
            what = "partitioning expression" if not isinstance(e, exp.Column) else "key column"
            shown = _text(e) if not isinstance(e, exp.Column) else slots[0].replace(".", "_")
            return AnalysisError(f"The query used to build `{sink}` must include the {what} "
                                 f"{shown} in its projection (eg, SELECT {shown}...).")
        if self.key.foreign:
            names = ", ".join(f"`{s.split('.', 1)[1]}`" for s in slots)
            return AnalysisError(
                f"Primary key columns missing in projection. For foreign-key table-table joins, "
                f"the projection must include all primary key columns from the left input table "
                f"(`{self.key.foreign_source}`). Missing columns: {names}.")
        exprs = self.key.exprs
        listed = exprs[0] if len(exprs) == 1 else ", ".join(exprs[:-1]) + " or " + exprs[-1]
        what = "join expression" if len(exprs) == 1 else "join expressions"
        text = (f"The query used to build `{sink}` must include the {what} {listed} in its "
                f"projection (eg, SELECT {exprs[0]}...).")
        if self.key.synthetic is not None:
            name = self.key.synthetic[0]
            text = (f"Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
                    f"{text}\n{name} was added as a synthetic key column because the join "
                    f"criteria did not match any source column. This expression must be included "
                    f"in the projection and may be aliased.")
        return AnalysisError(text)


def _star_items(star_of: str, scope: JoinScope, key: JoinKey, partition: list | None):
    """(expression, None, output name) for ``*`` / ``alias.*`` over a joined row."""
    def col(alias, name):
        return exp.column(exp.to_identifier(name, quoted=True),
                          table=exp.to_identifier(alias, quoted=True))

    if partition is None:
        if star_of == "*" and key.synthetic is not None:
            yield exp.column(exp.to_identifier(key.synthetic[0], quoted=True)), None, None
        for a, src in scope.sides:
            if star_of in ("*", a):
                # a windowed source's window bounds come right after its key, as in ksqlDB
                bounds = list(WINDOW_BOUNDS) if src.window is not None else []
                names = [c.name for c in src.schema.key] + bounds + \
                    [c.name for c in src.schema.value]
                for n in names:
                    yield col(a, n), None, f"{a}_{n}"
        return
    # after PARTITION BY the row is ksqlDB's joined schema re-keyed: the new key, then every
    # source's values, pseudo columns and old key columns, as value columns
    keyed = set()
    for e in partition:
        ref = scope.column_of(e) if isinstance(e, exp.Column) else None
        if ref is not None:
            keyed.add(ref)
            if star_of in ("*", ref[0]):
                yield col(*ref), None, f"{ref[0]}_{ref[1]}"
    for a, src in scope.sides:
        if star_of not in ("*", a):
            continue
        names = [c.name for c in src.schema.value] + list(PSEUDO_COLUMNS) + \
            [c.name for c in src.schema.key]
        for n in names:
            if (a, n) not in keyed:
                yield col(a, n), None, f"{a}_{n}"


def plan_join_projection(select: exp.Select, plan: JoinPlan, ctx, *, sink_name: str | None,
                         partition: list | None = None):
    """The SELECT list over a joined row: ksqlDB's names and key rules. ``partition``: the
    PARTITION BY expressions, which then make the key instead of the join's."""
    from ksqlpy.plan.planner import RESERVED, _Names

    scope = plan.scope
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
        else:
            items.extend(_star_items(star_of, scope, plan.key, partition))
    refs = [scope.column_of(n) if isinstance(n, exp.Column) else None for n, _, _ in items]
    rule = _KeyRule(plan, scope, partition)
    rule.choose(refs)
    names = _Names({a for _, a, _ in items if a})
    persistent = sink_name is not None
    keys: dict[str, tuple[Column, str]] = {}    # slot -> (key column, item name)
    value_cols: list[Column] = []
    compiled_items = []
    described = []
    seen = set()
    for (node, alias, star_name), ref in zip(items, refs):
        name = _item_name(node, alias, star_name, ref, scope, names)
        if alias in RESERVED:  # ksqlDB words this differently for joins
            raise AnalysisError(f"Reserved column name in select: `{alias}`. Please remove or "
                                f"alias the column.")
        if persistent and alias is None and name in RESERVED:
            raise AnalysisError(
                f"Reserved column name in select: `{name}`. Please remove or alias the column.")
        slot = rule.slot_of(node, ref) if persistent else None
        if slot is not None and slot in keys:
            both = " and ".join(sorted([keys[slot][1], name]))
            raise AnalysisError(f"The projection contains a key column "
                                f"(`{rule.column_name(slot)}`) more than once, aliased as: "
                                f"{both}.")
        if slot is not None and rule.from_join_key(slot):
            compiled = compile_expr(exp.column(exp.to_identifier(JOIN_KEY, quoted=True)),
                                    _KeyScope(plan.key.type), ctx)
        else:
            compiled = compile_expr(node, scope, ctx)
        if slot is not None:
            keys[slot] = (Column(name, compiled.type, KEY), name)
        else:
            if name in seen:
                raise AnalysisError(f"Duplicate value columns found in schema: `{name}`")
            value_cols.append(Column(name, compiled.type, VALUE))
        seen.add(name)
        compiled_items.append((name, compiled))
        described.append((name, _format(node)))
    if persistent:
        missing = [s for s in rule.slots if s not in keys]
        if missing:
            raise rule.missing(sink_name, missing)
        if not value_cols:
            raise AnalysisError("The projection contains no value columns.")
    op = Select(compiled_items)
    op.describe_items = described
    key = tuple(keys[s][0] for s in rule.slots if s in keys)
    return LogicalSchema(key=key, value=tuple(value_cols)), op


def _item_name(node, alias, star_name, ref, scope: JoinScope, names) -> str:
    if alias:
        return alias
    if star_name:
        return star_name
    if ref is not None:
        return scope.output_name(*ref)
    if isinstance(node, exp.Column) and scope.synthetic_key is not None and \
            name_of(node.this) == scope.synthetic_key[0]:
        return scope.synthetic_key[0]
    return names.for_expr(node) if not isinstance(node, exp.Column) else name_of(node.this)


class _KeyScope:
    def __init__(self, t):
        self.t = t

    def resolve(self, qualifier, name):
        return JOIN_KEY, self.t


def qualify_partition_by(exprs: list, scope: JoinScope, ctx) -> list:
    """PARTITION BY expressions over a joined row, qualified and type-checked. It applies to
    the input of the projection, so it can name source columns only."""
    if len(exprs) == 1 and isinstance(exprs[0], exp.Null):
        return []
    scope.clause = "PARTITION BY"
    out = []
    for e in exprs:
        try:
            q = _qualify(e, scope)
            compile_expr(q, scope, ctx)
        except AnalysisError as err:
            if "cannot be resolved" not in err.message or not isinstance(e, exp.Column):
                raise
            shown = _text(e)
            raise AnalysisError(f"{err.message[:-1]}. '{shown}' must be a column in the source "
                                f"schema since PARTITION BY is applied on the input.") from None
        out.append(q)
    return out
