"""Pull queries over materialized tables (stage: SELECT → DuckDB mirror → rows).

A pull query is validated with ksqlDB's rules (:mod:`.validate`), then planned once per SQL
text (the plan is cached): its WHERE clause gives the access path — key lookups (a prepared,
parameterized DuckDB point query on the mirror's primary key), a range scan on a STRING/BYTES
key, or a table scan — and DuckDB returns the candidate rows as Arrow. The full WHERE
predicate and the projection are then evaluated with :func:`ksqlpy.expr.compile_expr` over
that Arrow batch, so function semantics are ksqlDB's (one expression engine for push and pull).

Beyond ksqlDB (its pull queries refuse these):

- aggregates over a table's current state without GROUP BY, e.g.
  ``SELECT COUNT(*), SUM(AMOUNT), MAX(ID) FROM T WHERE ...`` — COUNT, SUM, MIN, MAX, AVG are
  evaluated by DuckDB over the filtered rows; the result is one row of value columns;
- ``ORDER BY expr [ASC|DESC], ...`` on a table pull query (the ksql grammar has no ORDER BY,
  so the clause is cut off before parsing and applied to the result; pull queries over
  streams keep ksqlDB's syntax error).

The response header marks key columns ``KEY``: a select item that is a plain reference to a
key column (or to WINDOWSTART/WINDOWEND of a windowed table) keeps its key mark.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from ksqlpy.catalog import Source
from ksqlpy.errors import AnalysisError
from ksqlpy.expr import CompileContext, compile_expr, is_aggregate
from ksqlpy.parse import name_of
from ksqlpy.pull.materializer import PullStore, TableMirror, is_materialized, quote
from ksqlpy.pull.validate import (analyze_where, check_like, not_queryable,
                                  validate_pull_select)
from ksqlpy.schema import KEY, VALUE, WINDOW_BOUNDS, Column
from ksqlpy.types import BIGINT, BOOLEAN, DOUBLE, SqlType, from_arrow

__all__ = ["PullResult", "PullPlan", "PullExecutor", "header_schema", "split_order_by",
           "PullQueryHandle"]


def header_schema(columns) -> str:
    """The pull-query header schema: ``"`ID` STRING KEY, `COUNT` BIGINT"``."""
    parts = []
    for c in columns:
        s = f"`{c.name}` {c.type}"
        if getattr(c, "namespace", None) == KEY:
            s += " KEY"
        parts.append(s)
    return ", ".join(parts)


@dataclass
class PullResult:
    columns: list[Column]
    rows: list[list]
    query_id: str = ""

    @property
    def schema(self) -> str:
        return header_schema(self.columns)


@dataclass
class PullPlan:
    source: Source
    mirror: TableMirror
    columns: list[Column]
    items: list                       # compiled projection (when not aggregating)
    predicate: object | None          # compiled full WHERE
    lookups: list                     # [(sql, params)] or None for a table scan
    limit: int | None
    order: list = field(default_factory=list)     # [(compiled, descending)]
    aggregate_sql: str | None = None  # DuckDB SELECT over the filtered rows


class PullQueryHandle:
    """What ``Engine.push_query`` returns for a table pull query: the shape of a
    TransientQuery (id, columns, queue of rows ended by None, rows(), close())."""

    until_end = True
    task = None
    done_reason = None

    def __init__(self, query_id: str, result: PullResult):
        import asyncio

        self.id = query_id
        self.result = result
        self.columns = result.columns
        self.limit = None
        self.emitted = len(result.rows)
        self.queue: asyncio.Queue = asyncio.Queue()
        for row in result.rows:
            self.queue.put_nowait(row)
        self.queue.put_nowait(None)

    async def rows(self):
        while True:
            row = await self.queue.get()
            if row is None:
                return
            yield row

    async def close(self) -> None:
        return None


# -- ORDER BY (beyond ksqlDB) ------------------------------------------------------------------

def split_order_by(sql: str):
    """``(sql without its top-level ORDER BY clause, order-by text or None)``."""
    from ksqlpy.grammar.dialect import KsqlTokenizer

    try:
        tokens = KsqlTokenizer().tokenize(sql)
    except Exception:
        return sql, None
    depth = 0
    start = end = None
    for i, tok in enumerate(tokens):
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        elif depth == 0 and start is None and tok.text.upper() == "ORDER" and \
                i + 1 < len(tokens) and tokens[i + 1].text.upper() == "BY":
            start = i
        elif depth == 0 and start is not None and (tok.text.upper() in ("LIMIT", "EMIT")
                                                   or tok.text == ";"):
            end = i
            break
    if start is None:
        return sql, None
    s = tokens[start].start
    order_text = sql[tokens[start + 1].end + 1: tokens[end].start if end is not None else len(sql)]
    rest = sql[:s] + (" " + sql[tokens[end].start:] if end is not None else "")
    return rest, order_text.strip()


def _parse_order(text: str, variables) -> list[tuple[exp.Expression, bool]]:
    from ksqlpy.parse import script as g

    items = []
    for part in _split_commas(text):
        desc = False
        m = re.search(r"\s+(ASC|DESC)\s*$", part, re.I)
        if m:
            desc = m.group(1).upper() == "DESC"
            part = part[:m.start()]
        (_, node), = list(g.split_and_parse(f"SELECT {part} FROM __ORDER;", variables))
        items.append((node.expressions[0], desc))
    return items


def _split_commas(text: str) -> list[str]:
    out, depth, cur, quote_ = [], 0, [], False
    for ch in text:
        if ch == "'" :
            quote_ = not quote_
        if not quote_:
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            elif ch == "," and depth == 0:
                out.append("".join(cur).strip())
                cur = []
                continue
        cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


# -- planning ----------------------------------------------------------------------------------

_AGGS = {"COUNT", "SUM", "MIN", "MAX", "AVG"}


def _struct_star(node) -> bool:
    return type(node).__name__ == "Dereference" and isinstance(node.expression, exp.Star)


class PullExecutor:
    """Plans and runs pull queries against a :class:`PullStore`."""

    def __init__(self, store: PullStore, cache_size: int = 1024):
        self.store = store
        self.cache: OrderedDict = OrderedDict()
        self.cache_size = cache_size

    # -- planning -------------------------------------------------------------------------
    def plan(self, select: exp.Select, catalog, properties: dict, order=None) -> PullPlan:
        from ksqlpy.plan.planner import _Names, normalize, source_scope, table_source

        validate_pull_select(select)
        normalize(select)
        from_ = select.args.get("from_") or select.args.get("from")
        table = from_.this
        if not isinstance(table, exp.Table):
            raise AnalysisError("Pull queries don't support sub-queries.")
        source, alias = table_source(table, catalog)
        ctx = CompileContext(properties=dict(properties))
        scope = source_scope(source, alias)

        where = select.args.get("where")
        predicate = None
        check_like(where.this if where is not None else None, source)
        if where is not None:
            scope.clause = "WHERE"
            try:
                predicate = compile_expr(where.this, scope, ctx)
            except AnalysisError as e:
                if "cannot be resolved" in e.message or "is not a valid" in e.message:
                    raise
                raise AnalysisError(f"Error in WHERE expression: {e.message}\n"
                                    f"Statement: {_ksql(where.this)}") from None
            if predicate.type != BOOLEAN:
                raise AnalysisError(
                    f"Type error in WHERE expression: Should evaluate to boolean but is "
                    f"{predicate.sql} ({predicate.type}) instead.")
        table_scans = str(properties.get("ksql.query.pull.table.scan.enabled", "true")
                          ).lower() != "false"
        range_scans = str(properties.get("ksql.query.pull.range.scan.enabled", "true")
                          ).lower() != "false"
        analysis = analyze_where(where.this if where is not None else None, source,
                                 table_scans=table_scans, range_scans=range_scans)
        lookups = None if analysis.table_scan else self._lookups(analysis.constraints, ctx)

        # projection
        scope.clause = "SELECT"
        aggregate = any(isinstance(f, exp.Anonymous) and f.name.upper() in _AGGS
                        and is_aggregate(f.name)
                        for item in select.expressions for f in item.find_all(exp.Anonymous)) \
            or any(isinstance(f, (exp.Count, exp.Sum, exp.Min, exp.Max, exp.Avg))
                   for item in select.expressions for f in item.find_all(exp.Func))
        if aggregate:
            columns, agg_sql = self._plan_aggregate(select, scope, ctx, source)
            return PullPlan(source, self._mirror(source), columns, [], predicate, lookups,
                            validate_pull_select(select), aggregate_sql=agg_sql)
        items = self._expand(select, scope, source)
        taken = {a for _, a in items if a} | {
            name_of(n.this) for n, a in items if a is None and isinstance(n, exp.Column)
            and isinstance(n.this, exp.Identifier)}
        names = _Names(taken)
        key_names = {c.name for c in source.schema.key}
        if source.window is not None:
            key_names |= set(WINDOW_BOUNDS)
        columns, compiled, seen = [], [], {}
        for node, alias_ in items:
            if alias_ in WINDOW_BOUNDS or alias_ in ("ROWTIME", "ROWPARTITION", "ROWOFFSET"):
                raise AnalysisError(f"`{alias_}` is a reserved column name. You cannot use it "
                                    "as an alias for a column.")
            out_name = alias_ or names.for_expr(node)
            c = compile_expr(node, scope, ctx)
            ns = VALUE
            if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier) and \
                    name_of(node.this) in key_names:
                ns = KEY
            if out_name in seen:
                raise AnalysisError(f"Duplicate value columns found in schema: `{out_name}` "
                                    f"{seen[out_name]}")
            seen[out_name] = c.type
            columns.append(Column(out_name, c.type, ns))
            compiled.append(c)
        order_items = []
        for node, desc in order or ():
            normalize(node)
            order_items.append((compile_expr(node, scope, ctx), desc))
        return PullPlan(source, self._mirror(source), columns, compiled, predicate, lookups,
                        validate_pull_select(select), order=order_items)

    def _mirror(self, source: Source) -> TableMirror:
        """The table's mirror; ksqlDB's error for a table that is not materialized."""
        if not is_materialized(source):
            raise not_queryable(source.name)
        mirror = self.store.mirror(source.name)
        if mirror is None or mirror.source is not source:
            mirror = self.store.register(source)
        return mirror

    def _expand(self, select, scope, source):
        from ksqlpy.plan.planner import select_items

        out = []
        for node, alias, star in select_items(select, scope.aliases):
            if star:
                cols = [c.name for c in source.schema.key]
                if source.window is not None:
                    cols += list(WINDOW_BOUNDS)
                cols += [c.name for c in source.schema.value]
                cols += [c.name for c in source.schema.headers]
                out += [(exp.column(exp.to_identifier(n, quoted=True)), None) for n in cols]
                continue
            if _struct_star(node):
                t = compile_expr(node.this, scope).type
                if t.base != "STRUCT":
                    raise AnalysisError(f"Can't dereference a non-struct: {node.this.sql()}")
                for fname, _ in t.fields:
                    deref = node.copy()
                    deref.set("expression", exp.to_identifier(fname, quoted=True))
                    out.append((deref, fname))
                continue
            out.append((node, alias))
        return out

    def _plan_aggregate(self, select, scope, ctx, source):
        """Aggregates over the table's current state, evaluated by DuckDB (beyond ksqlDB)."""
        from ksqlpy.plan.planner import _Names

        names = _Names(set())
        parts, columns = [], []
        for item in select.expressions:
            alias = None
            node = item
            if isinstance(item, exp.Alias):
                alias = name_of(item.args["alias"])
                node = item.this
            fn = node.name.upper() if isinstance(node, exp.Func) else ""
            if isinstance(node, exp.Anonymous):
                args = list(node.expressions)
            elif isinstance(node, (exp.Count, exp.Sum, exp.Min, exp.Max, exp.Avg)):
                fn = {exp.Count: "COUNT", exp.Sum: "SUM", exp.Min: "MIN", exp.Max: "MAX",
                      exp.Avg: "AVG"}[type(node)]
                args = [node.this] if node.this is not None else []
            else:
                raise AnalysisError("Pull queries over a table's current state support only "
                                    "aggregate calls (COUNT, SUM, MIN, MAX, AVG) in the "
                                    "SELECT list when no GROUP BY is given.")
            if fn not in _AGGS or len(args) > 1:
                raise AnalysisError(f"Unsupported aggregate in a pull query: {fn}")
            out = alias or names.synthetic()
            if not args or isinstance(args[0], exp.Star):
                if fn != "COUNT":
                    raise AnalysisError(f"{fn}(*) is not supported.")
                parts.append(f"CAST(COUNT(*) AS BIGINT) AS {quote(out)}")
                columns.append(Column(out, BIGINT, VALUE))
                continue
            arg = args[0]
            if not isinstance(arg, exp.Column) or not isinstance(arg.this, exp.Identifier):
                raise AnalysisError("Aggregates in pull queries take a column argument.")
            col = name_of(arg.this)
            t = compile_expr(arg, scope, ctx).type
            if fn == "COUNT":
                rt = BIGINT
            elif fn == "AVG":
                rt = DOUBLE
            elif fn == "SUM":
                if t.base in ("INTEGER", "BIGINT"):
                    rt = t
                elif t.base in ("DOUBLE", "DECIMAL"):
                    rt = t
                else:
                    raise AnalysisError(f"SUM does not accept {t}")
            else:
                rt = t
            from ksqlpy.pull.materializer import duckdb_type

            parts.append(f"CAST({fn}({quote(col)}) AS {duckdb_type(rt)}) AS {quote(out)}")
            columns.append(Column(out, rt, VALUE))
        return columns, "SELECT " + ", ".join(parts) + " FROM __rows"

    def _lookups(self, constraints, ctx):
        """[(sql, params)]; ``{t}`` in the SQL stands for the mirror's table."""
        t = "{t}"
        out = []
        seen = set()
        for con in constraints:
            if con.kind == "key":
                params = [_resolve_key(col, node, ctx) for col, node in con.keys]
                key = tuple(repr(p) for p in params)
                if key in seen:
                    continue
                seen.add(key)
                where = " AND ".join(f"{quote(col.name)} = ?" for col, _ in con.keys)
                out.append((f"SELECT * FROM {t} WHERE {where}", params))
            else:  # range
                col = con.keys[0][0]
                value = _resolve_key(col, con.bound, ctx)
                op = {exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=", exp.EQ: "="}[con.op]
                out.append((f"SELECT * FROM {t} WHERE {quote(col.name)} {op} ? "
                            f"ORDER BY {quote(col.name)}", [value]))
        return out

    # -- execution ------------------------------------------------------------------------
    def fetch(self, plan: PullPlan) -> pa.Table:
        """Candidate rows from DuckDB (key lookups, range scan or table scan) as Arrow."""
        con = self.store.con
        t = quote(plan.mirror.table)
        if plan.lookups is None:
            # key order, as ksqlDB's store iterates (LIMIT picks the first keys)
            order = ", ".join(quote(n) for n in ["ROWPARTITION"] + plan.mirror.pk)
            sql = f"SELECT * FROM {t}" + (f" ORDER BY {order}" if order else "")
            tables = [con.sql(sql).to_arrow_table()]
        else:
            tables = [con.sql(sql.replace("{t}", t), params=params).to_arrow_table()
                      for sql, params in plan.lookups]
        schema = plan.mirror.arrow_schema
        fixed = [_conform(tb, schema) for tb in tables]
        if len(fixed) == 1:
            return fixed[0]
        return pa.concat_tables(fixed)

    def run(self, plan: PullPlan) -> PullResult:
        table = self.fetch(plan)
        batch = table.combine_chunks().to_batches()
        batch = batch[0] if batch else pa.RecordBatch.from_pylist([], schema=table.schema)
        if plan.predicate is not None and batch.num_rows:
            mask = plan.predicate(batch)
            if mask.null_count:
                mask = pc.fill_null(mask, False)
            batch = batch.filter(mask)
        if plan.aggregate_sql is not None:
            con = self.store.con
            con.register("__rows", pa.Table.from_batches([batch], schema=batch.schema))
            try:
                res = con.sql(plan.aggregate_sql).to_arrow_table()
            finally:
                con.unregister("__rows")
            row = [_conform_value(res.column(i)[0].as_py(), c.type)
                   for i, c in enumerate(plan.columns)]
            rows = [row]
            if plan.limit is not None:
                rows = rows[:plan.limit]
            return PullResult(plan.columns, rows)
        if plan.order and batch.num_rows:
            keys = []
            cols = {}
            for i, (c, desc) in enumerate(plan.order):
                cols[f"__o{i}"] = c(batch)
                keys.append((f"__o{i}", "descending" if desc else "ascending"))
            idx = pc.sort_indices(pa.table(cols), sort_keys=keys)
            batch = batch.take(idx)
        if plan.limit is not None:
            batch = batch.slice(0, plan.limit)
        if batch.num_rows == 0:
            return PullResult(plan.columns, [])
        arrays = [c(batch).to_pylist() for c in plan.items]
        return PullResult(plan.columns, [list(r) for r in zip(*arrays)])


def _ksql(node) -> str:
    from ksqlpy.expr.compiler import ksql_text

    return ksql_text(node)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    if table.schema.equals(schema):
        return table
    arrays = []
    for f in schema:
        col = table.column(f.name)
        if col.type != f.type:
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                col = col.cast(f.type, safe=False)
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=schema)


