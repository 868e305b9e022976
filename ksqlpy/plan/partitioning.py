"""Whether a query can run partition by partition (stage: plan → runtime scheduling).

A persistent query's state is *partition-local* when every stateful step is keyed by its
sources' keys: then all records that touch one piece of state arrive on the same source
partition, so each server of a scale-out cluster can own a subset of the partitions, with its
state in the matching changelog partitions. Where ksqlDB would insert a repartition topic (a
GROUP BY or join on anything but the key, a foreign-key join, state after PARTITION BY),
ksqlpy keeps the query whole instead: one server owns all its partitions and the others stand
by to take over.

>>> partition_local_steps([{"@type": "streamFilter/v1"}], {}, [])
True
>>> agg = {"@type": "streamAggregate/v1", "groupByExpressions": ["C"]}
>>> partition_local_steps([agg], {"O": {"ID"}}, ["ID"])
False
>>> join = {"@type": "streamTableJoin/v1", "leftJoinExpression": "O.C",
...         "rightJoinExpression": "T.C"}
>>> partition_local_steps([join], {"O": {"ID"}, "T": {"C"}}, ["ID"])
False
"""

from __future__ import annotations

__all__ = ["is_key", "partition_local", "partition_local_steps"]

_JOINS = {"streamStreamJoin/v1", "streamTableJoin/v1", "tableTableJoin/v1"}
_AGGREGATES = {"streamAggregate/v1", "streamWindowedAggregate/v1", "tableAggregate/v1"}
_REKEY = {"streamSelectKey/v1", "tableSelectKey/v1"}


def _column(expression: str) -> str:
    """The column name of ``ALIAS.COL``, ```COL``` or ``COL`` (upper-cased by the planner)."""
    return expression.rsplit(".", 1)[-1].strip("`")


def is_key(expression: str, keys: dict[str, set[str]]) -> bool:
    """Whether ``ALIAS.COL`` (or a bare ``COL``) names a key column of its source."""
    alias, _, col = expression.strip("`").rpartition(".")
    if alias:
        return col.strip("`") in keys.get(alias.strip("`"), set())
    return any(col in names for names in keys.values())


def partition_local_steps(steps: list[dict], keys: dict[str, set[str]], source_key: list[str]
                          ) -> bool:
    """Decide from the plan's steps (see module doc). ``keys``: the key columns of each
    source by alias; ``source_key``: the FROM source's key columns, in order (a GROUP BY
    keeps the partitioning only when it groups by exactly that key)."""
    joined = False
    rekeyed = False
    for step in steps:
        kind = step.get("@type")
        if kind in _REKEY:
            rekeyed = True
        elif kind == "foreignKeyTableTableJoin/v1":
            return False
        elif kind in _JOINS:
            exprs = (step.get("leftJoinExpression", ""), step.get("rightJoinExpression", ""))
            if rekeyed or not all(is_key(e, keys) for e in exprs):
                return False
            joined = True
        elif kind in _AGGREGATES:
            groups = step.get("groupByExpressions") or []
            columns = [_column(g) for g in groups]
            same_key = len(groups) == 1 and is_key(groups[0], keys) if joined \
                else columns == source_key
            if rekeyed or not same_key:
                return False
    return True


def partition_local(plan) -> bool:
    """True when ``plan``'s state can be split by source partition (see module doc)."""
    sides = getattr(plan.scope, "sides", None) or [(s.name, s) for s in plan.sources]
    keys = {alias: {c.name for c in src.schema.key} for alias, src in sides}
    return partition_local_steps(plan.steps, keys, [c.name for c in plan.source.schema.key])
