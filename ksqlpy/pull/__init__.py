"""Pull queries through DuckDB (stage: materialized tables → point-in-time answers).

- :mod:`.materializer`: every materialized table (CTAS sink, CREATE SOURCE TABLE) mirrored
  into DuckDB from its changelog topic;
- :mod:`.validate`: ksqlDB's pull-query rules and WHERE-clause analysis;
- :mod:`.executor`: planning (cached by SQL text) and execution.

The engine owns one :class:`PullService` (``engine.pull``), created lazily.
"""

from __future__ import annotations

import random
from collections import OrderedDict

from sqlglot import exp

from ksqlpy.errors import AnalysisError
from ksqlpy.pull.executor import (PullExecutor, PullPlan, PullQueryHandle, PullResult,
                                  header_schema, split_order_by)
from ksqlpy.pull.materializer import PullStore, is_materialized
from ksqlpy.pull.validate import validate_pull_select

__all__ = ["PullService", "PullResult", "PullQueryHandle", "header_schema", "is_materialized",
           "validate_pull_select"]


class PullService:
    """Materializers plus the pull-query executor of one engine."""

    def __init__(self, engine):
        self.engine = engine
        self.store = PullStore(engine.log, engine.properties,
                               run_tasks=engine.config.run_queries,
                               batch_size=engine.config.batch_size)
        self.store.busy = lambda: any(q.state == "RUNNING" and not q.is_caught_up()
                                      for q in engine.queries)
        self.executor = PullExecutor(self.store)
        self._plans: OrderedDict = OrderedDict()

    def sync(self) -> None:
        self.store.sync(self.engine.catalog.sources())

    def register(self, source) -> None:
        if is_materialized(source):
            m = self.store.mirror(source.name)
            if m is None or m.source is not source:
                self.store.register(source)

    async def materialize_all(self) -> int:
        self.sync()
        return await self.store.catch_up_all()

    def _parse(self, sql: str, variables: dict):
        from ksqlpy.parse import script as g

        parsed = list(g.split_and_parse(sql, variables))
        if len(parsed) != 1 or not isinstance(parsed[0][1], exp.Select):
            raise AnalysisError("Expected exactly one SELECT statement.")
        return parsed[0][1]

    def plan(self, sql: str, properties: dict, variables: dict) -> PullPlan:
        from ksqlpy.errors import ParseError

        key = (sql, tuple(sorted(properties.items())), tuple(sorted(variables.items())))
        plan = self._plans.get(key)
        catalog = self.engine.catalog
        if plan is not None and catalog.source(plan.source.name) is plan.source and \
                self.store.mirror(plan.source.name) is plan.mirror:
            self._plans.move_to_end(key)
            return plan
        order = None
        try:
            select = self._parse(sql, variables)
        except ParseError:
            # ORDER BY (beyond ksqlDB) on a table: cut it off, parse the rest.
            rest, order_text = split_order_by(sql)
            if order_text is None:
                raise
            try:
                select = self._parse(rest, variables)
            except ParseError:
                raise
            src = _source_of(select, catalog)
            if src is None or src.kind != "TABLE" or select.args.get("emit") is not None:
                raise
            from ksqlpy.pull.executor import _parse_order

            order = _parse_order(order_text, variables)
        plan = self.executor.plan(select, catalog, properties, order=order)
        self._plans[key] = plan
        if len(self._plans) > 1024:
            self._plans.popitem(last=False)
        return plan

    async def query(self, sql: str, properties: dict | None = None,
                    variables: dict | None = None) -> PullResult:
        props = self.engine.effective_properties(properties)
        variables = {**self.engine.variables, **(variables or {})}
        plan = self.plan(sql, props, variables)
        m = plan.mirror
        refresh = getattr(self.engine.log, "refresh_ends", None)
        if refresh is not None:  # other servers write the table's topic too (scale-out)
            await refresh(m.source.topic)
        if not m.is_caught_up():   # read-your-writes: apply what the changelog holds now
            await m.catch_up(self.store.batch_size)
        result = self.executor.run(plan)
        result.query_id = f"query_{random.getrandbits(63)}"
        return result

    async def close(self) -> None:
        await self.store.close()


def _source_of(select, catalog):
    from ksqlpy.parse import name_of

    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is None or not isinstance(from_.this, exp.Table):
        return None
    return catalog.source(name_of(from_.this.this))
