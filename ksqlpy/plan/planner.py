"""The query planner (stage: AST → analysed plan → operators).

``plan_query`` resolves names and types for a SELECT over the catalog, derives the output
schema (which columns are key, which value, their names), validates the query against
ksqlDB's rules and produces the physical steps: a printable, versioned description
(``streamSource/v1``, ``streamFilter/v1``, …) together with the operators that run them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ksqlpy.catalog import Catalog, Source
from ksqlpy.errors import AnalysisError, NotSupportedError
from ksqlpy.expr import CompileContext, compile_expr, is_table_function
from ksqlpy.operators.base import Operator
from ksqlpy.operators.stateless import Filter, Select, SelectKey, TableFilter
from ksqlpy.parse import name_of
from ksqlpy.plan.scope import RowScope, ScopeColumn
from ksqlpy.schema import KEY, PSEUDO_COLUMNS, VALUE, WINDOW_BOUNDS, Column, LogicalSchema
from ksqlpy.types import BOOLEAN

RESERVED = set(PSEUDO_COLUMNS) | set(WINDOW_BOUNDS)


@dataclass
class Route:
    """The path of one source's rows through the query: its operators up to the output.
    Joins give one route per joined source; routes share the join and later operators."""

    source: Source
    operators: list[Operator]


@dataclass
class QueryPlan:
    """An analysed, compiled SELECT. ``source`` is the (leftmost) FROM source."""

    source: Source
    alias: str
    operators: list[Operator]
    output: LogicalSchema
    steps: list[dict]
    emit: str | None = None
    limit: int | None = None
    where: exp.Expression | None = None
    scope: RowScope | None = None
    windowed: bool = False
    extra: dict = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)

    def __post_init__(self):
        if not self.routes:
            self.routes = [Route(self.source, self.operators)]

    @property
    def sources(self) -> list[Source]:
        """Every source the query reads, once each, in FROM order."""
        return list({r.source.name: r.source for r in self.routes}.values())


def normalize(node: exp.Expression) -> exp.Expression:
    """Upper-case unquoted identifiers (ksqlDB semantics), in place; returns the node."""
    for ident in node.find_all(exp.Identifier):
        if not ident.quoted:
            ident.set("this", ident.this.upper())
            ident.set("quoted", True)
    return node


def source_scope(source: Source, alias: str) -> RowScope:
    cols = [ScopeColumn(n, t, "PSEUDO", n) for n, t in PSEUDO_COLUMNS.items()]
    if source.window is not None:
        cols += [ScopeColumn(n, t, "WINDOW", n) for n, t in WINDOW_BOUNDS.items()]
    for c in source.schema.columns:
        cols.append(ScopeColumn(c.name, c.type, c.namespace, c.name))
    return RowScope(cols, {alias, source.name}, alias)


def _sql(node: exp.Expression) -> str:
    from ksqlpy.grammar import to_sql

    return to_sql(node)


class _Names:
    """Output column naming: column refs keep their name, struct dereferences take the field
    name, anything else gets ksqlDB's next free KSQL_COL_n."""

    def __init__(self, taken: set[str]):
        self.taken = set(taken)
        self.counter = 0

    def synthetic(self) -> str:
        while True:
            name = f"KSQL_COL_{self.counter}"
            self.counter += 1
            if name not in self.taken:
                self.taken.add(name)
                return name

    def for_expr(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Column) and node.meta.get("synthetic"):
            return self.synthetic()
        if isinstance(node, exp.Column):
            return name_of(node.this)
        if type(node).__name__ == "Dereference" and isinstance(node.expression, exp.Identifier):
            return name_of(node.expression)
        return self.synthetic()