def _conform_value(v, t: SqlType):
    if v is None:
        return None
    if t.base in ("INTEGER", "BIGINT"):
        return int(v)
    if t.base == "DOUBLE":
        return float(v)
    return v


_COERCE = {"INTEGER": {"INTEGER"}, "BIGINT": {"INTEGER", "BIGINT"},
           "DECIMAL": {"INTEGER", "BIGINT", "DECIMAL"},
           "DOUBLE": {"INTEGER", "BIGINT", "DECIMAL", "DOUBLE"}}


def _resolve_key(col: Column, node, ctx):
    """The key value of a lookup, coerced strictly to the key column's type."""
    from ksqlpy.plan.scope import RowScope

    if isinstance(node, exp.Null):
        raise AnalysisError(f"Primary key columns can not be NULL: ({col.name} = null)")
    c = compile_expr(node, RowScope([], set()), ctx)
    value = c(pa.RecordBatch.from_pydict({"__n": pa.array([0])}))[0]
    py = value.as_py()
    if py is None:
        raise AnalysisError(f"Primary key columns can not be NULL: ({col.name} = null)")
    kt = col.type
    ok = c.type == kt or c.type.base in _COERCE.get(kt.base, ())
    if not ok:
        shown = py if not isinstance(py, bytes) else py.decode(errors="replace")
        raise AnalysisError(f"'{shown}' can not be converted to the type of the key column: "
                            f"{col.name} {kt} KEY")
    if c.type != kt:
        py = value.cast(kt.to_arrow()).as_py()
    return py


_ = from_arrow
