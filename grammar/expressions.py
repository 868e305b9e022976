"""Custom AST nodes of the ksql dialect (sqlglot ``exp.Expression`` subclasses).

Every statement that is not a plain SELECT is one of the nodes below.  Arg keys are part of
the contract with the engine; see ``grammar/__init__.py`` for the overview.
"""

from __future__ import annotations

from sqlglot import exp

_UNIT_MS = {
    "MILLISECONDS": 1,
    "SECONDS": 1000,
    "MINUTES": 60 * 1000,
    "HOURS": 60 * 60 * 1000,
    "DAYS": 24 * 60 * 60 * 1000,
}

# Accepted spellings of a time unit -> the normalized (plural, upper-case) unit.
TIME_UNITS = {
    "MILLISECOND": "MILLISECONDS",
    "MILLISECONDS": "MILLISECONDS",
    "SECOND": "SECONDS",
    "SECONDS": "SECONDS",
    "MINUTE": "MINUTES",
    "MINUTES": "MINUTES",
    "HOUR": "HOURS",
    "HOURS": "HOURS",
    "DAY": "DAYS",
    "DAYS": "DAYS",
}


class KsqlStatement(exp.Expression):
    """Marker base class of all ksql statement nodes."""


# ---------------------------------------------------------------------------------------------
# DDL
# ---------------------------------------------------------------------------------------------


class TableElement(exp.Expression):
    """A column of a CREATE STREAM/TABLE column list.

    this: Identifier, kind: DataType, constraint: None|"KEY"|"PRIMARY KEY"|"HEADERS"|"HEADER",
    header_key: str|None (the key of HEADER('k')).
    """

    arg_types = {"this": True, "kind": True, "constraint": False, "header_key": False}


class WithProperty(exp.Expression):
    """One ``key = value`` of a WITH (...) clause.

    this: str (the key exactly as written, quotes removed), value: Literal or Boolean,
    quoted: bool (the key was written as a quoted string/identifier).
    """

    arg_types = {"this": True, "value": True, "quoted": False}

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.this

    @property
    def value(self):
        return self.args.get("value")


class CreateSource(KsqlStatement):
    arg_types = {
        "kind": True,
        "this": True,
        "replace": False,
        "source": False,
        "exists": False,
        "columns": False,
        "properties": False,
    }


class CreateAsSelect(KsqlStatement):
    arg_types = {
        "kind": True,
        "this": True,
        "replace": False,
        "exists": False,
        "properties": False,
        "expression": True,
    }


class InsertInto(KsqlStatement):
    arg_types = {"this": True, "properties": False, "expression": True}


class InsertValues(KsqlStatement):
    arg_types = {"this": True, "columns": False, "expressions": False}


class DropSource(KsqlStatement):
    arg_types = {"kind": True, "this": True, "exists": False, "delete_topic": False}


class AlterSource(KsqlStatement):
    arg_types = {"kind": True, "this": True, "columns": True}


class CreateType(KsqlStatement):
    arg_types = {"this": True, "kind": True, "exists": False}


class DropType(KsqlStatement):
    arg_types = {"this": True, "exists": False}


class CreateConnector(KsqlStatement):
    arg_types = {"kind": True, "this": True, "exists": False, "properties": False}


class DropConnector(KsqlStatement):
    arg_types = {"this": True, "exists": False}


# ---------------------------------------------------------------------------------------------
# Query control / metadata
# ---------------------------------------------------------------------------------------------


class Terminate(KsqlStatement):
    arg_types = {"this": False, "all": False}


class PauseResume(KsqlStatement):
    arg_types = {"action": True, "this": False, "all": False}


class Show(KsqlStatement):
    arg_types = {"this": True, "extended": False, "all": False, "connector_kind": False}


class Describe(KsqlStatement):
    arg_types = {"this": False, "extended": False, "what": False}


class DescribeFunction(KsqlStatement):
    arg_types = {"this": True}


class DescribeConnector(KsqlStatement):
    arg_types = {"this": True}


class Explain(KsqlStatement):
    arg_types = {"this": False, "query_id": False}


class PrintTopic(KsqlStatement):
    arg_types = {
        "this": True,
        "quoted": False,
        "from_beginning": False,
        "interval": False,
        "limit": False,
    }


class SetProperty(KsqlStatement):
    arg_types = {"this": True, "value": True}


class UnsetProperty(KsqlStatement):
    arg_types = {"this": True}


class AlterSystem(KsqlStatement):
    arg_types = {"this": True, "value": True}


class DefineVariable(KsqlStatement):
    arg_types = {"this": True, "value": True}


class UndefineVariable(KsqlStatement):
    arg_types = {"this": True}


class RunScript(KsqlStatement):
    arg_types = {"this": True}


class AssertTopic(KsqlStatement):
    """ASSERT [NOT EXISTS] TOPIC name [WITH (...)] [TIMEOUT n unit]; timeout is a Duration."""

    arg_types = {"this": True, "quoted": False, "not_exists": False, "properties": False,
                 "timeout": False}


class AssertSchema(KsqlStatement):
    """ASSERT [NOT EXISTS] SCHEMA [SUBJECT name] [ID n] [TIMEOUT n unit]."""

    arg_types = {"subject": False, "id": False, "not_exists": False, "timeout": False}


class AssertValues(KsqlStatement):
    """ASSERT [NULL] VALUES s [(cols)] VALUES|KEY (...) (test-only)."""

    arg_types = {"this": True, "columns": False, "expressions": False, "null": False}


class AssertStream(KsqlStatement):
    """ASSERT STREAM|TABLE x [(elements)] [WITH (...)] (test-only)."""

    arg_types = {"kind": True, "this": True, "columns": False, "properties": False}


# ---------------------------------------------------------------------------------------------
# Query clauses and expressions
# ---------------------------------------------------------------------------------------------


class Duration(exp.Expression):
    """A ``<n> <unit>`` duration: this=int, unit=normalized plural upper-case unit."""

    arg_types = {"this": True, "unit": True}

    def millis(self) -> int:
        return int(self.this) * _UNIT_MS[self.args["unit"]]


class WindowSpec(exp.Expression):
    arg_types = {"kind": True, "size": False, "advance": False, "retention": False,
                 "grace": False}


class Emit(exp.Expression):
    arg_types = {"this": True}


class PartitionBy(exp.Expression):
    arg_types = {"expressions": True}


class Within(exp.Expression):
    arg_types = {"before": True, "after": True, "grace": False}


class Dereference(exp.Expression):
    """``this->expression`` struct field access; expression is an Identifier or exp.Star."""

    arg_types = {"this": True, "expression": True}


STATEMENT_TYPES = (KsqlStatement,)