def _plan_join_query(select, catalog, ctx, source, alias, sink_name) -> QueryPlan:
    from ksqlpy.plan.aggregation import has_aggregation, plan_aggregation
    from ksqlpy.plan.joins import check_partitions, plan_join_projection, plan_joins

    steps: list[dict] = []
    plan = plan_joins(select, catalog, ctx, source, alias, steps)
    scope, joined = plan.scope, plan.joined
    post: list[Operator] = []
    where = select.args.get("where")
    if where is not None:
        scope.clause = "WHERE"
        compiled = compile_expr(where.this, scope, ctx)
        if compiled.type != BOOLEAN:
            raise AnalysisError(
                f"Type error in WHERE expression: Should evaluate to boolean but is "
                f"{_sql(where.this)} ({compiled.type}) instead.")
        post.append(TableFilter(compiled, _sql(where.this), ["__join_key"])
                    if joined.kind == "TABLE" else Filter(compiled, _sql(where.this)))
        steps.append({"@type": "streamFilter/v1", "filterExpression": _sql(where.this)})
    if _has_table_functions(select):
        raise NotSupportedError("Table functions over joins are not supported yet.")
    scope.clause = "SELECT"
    window = None
    if has_aggregation(select):
        output, window = plan_aggregation(select, scope, joined, ctx, sink_name=sink_name,
                                          properties=ctx.properties, operators=post,
                                          steps=steps)
    else:
        partition = _join_partition_by(select, plan, ctx, steps)
        scope.clause = "SELECT"
        output, select_op = plan_join_projection(select, plan, ctx, sink_name=sink_name,
                                                 partition=partition)
        post.append(select_op)
        steps.append({"@type": "streamSelect/v1", "keyColumnNames": [c.name for c in output.key],
                      "selectExpressions": [f"{t} AS {n}" for n, t in select_op.describe_items]})
    check_partitions(plan)
    plan_routes = [Route(src, ops + post) for src, ops in plan.routes]
    extra = {"result_kind": joined.kind}
    if window is not None or has_aggregation(select):
        extra["window"] = window
    return QueryPlan(source=source, alias=alias, operators=post, output=output, steps=steps,
                     emit=_emit(select), limit=_limit(select),
                     where=where.this if where is not None else None, scope=scope,
                     windowed=window is not None, extra=extra, routes=plan_routes)


def _join_partition_by(select, plan, ctx, steps) -> list | None:
    """PARTITION BY over a join: its expressions, qualified (``[]`` for PARTITION BY NULL,
    None without the clause). The projection then takes its key from them."""
    from ksqlpy.plan.joins import qualify_partition_by

    partition = select.args.get("partition_by")
    if partition is None:
        return None
    if plan.joined.kind == "TABLE":
        raise AnalysisError("Tables can not be re-partitioned. Use GROUP BY instead.")
    exprs = qualify_partition_by(list(partition.expressions), plan.scope, ctx)
    steps.append({"@type": "streamSelectKey/v1", "keyExpression": [_sql(e) for e in exprs]})
    return exprs


def _has_table_functions(select: exp.Select) -> bool:
    return any(is_table_function(fn.name) for item in select.expressions
               for fn in item.find_all(exp.Anonymous))


def _plan_table_functions(select: exp.Select, scope: RowScope, ctx: CompileContext,
                          source: Source):
    """Replace EXPLODE/CUBE_EXPLODE calls in the SELECT list by columns that a
    TableFunctions operator fills; returns the operator and the widened scope."""
    from ksqlpy.expr import table_function_type
    from ksqlpy.operators.table_function import TableFunctions

    if source.kind == "TABLE":
        raise AnalysisError("Table source is not supported with table functions")
    calls = []
    new_cols = []

    def visit(n):
        if isinstance(n, exp.Anonymous) and is_table_function(n.name):
            if len(n.expressions) != 1:
                raise AnalysisError(f"Function '{n.name.lower()}' does not accept parameters.")
            arg = compile_expr(n.expressions[0], scope, ctx)
            out_type = table_function_type(n.name, [arg.type])
            name = f"KSQL_SYNTH_{len(calls)}"
            calls.append((n.name.upper(), name, arg, out_type.to_arrow()))
            new_cols.append(ScopeColumn(name, out_type, "SYNTH", name))
            col = exp.column(exp.to_identifier(name, quoted=True))
            col.meta["synthetic"] = True  # named like the call it replaces: KSQL_COL_n
            return col
        return n

    for item in list(select.expressions):
        item.replace(item.transform(visit, copy=True))
    return TableFunctions(calls), scope.with_columns(scope.order + new_cols)


