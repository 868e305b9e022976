"""Planning GROUP BY queries (stage: analysis → operators).

A SELECT with GROUP BY (or aggregate calls) becomes: [WHERE] → Aggregate → [HAVING] →
Select. Aggregate calls are pulled out of the SELECT and HAVING expressions into columns
``KSQL_AGG_VARIABLE_<n>``; grouping expressions become the key columns of the result. What
is left of each select item is then compiled against the aggregate's output, so a column
that is neither grouped nor aggregated fails with ksqlDB's "Non-aggregate SELECT expression(s)
not part of GROUP BY" message.
"""

from __future__ import annotations

from sqlglot import exp

from ksqlpy.aggregates import check_intermediate_types, check_table_aggregation
from ksqlpy.aggregates import resolve as resolve_aggregate
from ksqlpy.errors import AnalysisError
from ksqlpy.expr import CompileContext, compile_expr, is_aggregate
from ksqlpy.operators.aggregate import Aggregate, AggregateCall
from ksqlpy.operators.stateless import Select, TableFilter
from ksqlpy.operators.windows import WindowDef
from ksqlpy.parse import name_of
from ksqlpy.plan.scope import RowScope, ScopeColumn
from ksqlpy.schema import KEY, VALUE, WINDOWEND, WINDOWSTART, Column, LogicalSchema
from ksqlpy.types import BIGINT, BOOLEAN

UNITS_MS = {"MILLISECOND": 1, "SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000,
            "DAY": 86_400_000}


def duration_ms(d) -> int | None:
    if d is None:
        return None
    if hasattr(d, "millis"):
        return d.millis()
    unit = str(d.args.get("unit")).upper().rstrip("S")
    return int(d.this) * UNITS_MS[unit]


def window_def(spec) -> WindowDef:
    kind = str(spec.args["kind"]).upper()
    return WindowDef(kind=kind, size=duration_ms(spec.args.get("size")),
                     advance=duration_ms(spec.args.get("advance")),
                     grace=duration_ms(spec.args.get("grace")),
                     retention=duration_ms(spec.args.get("retention")))


def has_aggregation(select: exp.Select) -> bool:
    if select.args.get("group") or select.args.get("window"):
        return True
    for item in select.expressions:
        for fn in item.find_all(exp.Anonymous):
            if is_aggregate(fn.name):
                return True
    return False


def bounds_group_by(select: exp.Select) -> bool:
    """ksqlpy's extension: a windowed aggregation whose GROUP BY is exactly the two window
    bounds (``GROUP BY WINDOWSTART, WINDOWEND``, either order) means one row per window."""
    group = select.args.get("group")
    if select.args.get("window") is None or group is None or len(group.expressions) != 2:
        return False
    names = {name_of(g.this) for g in group.expressions
             if isinstance(g, exp.Column) and not isinstance(g.this, exp.Star)}
    return names == {WINDOWSTART, WINDOWEND}


def check_window_bounds(select: exp.Select) -> None:
    """ksqlDB's rule for a query with a WINDOW clause: the window bounds columns can only be
    used in its SELECT clause, outside aggregate calls. Checked, as ksqlDB does, in the
    SELECT's aggregate arguments, then WHERE, GROUP BY and HAVING. The one exception is
    ksqlpy's ``GROUP BY WINDOWSTART, WINDOWEND`` (see ``bounds_group_by``)."""
    if select.args.get("window") is None:
        return

    def bounds_in(node):
        for col in node.find_all(exp.Column):
            if not isinstance(col.this, exp.Star) and name_of(col.this) in (WINDOWSTART,
                                                                          WINDOWEND):
                return name_of(col.this)
        return None

    places = []
    for item in select.expressions:
        places += [fn for fn in item.find_all(exp.Anonymous) if is_aggregate(fn.name)]
    where = select.args.get("where")
    if where is not None:
        places.append(where.this)
    group = select.args.get("group")
    if group is not None and not bounds_group_by(select):
        places += list(group.expressions)
    having = select.args.get("having")
    if having is not None:
        places.append(having.this)
    for node in places:
        name = bounds_in(node)
        if name is not None:
            raise AnalysisError(
                f"Window bounds column {name} can only be used in the SELECT clause of "
                f"windowed aggregations and can not be passed to aggregate functions.\n"
                f"See https://github.com/confluentinc/ksql/issues/4397")


def _strip_qualifiers(node: exp.Expression, aliases: set[str], keep: bool = False) -> None:
    """Single-source queries: drop validated qualifiers so that ``t.x`` and ``x`` compare
    equal. Joins (``keep``) need them to resolve columns."""
    for col in list(node.find_all(exp.Column)):
        if keep:
            table = col.args.get("table")
            if table is not None and name_of(table) not in aliases:
                raise AnalysisError(
                    f"'{name_of(table)}' is not a valid stream/table name or alias.")
            continue
        table = col.args.get("table")
        if table is not None:
            qualifier = name_of(table)
            if qualifier not in aliases:
                raise AnalysisError(f"'{qualifier}' is not a valid stream/table name or alias.")
            col.set("table", None)