def table_source(table: exp.Table, catalog: Catalog) -> tuple[Source, str]:
    """The catalog source a FROM or JOIN table names, and its alias (the source's name when
    it has none); "X does not exist." when the catalog has no such source."""
    name = name_of(table.this)
    source = catalog.source(name)
    if source is None:
        raise AnalysisError(f"{name} does not exist.")
    return source, name_of(table.args["alias"].this) if table.args.get("alias") else name


def plan_query(select: exp.Select, catalog: Catalog, properties: dict | None = None, *,
               sink_name: str | None = None, ctx: CompileContext | None = None,
               sink_timestamp: str | None = None) -> QueryPlan:
    """Plan a SELECT over one stream or table. ``sink_name`` is set for C*AS/INSERT INTO;
    ``sink_timestamp`` is the sink's TIMESTAMP column (WITH clause), which must be one of the
    projected columns (checked, as in ksqlDB, before the key columns are)."""
    normalize(select)
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is None:
        raise AnalysisError("FROM clause is required.")
    table = from_.this
    if not isinstance(table, exp.Table):
        raise NotSupportedError("Subqueries in FROM are not supported yet.")
    source, alias = table_source(table, catalog)
    ctx = ctx or CompileContext(properties=dict(properties or {}))
    from ksqlpy.plan.aggregation import check_window_bounds

    check_window_bounds(select)  # before WHERE is compiled, as ksqlDB's analyzer does
    if select.args.get("joins"):
        return _plan_join_query(select, catalog, ctx, source, alias, sink_name)

    scope = source_scope(source, alias)
    steps: list[dict] = [{
        "@type": "streamSource/v1" if source.kind == "STREAM" else "tableSource/v1",
        "sourceName": source.name, "topicName": source.topic,
        "keyFormat": source.key_format.name, "valueFormat": source.value_format.name,
        "sourceSchema": str(source.schema)}]
    operators: list[Operator] = []

    where = select.args.get("where")
    if where is not None:
        pred = where.this
        scope.clause = "WHERE"
        try:
            compiled = compile_expr(pred, scope, ctx)
        except AnalysisError as e:
            if "cannot be resolved" in e.message or "is not a valid" in e.message:
                raise
            # ksqlDB reports code-generation failures as "Invalid Predicate" and type-checker
            # failures as "Error in WHERE expression"
            prefix = "Invalid Predicate" if e.message.startswith(CODEGEN_ERRORS) \
                else "Error in WHERE expression"
            raise AnalysisError(f"{prefix}: {e.message}") from None
        if compiled.type != BOOLEAN:
            raise AnalysisError(
                f"Type error in WHERE expression: Should evaluate to boolean but is "
                f"{_sql(pred)} ({compiled.type}) instead.")
        text = _sql(pred)
        operators.append(TableFilter(compiled, text, [c.name for c in source.schema.key])
                         if source.kind == "TABLE" else Filter(compiled, text))
        steps.append({"@type": "streamFilter/v1", "filterExpression": text})

    from ksqlpy.plan.aggregation import has_aggregation, plan_aggregation

    if has_aggregation(select):
        if select.args.get("group") is not None and source.value_format.name == "KAFKA":
            raise AnalysisError(f"Source(s) {alias} are using the 'KAFKA' value format. This "
                                f"format does not yet support GROUP BY.")
        if _has_table_functions(select):
            raise AnalysisError("Table functions cannot be used with aggregations.")
        output, window = plan_aggregation(select, scope, source, ctx, sink_name=sink_name,
                                          properties=ctx.properties, operators=operators,
                                          steps=steps, sink_timestamp=sink_timestamp)
        return QueryPlan(source=source, alias=alias, operators=operators, output=output,
                         steps=steps, emit=_emit(select), limit=_limit(select),
                         where=where.this if where is not None else None, scope=scope,
                         windowed=window is not None, extra={"window": window})

    key_names = [c.name for c in source.schema.key]
    partition = select.args.get("partition_by")
    partition_exprs: list[exp.Expression] = []
    if partition is not None:
        if source.kind == "TABLE":
            raise AnalysisError("Tables can not be re-partitioned. Use GROUP BY instead.")
        scope.clause = "PARTITION BY"
        scope, key_names, partition_exprs, op = _plan_partition_by(partition, scope, ctx)
        if op is not None:
            operators.append(op)
        steps.append({"@type": "streamSelectKey/v1",
                      "keyExpression": [_sql(e) for e in partition_exprs]})

    if _has_table_functions(select):
        if has_aggregation(select):
            raise AnalysisError("Table functions cannot be used with aggregations.")
        scope.clause = "SELECT"
        tf_op, scope = _plan_table_functions(select, scope, ctx, source)
        operators.append(tf_op)
        steps.append({"@type": "streamFlatMap/v1",
                      "tableFunctions": [f"{c[0]}({c[2].sql})" for c in tf_op.calls]})
    scope.clause = "SELECT"
    output, select_op = _plan_projection(select, scope, key_names, partition_exprs, ctx,
                                         sink_name=sink_name, source=source,
                                         sink_timestamp=sink_timestamp)
    operators.append(select_op)
    steps.append({"@type": "streamSelect/v1" if source.kind == "STREAM" else "tableSelect/v1",
                  "keyColumnNames": [c.name for c in output.key],
                  "selectExpressions": [f"{text} AS {name}" for name, text in
                                        select_op.describe_items]})
    return QueryPlan(source=source, alias=alias, operators=operators, output=output,
                     steps=steps, emit=_emit(select), limit=_limit(select),
                     where=where.this if where is not None else None, scope=scope)


def _emit(select: exp.Select) -> str | None:
    emit = select.args.get("emit")
    return str(emit.this).upper() if emit is not None else None


def _limit(select: exp.Select) -> int | None:
    limit = select.args.get("limit")
    if limit is None:
        return None
    node = limit.expression if limit.expression is not None else limit.this
    negative = isinstance(node, exp.Neg)
    if negative:
        node = node.this
    if not isinstance(node, exp.Literal) or node.is_string or not node.this.isdigit():
        raise AnalysisError("LIMIT must be a non-negative integer literal.")
    value = -int(node.this) if negative else int(node.this)
    if value < 0:
        raise AnalysisError("LIMIT must be non-negative.")
    return value


def _compile_partition_expr(e, scope: RowScope, ctx: CompileContext):
    """PARTITION BY applies to the input: a name the projection introduces is not there."""
    try:
        return compile_expr(e, scope, ctx)
    except AnalysisError as err:
        if not isinstance(e, exp.Column) or not err.message.endswith("cannot be resolved."):
            raise
        shown = ".".join(p.name for p in e.parts)
        raise AnalysisError(f"{err.message[:-1]}. '{shown}' must be a column in the source schema "
                            f"since PARTITION BY is applied on the input.") from None


def _plan_partition_by(partition, scope: RowScope, ctx: CompileContext):
    exprs = list(partition.expressions)
    if len(exprs) == 1 and isinstance(exprs[0], exp.Null):
        # PARTITION BY NULL: a key-less stream; the old key moves to the value.
        cols = [c for c in scope.order if c.namespace != KEY] + \
            [ScopeColumn(c.name, c.type, VALUE, c.batch_name) for c in scope.order
             if c.namespace == KEY]
        return scope.with_columns(cols), [], [], None
    if any(isinstance(e, exp.Null) for e in exprs):
        raise AnalysisError("Cannot PARTITION BY multiple columns including NULL")
    names = _Names({c.name for c in scope.order})
    new_keys: list[tuple[str, object]] = []
    new_cols: list[ScopeColumn] = []
    moved = set()
    for e in exprs:
        compiled = _compile_partition_expr(e, scope, ctx)
        name = names.for_expr(e) if isinstance(e, exp.Column) or \
            type(e).__name__ == "Dereference" else names.synthetic()
        if isinstance(e, exp.Column):
            moved.add(name)
        new_keys.append((name, compiled))
        new_cols.append(ScopeColumn(name, compiled.type, KEY, name))
    cols = list(new_cols)
    for c in scope.order:
        if c.name in moved or c.namespace == KEY and c.name in moved:
            continue
        if c.namespace == KEY:
            continue
        cols.append(c)
    # old key columns become value columns, after the existing values
    for c in scope.order:
        if c.namespace == KEY and c.name not in moved:
            cols.append(ScopeColumn(c.name, c.type, VALUE, c.batch_name))
    return (scope.with_columns(cols), [n for n, _ in new_keys], exprs, SelectKey(new_keys))