def _format(node: exp.Expression) -> str:
    """ksqlDB's rendering of an expression in messages: binary operations parenthesized."""
    from ksqlpy.grammar import to_sql

    text = to_sql(node).replace("`", "")
    if isinstance(node, exp.Binary) and not isinstance(node, (exp.And, exp.Or)):
        return f"({text})"
    return text


def _literal(node):
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else (int(node.this) if node.this.lstrip("-")
                                                 .isdigit() else float(node.this))
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        v = _literal(node.this)
        return -v
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    return None


class _AggScope(RowScope):
    pass


def plan_aggregation(select: exp.Select, scope: RowScope, source, ctx: CompileContext, *,
                     sink_name: str | None, properties: dict, operators: list, steps: list,
                     sink_timestamp: str | None = None):
    """Append the aggregation's operators/steps; return (output schema, window def)."""
    persistent = sink_name is not None
    joined = hasattr(scope, "qualified")
    for item in select.expressions:
        _strip_qualifiers(item, scope.aliases, joined)
    group = select.args.get("group")
    # parentheses around a whole grouping expression don't change it: GROUP BY (A + B)
    group_exprs = [_unparen(g) for g in group.expressions] if group else []
    for g in group_exprs:
        _strip_qualifiers(g, scope.aliases, joined)
    having = select.args.get("having")
    having_expr = having.this if having is not None else None
    if having_expr is not None:
        _strip_qualifiers(having_expr, scope.aliases, joined)
    spec = select.args.get("window")
    if spec is not None and source.kind == "TABLE":
        raise AnalysisError("WINDOW clause requires a stream source.")
    aggregates = [fn.name.upper() for item in select.expressions
                  for fn in item.find_all(exp.Anonymous) if is_aggregate(fn.name)]
    if having_expr is not None:
        aggregates += [fn.name.upper() for fn in having_expr.find_all(exp.Anonymous)
                       if is_aggregate(fn.name)]
    from ksqlpy.expr import function_names

    known = {f["name"] for f in function_names()}
    unknown = any(fn.name.upper() not in known for item in select.expressions
                  for fn in item.find_all(exp.Anonymous))
    if group_exprs and not aggregates and not unknown:  # (unknown names fail when compiled)
        raise AnalysisError(
            "GROUP BY requires aggregate functions in either the SELECT or HAVING clause.")
    if not group_exprs:
        non_aggregate = [_format(item.this if isinstance(item, exp.Alias) else item)
                         for item in select.expressions
                         if not any(is_aggregate(f.name) for f in item.find_all(exp.Anonymous))]
        if non_aggregate:
            raise AnalysisError("Non-aggregate SELECT expression(s) not part of GROUP BY: "
                                + ", ".join(non_aggregate))
        if aggregates:
            raise AnalysisError(f"Use of aggregate function {aggregates[0]} requires a GROUP "
                                f"BY clause.")
        raise AnalysisError("WINDOW clause requires a GROUP BY clause.")
    if select.args.get("partition_by") is not None:
        raise AnalysisError("PARTITION BY is not supported with GROUP BY.")
    for g in group_exprs:
        for fn in g.find_all(exp.Anonymous):
            if is_aggregate(fn.name):
                raise AnalysisError(
                    f"GROUP BY does not support aggregate functions: {fn.name.upper()} is an "
                    f"aggregate function.")
    if persistent:
        from ksqlpy.plan.planner import RESERVED

        for item in select.expressions:
            if isinstance(item, exp.Column) and name_of(item.this) in RESERVED:
                raise AnalysisError(f"Reserved column name in select: `{name_of(item.this)}`. "
                                    f"Please remove or alias the column.")
    window = window_def(spec) if spec is not None else None
    check_window_bounds(select)
    if window is not None and bounds_group_by(select):
        # GROUP BY WINDOWSTART, WINDOWEND: ksqlDB refuses it; ksqlpy reads it as what users
        # mean — one row per window (a global aggregate per window, no key columns).
        group_exprs = []
    emit = select.args.get("emit")
    emit_final = emit is not None and str(emit.this).upper() == "FINAL"
    if emit_final and window is None:
        raise AnalysisError("EMIT FINAL is only supported for windowed aggregations.")
    if emit_final and window.grace is None:
        # suppression until window close uses no grace unless one is given
        from dataclasses import replace

        window = replace(window, grace=0)

    # -- grouping keys --------------------------------------------------------------------
    scope.clause = "GROUP BY"
    items = []
    for item in select.expressions:
        alias = name_of(item.args["alias"]) if isinstance(item, exp.Alias) else None
        node = _unparen(item.this if isinstance(item, exp.Alias) else item)
        star = isinstance(node, exp.Star) or (isinstance(node, exp.Column)
                                              and isinstance(node.this, exp.Star))
        if star and joined:
            raise AnalysisError("SELECT * is not supported with GROUP BY.")
        if star:
            # * is the source's columns, each then grouped or aggregated like any other
            if isinstance(node, exp.Column) and node.table and \
                    name_of(node.args["table"]) not in scope.aliases:
                raise AnalysisError(f"'{name_of(node.args['table'])}' is not a valid "
                                    f"stream/table name or alias.")
            items += [[exp.column(exp.to_identifier(c.name, quoted=True)), None]
                      for c in scope.order
                      if c.namespace in (KEY, VALUE) or c.namespace.startswith("HEADER")]
            continue
        items.append([node, alias])
    taken = {a for _, a in items if a} | {name_of(n.this) for n, a in items
                                          if a is None and isinstance(n, exp.Column)}
    from ksqlpy.plan.planner import _Names

    names = _Names(taken)
    key_names: list[str] = []
    key_fns = []
    for g in group_exprs:
        compiled = compile_expr(g, scope, ctx)
        match = [(n, a) for n, a in items if n == g]
        if match and match[0][1]:
            name = match[0][1]
        elif isinstance(g, exp.Column):
            ref = scope.column_of(g) if joined else None
            name = scope.output_name(*ref) if ref else name_of(g.this)
        elif type(g).__name__ == "Dereference":
            name = names.for_expr(g)  # a struct field groups under the field's name
        else:
            name = names.synthetic()
        if name in key_names:
            # ksqlDB shows the expression with its columns qualified by the source
            alias = getattr(scope, "alias", None)
            if alias and not joined:
                from ksqlpy.plan.planner import _qualified_text
                shown = _qualified_text(g, alias)
            else:
                shown = _format(g)
            raise AnalysisError(f"Duplicate GROUP BY expression: {shown}")
        key_names.append(name)
        key_fns.append(compiled)

    # -- aggregate calls ------------------------------------------------------------------
    scope.clause = "SELECT"
    calls: list[AggregateCall] = []
    by_sql: dict[str, str] = {}

    def extract(node: exp.Expression) -> exp.Expression:
        def visit(n):
            if isinstance(n, exp.Anonymous) and is_aggregate(n.name):
                key = n.sql()
                if key not in by_sql:
                    for inner in n.expressions:
                        for sub in inner.find_all(exp.Anonymous):
                            if is_aggregate(sub.name):
                                raise AnalysisError(
                                    "Aggregate functions can not be nested: "
                                    f"{n.name.upper()}({sub.name.upper()}())")
                    args = [a for a in n.expressions if not isinstance(a, exp.Star)]
                    compiled = [compile_expr(a, scope, ctx) for a in args]
                    literals = [_literal(a) for a in args]
                    fn = resolve_aggregate(n.name, [c.type for c in compiled], literals,
                                           properties=properties,
                                           arg_texts=[_format(a) for a in args])
                    name = f"KSQL_AGG_VARIABLE_{len(calls)}"
                    calls.append(AggregateCall(fn, compiled, name))
                    by_sql[key] = name
                return exp.column(exp.to_identifier(by_sql[key], quoted=True))
            for g, kname in zip(group_exprs, key_names):
                if n == g:
                    return exp.column(exp.to_identifier(kname, quoted=True))
            return n
        return node.transform(visit, copy=True)

    rewritten = [(extract(n), n, a) for n, a in items]
    having_rewritten = extract(having_expr) if having_expr is not None else None

    if source.kind == "TABLE":
        check_table_aggregation([c.fn for c in calls])
    value_format = getattr(getattr(source, "value_format", None), "name", None)
    if value_format:
        check_intermediate_types([c.fn for c in calls], value_format)
    table_key = [c.name for c in source.schema.key] if source.kind == "TABLE" else None
    per_record = str(properties.get("cache.max.bytes.buffering", "10000000")) == "0"
    from ksqlpy.operators.aggregate_columnar import ColumnarAggregate

    cls = ColumnarAggregate if ColumnarAggregate.supports(calls, key_fns, window, per_record,
                                                          table_key) else Aggregate
    agg = cls(key_names, key_fns, calls, window=window, table_key=table_key,
              emit_per_record=per_record, emit_final=emit_final)
    operators.append(agg)
    step_type = "tableAggregate/v1" if source.kind == "TABLE" else (
        "streamWindowedAggregate/v1" if window else "streamAggregate/v1")
    step = {"@type": step_type, "groupByExpressions": [_format(g) for g in group_exprs],
            "aggregationFunctions": [f"{c.fn.name}({', '.join(a.sql for a in c.args)})"
                                     for c in calls]}
    if window is not None:
        step["windowExpression"] = window.describe()
    steps.append(step)

    # -- post-aggregation scope -----------------------------------------------------------
    cols = [ScopeColumn(n, f.type, KEY, n) for n, f in zip(key_names, key_fns)]
    if window is not None:
        cols += [ScopeColumn(WINDOWSTART, BIGINT, "WINDOW", WINDOWSTART),
                 ScopeColumn(WINDOWEND, BIGINT, "WINDOW", WINDOWEND)]
    cols += [ScopeColumn(c.name, c.fn.type, VALUE, c.name) for c in calls]
    post = RowScope(cols, scope.aliases)

    if having_rewritten is not None:
        try:
            pred = compile_expr(having_rewritten, post, ctx)
        except AnalysisError:
            raise AnalysisError(
                f"Non-aggregate HAVING expression not part of GROUP BY: "
                f"{_non_aggregate_columns(having_expr, post, key_names)}") from None
        if pred.type != BOOLEAN:
            raise AnalysisError("HAVING expression must evaluate to BOOLEAN.")
        operators.append(TableFilter(pred, _format(having_expr),
                                     key_names + ([WINDOWSTART, WINDOWEND]
                                                  if window is not None else [])))
        steps.append({"@type": "tableFilter/v1", "filterExpression": _format(having_expr)})

    # -- projection -----------------------------------------------------------------------
    from ksqlpy.plan.planner import RESERVED

    out_items = []
    key_cols: dict[str, Column] = {}
    value_cols: list[Column] = []
    bad: list[str] = []
    described = []
    seen = set()
    for (node, original, alias) in rewritten:
        if alias in RESERVED:
            raise AnalysisError(
                f"`{alias}` is a reserved column name. You cannot use it as an alias for a "
                f"column.")
        if alias:
            name = alias
        elif isinstance(node, exp.Column) and name_of(node.this) in key_names:
            name = name_of(node.this)
        elif isinstance(original, exp.Anonymous) and is_aggregate(original.name):
            name = names.synthetic()
        else:
            name = names.for_expr(original)
        if persistent and alias is None and name in RESERVED and name != "ROWTIME":
            raise AnalysisError(
                f"Reserved column name in select: `{name}`. Please remove or alias the column.")
        if name in seen:
            from ksqlpy.plan.planner import duplicate_column

            raise duplicate_column(name, node, post, ctx)
        seen.add(name)
        try:
            from ksqlpy.plan.planner import compile_select_item
            compiled = compile_select_item(node, post, ctx)
        except AnalysisError as e:
            if "cannot be resolved" in e.message:
                bad.append(_format(original))
                continue
            raise
        if isinstance(node, exp.Column) and name_of(node.this) in key_names:
            kname = name_of(node.this)
            if kname in key_cols:
                raise AnalysisError(
                    f"The projection contains a key column more than once: "
                    f"`{key_cols[kname].name}` and `{name}`.")
            key_cols[kname] = Column(name, compiled.type, KEY)
        else:
            value_cols.append(Column(name, compiled.type, VALUE))
        out_items.append((name, compiled))
        described.append((name, _format(original)))
    if bad:
        raise AnalysisError("Non-aggregate SELECT expression(s) not part of GROUP BY: "
                            + ", ".join(bad) + "\nEither add the column(s) to the GROUP BY or "
                            "remove them from the SELECT.")
    if persistent:
        from ksqlpy.plan.planner import check_sink_timestamp

        check_sink_timestamp(sink_timestamp, [n for n, _ in out_items])
        missing = [_format(g) for g, k in zip(group_exprs, key_names) if k not in key_cols]
        if missing:
            from ksqlpy.plan.planner import missing_from_projection

            raise missing_from_projection(sink_name, "grouping expression",
                                          "grouping expressions", missing)
        if not value_cols:
            raise AnalysisError("The projection contains no value columns.")
    select_op = Select(out_items)
    select_op.describe_items = described
    operators.append(select_op)
    steps.append({"@type": "tableSelect/v1", "keyColumnNames": [k for k in key_names],
                  "selectExpressions": [f"{t} AS {n}" for n, t in described]})
    ordered_keys = tuple(key_cols[k] for k in key_names if k in key_cols)
    if not persistent:
        ordered_keys = ()
        value_cols = [Column(n, c.type, VALUE) for n, c in out_items]
    return LogicalSchema(key=ordered_keys, value=tuple(value_cols)), window


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _non_aggregate_columns(node, post: RowScope, key_names) -> str:
    cols = [name_of(c.this) for c in node.find_all(exp.Column)
            if name_of(c.this) not in key_names]
    return ", ".join(dict.fromkeys(cols))