def select_items(select: exp.Select, aliases: set[str]):
    """Yield (expression, explicit alias or None, is_star) per SELECT item; ``*`` and
    ``src.*`` come as is_star=True after their qualifier is checked against ``aliases``."""
    for item in select.expressions:
        alias = None
        node = item
        if isinstance(item, exp.Alias):
            alias = name_of(item.args["alias"])
            node = item.this
        star = isinstance(node, exp.Star) or (isinstance(node, exp.Column)
                                              and isinstance(node.this, exp.Star))
        if star and isinstance(node, exp.Column) and node.table:
            qualifier = name_of(node.args["table"])
            if qualifier not in aliases:
                raise AnalysisError(f"'{qualifier}' is not a valid stream/table name or alias.")
        yield node, alias, star


#: Failures that ksqlDB finds while generating code for an expression (CodeGenRunner), which
#: it reports as "Invalid <Select|Predicate>: ..."; others come from its type checker.
CODEGEN_ERRORS = ("operator does not exist", "invalid input syntax", "Cast of ")


def compile_select_item(node, scope, ctx):
    """compile_expr for a SELECT item, with ksqlDB's "Invalid Select" for code-gen failures.
    A column needs a type: a bare NULL has none (ksqlDB refuses it the same way)."""
    try:
        compiled = compile_expr(node, scope, ctx)
    except AnalysisError as e:
        if e.message.startswith(CODEGEN_ERRORS):
            raise AnalysisError(f"Invalid Select: {e.message}") from None
        raise
    if compiled.type.base == "NULL":
        raise AnalysisError("Can't infer a type of null. Please explicitly cast it to a "
                            "required type, e.g. CAST(null AS VARCHAR).")
    return compiled


def duplicate_column(name: str, node, scope, ctx) -> AnalysisError:
    """ksqlDB's error for a second column named ``name``: "`NAME` TYPE" (the type of the
    duplicate, when it compiles)."""
    try:
        typ = f" {compile_expr(node, scope, ctx).type}"
    except AnalysisError:
        typ = ""
    return AnalysisError(f"Duplicate value columns found in schema: `{name}`{typ}")


def check_sink_timestamp(column: str | None, names) -> None:
    """The sink's TIMESTAMP column must be one of the columns the query projects."""
    if column is not None and column not in names:
        raise AnalysisError(f"The TIMESTAMP column set in the WITH clause does not exist in the "
                            f"schema: '{column}'")


def missing_from_projection(sink: str, one: str, many: str, missing: list[str]) -> AnalysisError:
    """ksqlDB's "must include the key column(s) … in its projection" error."""
    if len(missing) == 1:
        return AnalysisError(f"The query used to build `{sink}` must include the {one} "
                             f"{missing[0]} in its projection (eg, SELECT {missing[0]}...).")
    listed = ", ".join(missing[:-1]) + " and " + missing[-1]
    return AnalysisError(f"The query used to build `{sink}` must include the {many} {listed} "
                         f"in its projection (eg, SELECT {', '.join(missing)}...).")


def _expand_items(select: exp.Select, scope: RowScope, window_bounds: bool = False):
    """Yield (expression, explicit alias or None) with * and src.* expanded. With
    ``window_bounds`` (a transient query over a windowed source, as in ksqlDB's analyzer)
    ``*`` also yields WINDOWSTART and WINDOWEND, right after the key columns."""
    for node, alias, star in select_items(select, scope.aliases):
        if star:
            cols = [c for c in scope.order
                    if c.namespace in (KEY, VALUE) or c.namespace.startswith("HEADER")]
            if window_bounds:
                at = max((i + 1 for i, c in enumerate(cols) if c.namespace == KEY), default=0)
                bounds = [c for c in scope.order if c.namespace == "WINDOW"]
                cols = cols[:at] + bounds + cols[at:]
            for c in cols:
                yield exp.column(exp.to_identifier(c.name, quoted=True)), None
            continue
        yield node, alias


def _plan_projection(select, scope: RowScope, key_names: list[str], partition_exprs,
                     ctx: CompileContext, *, sink_name: str | None, source: Source,
                     sink_timestamp: str | None = None):
    items = list(_expand_items(select, scope, window_bounds=(
        sink_name is None and source.window is not None and not partition_exprs
        and select.args.get("partition_by") is None)))
    taken = {a for _, a in items if a} | {
        name_of(n.this) for n, a in items if a is None and isinstance(n, exp.Column)}
    names = _Names(taken)
    key_cols: dict[str, Column] = {}
    value_cols: list[Column] = []
    compiled_items: list[tuple[str, object]] = []
    described: list[tuple[str, str]] = []
    seen: set[str] = set()
    persistent = sink_name is not None
    for node, alias in items:
        if alias in RESERVED:
            raise AnalysisError(
                f"`{alias}` is a reserved column name. You cannot use it as an alias for a "
                f"column.")
        name = alias or names.for_expr(node)
        if persistent and alias is None and name in RESERVED:
            raise AnalysisError(
                f"Reserved column name in select: `{name}`. Please remove or alias the column.")
        if name in seen:
            raise duplicate_column(name, node, scope, ctx)
        seen.add(name)
        compiled = compile_select_item(node, scope, ctx)
        namespace = VALUE
        key_source = _key_reference(node, scope, key_names, partition_exprs)
        if key_source is not None and key_source not in key_cols and persistent:
            namespace = KEY
        if namespace == KEY:
            key_cols[key_source] = Column(name, compiled.type, KEY)
        else:
            value_cols.append(Column(name, compiled.type, VALUE))
        compiled_items.append((name, compiled))
        described.append((name, _sql(node)))
    if persistent:
        check_sink_timestamp(sink_timestamp, [n for n, _ in compiled_items])
        missing = [k for k in key_names if k not in key_cols]
        if missing:
            if partition_exprs and not isinstance(partition_exprs[0], exp.Column):
                shown = _qualified_text(partition_exprs[0], source.name)
                raise AnalysisError(
                    f"The query used to build `{sink_name}` must include the partitioning "
                    f"expression {shown} in its projection (eg, SELECT {shown}...).")
            # ksqlDB names every key column, not just the missing ones
            raise missing_from_projection(sink_name, "key column", "key columns",
                                          list(key_names))
        if not value_cols:
            raise AnalysisError("The projection contains no value columns.")
    ordered_keys = tuple(key_cols[k] for k in key_names if k in key_cols)
    output = LogicalSchema(key=ordered_keys, value=tuple(value_cols))
    op = Select(compiled_items)
    op.describe_items = described
    return output, op


def _qualified_text(node: exp.Expression, qualifier: str) -> str:
    """An expression as ksqlDB prints it, its column references qualified by the source."""
    from ksqlpy.expr.compiler import ksql_text

    node = node.copy()
    for col in node.find_all(exp.Column):
        if col.args.get("table") is None and not isinstance(col.this, exp.Star):
            col.set("table", exp.to_identifier(qualifier, quoted=True))
    return ksql_text(node)


def _key_reference(node, scope: RowScope, key_names: list[str], partition_exprs) -> str | None:
    """The key column this select item carries unchanged, if any."""
    if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
        col = scope.lookup(name_of(node.this))
        if col is not None and col.namespace == KEY and col.name in key_names:
            return col.name
    for name, e in zip(key_names, partition_exprs):
        if e == node:
            return name
    return None
