"""The ksql dialect: tokenizer, parser and generator on top of sqlglot.

The dialect registers itself in sqlglot's dialect registry under the name ``ksql`` (sqlglot
keys dialect classes by lower-cased class name), so ``sqlglot.transpile(sql, read="ksql")``
works for plain SELECTs.
"""

from __future__ import annotations

import typing as t

from sqlglot import exp, parser, tokens, generator
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.errors import ParseError
from sqlglot.tokens import Token, TokenType

from . import expressions as kx
from .expressions import TIME_UNITS

# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------

# Words that keep a dedicated token type (sqlglot's expression parser relies on them).  Every
# other word is a plain VAR, so that names such as DATE, TIMESTAMP, KEY, FORMAT or VALUE can be
# used as column names without quoting; ksql's own keywords are matched by text.
_KEPT_WORDS = {
    "ALL", "AND", "AS", "BETWEEN", "CASE", "DISTINCT", "ELSE", "END", "ESCAPE", "FALSE",
    "FROM", "FULL", "GROUP BY", "HAVING", "IN", "INNER", "IS", "JOIN", "LEFT", "LIKE", "LIMIT",
    "NOT", "NULL", "ON", "OR", "OUTER", "RIGHT", "SELECT", "THEN", "TRUE", "WHEN", "WHERE",
    "WINDOW",
}

# Words that end a source reference, so they can never be a table alias.
#: Reserved words that start or continue a query clause: never a source name unless quoted
#: (ksqlDB's ``identifier`` rule admits only its ``nonReserved`` keywords unquoted).
RESERVED_CLAUSE_WORDS = {
    "SELECT", "FROM", "WHERE", "GROUP", "HAVING", "LIMIT", "JOIN", "LEFT", "RIGHT", "FULL",
    "INNER", "OUTER", "CROSS", "ON", "AS", "AND", "OR", "NOT", "WITH", "WITHIN", "ORDER",
    "UNION", "INTERSECT", "EXCEPT",
}

CLAUSE_WORDS = {
    "WINDOW", "WHERE", "GROUP", "PARTITION", "HAVING", "EMIT", "LIMIT", "WITHIN", "JOIN",
    "LEFT", "RIGHT", "FULL", "INNER", "OUTER", "CROSS", "ON", "AS", "SELECT", "FROM", "AND",
    "OR", "NOT", "WITH", "GRACE", "ORDER", "UNION", "INTERSECT", "EXCEPT", "OFFSET", "FETCH",
}

_TYPE_LITERAL_NAMES = {"TIMESTAMP", "DATE", "TIME"}

_STATEMENT_WORDS = {
    "SELECT", "CREATE", "INSERT", "DROP", "ALTER", "TERMINATE", "PAUSE", "RESUME", "SHOW",
    "LIST", "DESCRIBE", "EXPLAIN", "PRINT", "SET", "UNSET", "DEFINE", "UNDEFINE", "ASSERT", "RUN",
}


class KsqlTokenizer(tokens.Tokenizer):
    IDENTIFIERS = ["`", '"']
    QUOTES = ["'"]
    STRING_ESCAPES = ["'"]
    COMMENTS = ["--", ("/*", "*/")]
    NESTED_COMMENTS = False
    HINT_START = "/*+ ksql: no hints */"  # never matches: ksql has no optimizer hints

    KEYWORDS = {
        k: v
        for k, v in tokens.Tokenizer.KEYWORDS.items()
        if (not k[:1].isalpha() and k != "/*+") or k in _KEPT_WORDS
    }
    # `:=` is used by MAP/STRUCT constructors, `=>` by lambdas, `->` by struct dereference.


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------


def _ksql_error(message: str, token: Token | None) -> ParseError:
    err = ParseError(message)
    err.ksql_token = token  # type: ignore[attr-defined]
    err.ksql_message = message  # type: ignore[attr-defined]
    return err


class KsqlParser(parser.Parser):
    # Every function call becomes exp.Anonymous; only CAST/MAP/STRUCT have their own syntax.
    FUNCTIONS: t.ClassVar[dict] = {}
    NO_PAREN_FUNCTIONS: t.ClassVar[dict] = {}
    NO_PAREN_FUNCTION_PARSERS: t.ClassVar[dict] = {
        "CASE": parser.Parser.NO_PAREN_FUNCTION_PARSERS["CASE"],
    }
    FUNCTION_PARSERS: t.ClassVar[dict] = {
        "CAST": lambda self: self._parse_ksql_cast(),
        "MAP": lambda self: self._parse_ksql_map(),
        "STRUCT": lambda self: self._parse_ksql_struct(),
    }
    FUNC_TOKENS: t.ClassVar = parser.Parser.FUNC_TOKENS | {
        TokenType.LEFT,
        TokenType.RIGHT,
        TokenType.FULL,
        TokenType.INNER,
        TokenType.LIKE,
        TokenType.WINDOW,
    }

    # `->` is struct dereference (handled in _parse_column_ops), `=>` builds lambdas.
    COLUMN_OPERATORS: t.ClassVar = {
        k: v for k, v in parser.Parser.COLUMN_OPERATORS.items() if k == TokenType.DOT
    }
    PRIMARY_PARSERS: t.ClassVar = {
        **parser.Parser.PRIMARY_PARSERS,
        TokenType.NUMBER: lambda self, token: self._parse_ksql_number(token),
    }
    COLUMN_POSTFIX_TOKENS: t.ClassVar = parser.Parser.COLUMN_POSTFIX_TOKENS | {TokenType.ARROW}
    BRACKETS: t.ClassVar = frozenset({TokenType.L_BRACKET})
    LAMBDAS: t.ClassVar = {
        TokenType.FARROW: parser.Parser.LAMBDAS[TokenType.ARROW],
    }

    # SQL statements: dispatched by the (upper-cased) text of the first word.
    KSQL_STATEMENTS: t.ClassVar[dict[str, t.Callable]] = {
        "SELECT": lambda self: self._parse_ksql_query(),
        "CREATE": lambda self: self._parse_ksql_create(),
        "INSERT": lambda self: self._parse_ksql_insert(),
        "DROP": lambda self: self._parse_ksql_drop(),
        "ALTER": lambda self: self._parse_ksql_alter(),
        "TERMINATE": lambda self: self._parse_ksql_terminate(),
        "PAUSE": lambda self: self._parse_ksql_pause_resume("PAUSE"),
        "RESUME": lambda self: self._parse_ksql_pause_resume("RESUME"),
        "SHOW": lambda self: self._parse_ksql_show(),
        "LIST": lambda self: self._parse_ksql_show(),
        "DESCRIBE": lambda self: self._parse_ksql_describe(),
        "EXPLAIN": lambda self: self._parse_ksql_explain(),
        "PRINT": lambda self: self._parse_ksql_print(),
        "SET": lambda self: self._parse_ksql_set(),
        "UNSET": lambda self: self._parse_ksql_unset(),
        "DEFINE": lambda self: self._parse_ksql_define(),
        "UNDEFINE": lambda self: self._parse_ksql_undefine(),
        "ASSERT": lambda self: self._parse_ksql_assert(),
        "RUN": lambda self: self._parse_ksql_run_script(),
    }

    # ASSERT VALUES / ASSERT NULL VALUES / ASSERT STREAM|TABLE belong to ksqlDB's test-only
    # grammar (the .sql test runner); a normal parse rejects them like ksqlDB does.
    ALLOW_TEST_STATEMENTS: t.ClassVar[bool] = False

    SHOW_KINDS: t.ClassVar = {
        "STREAMS", "TABLES", "TOPICS", "QUERIES", "PROPERTIES", "FUNCTIONS", "TYPES",
        "VARIABLES", "CONNECTORS",
    }
    SHOW_EXTENDED: t.ClassVar = {"STREAMS", "TABLES", "TOPICS", "QUERIES"}

    # ----------------------------------------------------------------------------- errors

    def raise_error(self, message: str, token: Token = parser.SENTINEL_NONE) -> None:  # type: ignore[attr-defined]
        tok = token or self._curr or None
        at_eof = not token and not self._curr
        try:
            super().raise_error(message, token)
        except ParseError as e:
            e.ksql_token = None if at_eof else tok  # type: ignore[attr-defined]
            e.ksql_message = message  # type: ignore[attr-defined]
            raise

    def _fail(self, token: Token | None = None, message: str = "Syntax error") -> t.NoReturn:
        self.raise_error(message, token or self._curr or parser.SENTINEL_NONE)  # type: ignore[attr-defined]
        raise _ksql_error(message, token or self._curr)  # raise_error is IMMEDIATE; belt and braces

    # ----------------------------------------------------------------------------- helpers

    def _peek_word(self, offset: int = 0) -> str:
        tok = self._tokens[self._index + offset] if self._index + offset < len(self._tokens) else None
        if not tok or tok.token_type in (TokenType.STRING, TokenType.IDENTIFIER):
            return ""
        return tok.text.upper()

    def _match_word(self, *words: str) -> bool:
        """Match a sequence of (unquoted) words by text, whatever their token types."""
        index = self._index
        for word in words:
            tok = self._curr
            if (
                not tok
                or tok.token_type in (TokenType.STRING, TokenType.IDENTIFIER)
                or " ".join(tok.text.upper().split()) != word
            ):
                self._retreat(index)
                return False
            self._advance()
        return True

    def _expect_word(self, *words: str) -> None:
        for word in words:
            if not self._match_word(word):
                self._fail()

    def _expect(self, token_type: TokenType) -> Token:
        if not self._match(token_type):
            self._fail()
        return self._prev

    def _parse_name(self) -> exp.Identifier:
        """A ksql identifier: quoted, or any unquoted word."""
        tok = self._curr
        if not tok:
            self._fail()
        if tok.token_type == TokenType.IDENTIFIER:
            self._advance()
            return self.expression(exp.Identifier(this=tok.text, quoted=True), tok)
        if tok.token_type == TokenType.VAR or (tok.text[:1].isalpha() or tok.text[:1] == "_") and (
            tok.text.replace("_", "").isalnum()
        ):
            self._advance()
            return self.expression(exp.Identifier(this=tok.text, quoted=False), tok)
        self._fail()

    def _parse_name_or_string(self) -> tuple[str, bool]:
        if self._match(TokenType.STRING):
            return self._prev.text, True
        ident = self._parse_name()
        return ident.this, bool(ident.args.get("quoted"))

    def _parse_string(self) -> exp.Expr | None:  # keep base behaviour for expressions
        return super()._parse_string()

    def _expect_string(self) -> str:
        if not self._match(TokenType.STRING):
            self._fail()
        return self._prev.text

    def _parse_int(self) -> int:
        neg = self._match(TokenType.DASH)
        if not self._match(TokenType.NUMBER):
            self._fail()
        text = self._prev.text
        try:
            value = int(text)
        except ValueError:
            self._fail(self._prev)
        return -value if neg else value

    def _parse_exists_clause(self) -> bool:
        return self._match_word("IF", "NOT", "EXISTS")

    # ----------------------------------------------------------------------------- statements

    def _parse_statement(self) -> exp.Expr | None:
        if not self._curr:
            return None
        comments = self._curr.comments
        word = self._peek_word()
        handler = self.KSQL_STATEMENTS.get(word)
        if handler is None:
            self._fail(self._curr)
        stmt = handler(self)
        if comments and stmt is not None and not stmt.comments:
            stmt.add_comments(comments, prepend=True)
        return stmt

    # SELECT ----------------------------------------------------------------------------------

    def _parse_ksql_query(self) -> exp.Select:
        if not self._match(TokenType.SELECT, advance=False):
            self._fail()
        query = self._parse_select(parse_set_operation=False, consume_pipe=False)
        if not isinstance(query, exp.Select):
            self._fail()
        if not query.args.get("from_"):
            self._fail(self._curr)
        return query

    def _parse_from(self, joins: bool = False, skip_from_token: bool = False, **kwargs: t.Any):
        if not skip_from_token and not self._match(TokenType.FROM):
            return None
        comments = self._prev_comments
        return self.expression(exp.From(this=self._parse_ksql_source()), comments=comments)

    def _parse_ksql_source(self) -> exp.Table:
        if self._curr and self._curr.token_type != TokenType.IDENTIFIER \
                and self._peek_word() in RESERVED_CLAUSE_WORDS:
            self._fail(self._curr)  # e.g. FROM WHERE: the source name is missing
        name = self._parse_name()
        alias = None
        if self._match(TokenType.ALIAS):
            alias = self._parse_name()
        elif self._curr and self._curr.token_type in (TokenType.VAR, TokenType.IDENTIFIER):
            if self._curr.token_type == TokenType.IDENTIFIER or self._peek_word() not in CLAUSE_WORDS:
                alias = self._parse_name()
        table = self.expression(exp.Table(this=name))
        if alias is not None:
            table.set("alias", self.expression(exp.TableAlias(this=alias)))
        return table

    def _parse_query_modifiers(self, this):  # type: ignore[override]
        if not isinstance(this, exp.Select):
            return super()._parse_query_modifiers(this)
        joins = []
        while True:
            join = self._parse_ksql_join()
            if join is None:
                break
            joins.append(join)
        if joins:
            this.set("joins", joins)
        if self._match(TokenType.WINDOW):
            this.set("window", self._parse_ksql_window())
        if self._match(TokenType.WHERE, advance=False):
            this.set("where", self._parse_where())
        if self._match(TokenType.GROUP_BY):
            exprs = self._parse_ksql_value_list()
            this.set("group", self.expression(exp.Group(expressions=exprs)))
        if self._match_word("PARTITION", "BY"):
            exprs = self._parse_ksql_value_list()
            this.set("partition_by", self.expression(kx.PartitionBy(expressions=exprs)))
        if self._match(TokenType.HAVING, advance=False):
            this.set("having", self._parse_having())
        if self._match_word("EMIT"):
            if self._match_word("CHANGES"):
                this.set("emit", self.expression(kx.Emit(this="CHANGES")))
            elif self._match_word("FINAL"):
                this.set("emit", self.expression(kx.Emit(this="FINAL")))
            else:
                self._fail()
        if self._match(TokenType.LIMIT):
            limit_tok = self._curr
            value = self._parse_int()
            this.set(
                "limit",
                self.expression(exp.Limit(expression=exp.Literal.number(value)), limit_tok),
            )
        return this

    def _parse_ksql_value_list(self) -> list[exp.Expr]:
        """GROUP BY / PARTITION BY items: value expressions (no AND/OR), `(a, b)` flattened."""
        exprs: list[exp.Expr] = []
        for e in self._parse_csv(self._parse_bitwise):
            if e is None:
                self._fail()
            if isinstance(e, exp.Tuple):
                exprs.extend(e.expressions)
            else:
                exprs.append(e)
        if not exprs:
            self._fail()
        return exprs

    def _parse_ksql_join(self) -> exp.Join | None:
        index = self._index
        side = kind = None
        if self._match(TokenType.INNER):
            kind = "INNER"
        elif self._match_set((TokenType.LEFT, TokenType.RIGHT, TokenType.FULL)):
            side = self._prev.text.upper()
            if self._match(TokenType.OUTER):
                kind = "OUTER"
        if not self._match(TokenType.JOIN):
            self._retreat(index)
            return None
        source = self._parse_ksql_source()
        within = self._parse_ksql_within() if self._match_word("WITHIN") else None
        if not self._match(TokenType.ON):
            self._fail()
        on = self._parse_disjunction()
        join = self.expression(exp.Join(this=source, on=on))
        if side:
            join.set("side", side)
        if kind:
            join.set("kind", kind)
        if within is not None:
            join.set("within", within)
        return join

    def _parse_ksql_duration(self) -> kx.Duration:
        start = self._curr
        value = self._parse_int()
        unit_tok = self._curr
        unit = TIME_UNITS.get(self._peek_word())
        if unit is None:
            self._fail(unit_tok)
        self._advance()
        return self.expression(kx.Duration(this=value, unit=unit), start)

    def _parse_ksql_grace(self) -> kx.Duration | None:
        if self._match_word("GRACE"):
            self._expect_word("PERIOD")
            return self._parse_ksql_duration()
        return None

    def _parse_ksql_within(self) -> kx.Within:
        if self._match(TokenType.L_PAREN):
            before = self._parse_ksql_duration()
            self._expect(TokenType.COMMA)
            after = self._parse_ksql_duration()
            self._expect(TokenType.R_PAREN)
        else:
            before = self._parse_ksql_duration()
            after = before.copy()
        within = kx.Within(before=before, after=after)
        grace = self._parse_ksql_grace()
        if grace is not None:
            within.set("grace", grace)
        return self.expression(within)

    def _parse_ksql_window(self) -> kx.WindowSpec:
        kind_tok = self._curr
        kind = self._peek_word()
        if kind not in ("TUMBLING", "HOPPING", "SESSION"):
            self._fail(kind_tok)
        self._advance()
        self._expect(TokenType.L_PAREN)
        spec = kx.WindowSpec(kind=kind)
        if kind == "SESSION":
            spec.set("size", self._parse_ksql_duration())
        else:
            self._expect_word("SIZE")
            spec.set("size", self._parse_ksql_duration())
            if kind == "HOPPING":
                self._expect(TokenType.COMMA)
                self._expect_word("ADVANCE")
                self._expect_word("BY")
                spec.set("advance", self._parse_ksql_duration())
        while self._match(TokenType.COMMA):
            if self._match_word("RETENTION") and not spec.args.get("retention"):
                spec.set("retention", self._parse_ksql_duration())
            elif self._match_word("GRACE") and not spec.args.get("grace"):
                self._expect_word("PERIOD")
                spec.set("grace", self._parse_ksql_duration())
            else:
                self._fail()
        self._expect(TokenType.R_PAREN)
        return self.expression(spec, kind_tok)

    # expressions -----------------------------------------------------------------------------

    def _parse_column_ops(self, this: exp.Expr | None) -> exp.Expr | None:
        this = super()._parse_column_ops(this)
        while this is not None and self._match(TokenType.ARROW):
            if self._match(TokenType.STAR):
                field: exp.Expr = exp.Star()
            else:
                field = self._parse_name()
            this = self.expression(kx.Dereference(this=this, expression=field))
            this = super()._parse_column_ops(this)
        return this

    def _parse_type(self, parse_interval: bool = True, fallback_to_identifier: bool = False):
        tok = self._curr
        if (
            tok
            and tok.token_type == TokenType.VAR
            and tok.text.upper() in _TYPE_LITERAL_NAMES
            and self._next
            and self._next.token_type == TokenType.STRING
        ):
            self._advance()
            to = self.expression(exp.DataType(this=exp.DType[tok.text.upper()]), tok)
            literal = self._parse_primary()
            cast = self.expression(exp.Cast(this=literal, to=to), tok)
            cast.meta["typed_literal"] = True
            return self._parse_column_ops(cast)
        return super()._parse_type(parse_interval=False, fallback_to_identifier=fallback_to_identifier)

    def _parse_alias(self, this: exp.Expr | None, explicit: bool = False) -> exp.Expr | None:
        if isinstance(this, exp.Star) or (
            isinstance(this, kx.Dereference) and isinstance(this.expression, exp.Star)
        ) or (isinstance(this, exp.Column) and isinstance(this.this, exp.Star)):
            return this  # `*`, `t.*` and `s->*` cannot be aliased
        if (
            not explicit
            and self._curr
            and self._curr.token_type == TokenType.VAR
            and self._curr.text.upper() in CLAUSE_WORDS
        ):
            return this
        return super()._parse_alias(this, explicit)

    def _parse_in(self, this: exp.Expr | None, alias: bool = False) -> exp.In:
        self._expect(TokenType.L_PAREN)
        if self._match(TokenType.R_PAREN, advance=False):
            self._fail()
        expressions = self._parse_csv(self._parse_disjunction)
        self._expect(TokenType.R_PAREN)
        return self.expression(exp.In(this=this, expressions=expressions))

    def _parse_ksql_number(self, token: Token) -> exp.Expr:
        text = token.text
        prev = self._tokens[self._index - 2] if self._index >= 2 else None
        negative = bool(prev) and prev.token_type == TokenType.DASH
        signed = ("-" if negative else "") + text
        if text.isdigit():
            value = int(signed)
            if not (-(2**63) <= value <= 2**63 - 1):
                raise ConstraintError(f"Invalid numeric literal: {signed}", prev if negative else token)
        elif "E" in text.upper():
            try:
                overflow = float(text) in (float("inf"), float("-inf"))
            except ValueError:
                overflow = False
            if overflow:
                raise ConstraintError(f"Number overflows DOUBLE: {signed}", prev if negative else token)
        return self.expression(exp.Literal(this=text, is_string=False), token)

    def _parse_ksql_cast(self) -> exp.Cast:
        this = self._parse_disjunction()
        self._expect(TokenType.ALIAS)
        to = self._parse_ksql_type()
        return self.expression(exp.Cast(this=this, to=to))

    def _parse_ksql_map(self) -> exp.Map:
        keys: list[exp.Expr] = []
        values: list[exp.Expr] = []
        if not self._match(TokenType.R_PAREN, advance=False):
            while True:
                keys.append(self._parse_disjunction())
                self._expect(TokenType.COLON_EQ)
                values.append(self._parse_disjunction())
                if not self._match(TokenType.COMMA):
                    break
        return self.expression(
            exp.Map(keys=exp.Array(expressions=keys), values=exp.Array(expressions=values))
        )

    def _parse_ksql_struct(self) -> exp.Struct:
        fields: list[exp.Expr] = []
        if not self._match(TokenType.R_PAREN, advance=False):
            while True:
                name = self._parse_name()
                self._expect(TokenType.COLON_EQ)
                value = self._parse_disjunction()
                fields.append(self.expression(exp.PropertyEQ(this=name, expression=value)))
                if not self._match(TokenType.COMMA):
                    break
        return self.expression(exp.Struct(expressions=fields))

    # types -------------------------------------------------------------------------------------

    SIMPLE_TYPES: t.ClassVar[dict[str, exp.DType]] = {
        "BOOLEAN": exp.DType.BOOLEAN,
        "INT": exp.DType.INT,
        "INTEGER": exp.DType.INT,
        "BIGINT": exp.DType.BIGINT,
        "DOUBLE": exp.DType.DOUBLE,
        "VARCHAR": exp.DType.VARCHAR,
        "STRING": exp.DType.VARCHAR,
        "BYTES": exp.DType.VARBINARY,
        "DATE": exp.DType.DATE,
        "TIME": exp.DType.TIME,
        "TIMESTAMP": exp.DType.TIMESTAMP,
    }

    def _expect_gt(self) -> None:
        if self._match(TokenType.GT):
            return
        # `>>` / `>=` are never single tokens here, but be defensive
        self._fail()

    def _parse_ksql_type(self) -> exp.DataType:
        tok = self._curr
        if not tok:
            self._fail()
        word = self._peek_word()
        if tok.token_type == TokenType.IDENTIFIER:
            self._advance()
            return self.expression(exp.DataType(this=exp.DType.USERDEFINED, kind=tok.text), tok)
        if word in self.SIMPLE_TYPES:
            self._advance()
            if self._match(TokenType.L_PAREN):
                # ksql's grammar allows (ignored) type parameters: VARCHAR(STRING), INT(10)
                while True:
                    if not (self._match(TokenType.NUMBER) or self._match_word("STRING")):
                        self._fail()
                    if not self._match(TokenType.COMMA):
                        break
                self._expect(TokenType.R_PAREN)
            return self.expression(exp.DataType(this=self.SIMPLE_TYPES[word]), tok)
        if word == "DECIMAL":
            self._advance()
            self._expect(TokenType.L_PAREN)
            p = self._parse_int()
            self._expect(TokenType.COMMA)
            s = self._parse_int()
            self._expect(TokenType.R_PAREN)
            return self.expression(
                exp.DataType(
                    this=exp.DType.DECIMAL,
                    expressions=[
                        exp.DataTypeParam(this=exp.Literal.number(p)),
                        exp.DataTypeParam(this=exp.Literal.number(s)),
                    ],
                ),
                tok,
            )
        if word == "ARRAY":
            self._advance()
            self._expect(TokenType.LT)
            inner = self._parse_ksql_type()
            self._expect_gt()
            return self.expression(
                exp.DataType(this=exp.DType.ARRAY, expressions=[inner], nested=True), tok
            )
        if word == "MAP":
            self._advance()
            self._expect(TokenType.LT)
            key = self._parse_ksql_type()
            self._expect(TokenType.COMMA)
            value = self._parse_ksql_type()
            self._expect_gt()
            return self.expression(
                exp.DataType(this=exp.DType.MAP, expressions=[key, value], nested=True), tok
            )
        if word == "STRUCT":
            self._advance()
            fields: list[exp.Expr] = []
            if self._match(TokenType.NEQ):  # STRUCT<>
                if self._prev.text != "<>":
                    self._fail(self._prev)
            else:
                self._expect(TokenType.LT)
                if not self._match(TokenType.GT):
                    while True:
                        name = self._parse_name()
                        kind = self._parse_ksql_type()
                        fields.append(self.expression(exp.ColumnDef(this=name, kind=kind)))
                        if not self._match(TokenType.COMMA):
                            break
                    self._expect_gt()
            return self.expression(
                exp.DataType(this=exp.DType.STRUCT, expressions=fields, nested=True), tok
            )
        if tok.token_type == TokenType.VAR:
            self._advance()
            return self.expression(exp.DataType(this=exp.DType.USERDEFINED, kind=tok.text), tok)
        self._fail(tok)

    # WITH properties -------------------------------------------------------------------------

    def _parse_ksql_properties(self) -> list[kx.WithProperty]:
        self._expect(TokenType.L_PAREN)
        props: list[kx.WithProperty] = []
        if self._match(TokenType.R_PAREN):
            return props
        while True:
            key_tok = self._curr
            key, quoted = self._parse_name_or_string()
            self._expect(TokenType.EQ)
            value = self._parse_ksql_literal()
            props.append(
                self.expression(kx.WithProperty(this=key, value=value, quoted=quoted), key_tok)
            )
            if not self._match(TokenType.COMMA):
                break
        self._expect(TokenType.R_PAREN)
        return props

    def _parse_ksql_literal(self) -> exp.Expr:
        tok = self._curr
        if self._match(TokenType.STRING):
            return self.expression(exp.Literal.string(tok.text), tok)
        if self._match(TokenType.TRUE):
            return self.expression(exp.Boolean(this=True), tok)
        if self._match(TokenType.FALSE):
            return self.expression(exp.Boolean(this=False), tok)
        if self._match(TokenType.NULL):
            return self.expression(exp.Null(), tok)
        neg = self._match(TokenType.DASH)
        if self._match(TokenType.NUMBER):
            lit = self.expression(exp.Literal.number(self._prev.text), tok)
            return self.expression(exp.Neg(this=lit)) if neg else lit
        self._fail()

    # CREATE ----------------------------------------------------------------------------------

    def _parse_ksql_create(self) -> exp.Expr:
        self._expect_word("CREATE")
        replace = self._match_word("OR", "REPLACE")
        if self._match_word("TYPE"):
            exists = self._parse_exists_clause()
            name = self._parse_name()
            self._expect(TokenType.ALIAS)
            kind = self._parse_ksql_type()
            return self.expression(kx.CreateType(this=name, kind=kind, exists=exists))
        if self._peek_word() in ("SOURCE", "SINK") and self._peek_word(1) == "CONNECTOR":
            ckind = self._peek_word()
            self._advance(2)
            exists = self._parse_exists_clause()
            name = self._parse_name()
            props = []
            if self._match_word("WITH"):
                props = self._parse_ksql_properties()
            return self.expression(
                kx.CreateConnector(kind=ckind, this=name, exists=exists, properties=props)
            )
        source = self._match_word("SOURCE")
        kind_tok = self._curr
        if self._match_word("STREAM"):
            kind = "STREAM"
        elif self._match_word("TABLE"):
            kind = "TABLE"
        else:
            self._fail()
        exists = self._parse_exists_clause()
        name = self._parse_name()
        columns: list[kx.TableElement] = []
        if self._match(TokenType.L_PAREN):
            if not self._match(TokenType.R_PAREN):
                while True:
                    columns.append(self._parse_ksql_table_element(kind))
                    if not self._match(TokenType.COMMA):
                        break
                self._expect(TokenType.R_PAREN)
        props: list[kx.WithProperty] = []
        if self._match_word("WITH"):
            props = self._parse_ksql_properties()
        if self._match(TokenType.ALIAS):
            if columns or source:
                self._fail(self._prev)
            query = self._parse_ksql_query()
            return self.expression(
                kx.CreateAsSelect(
                    kind=kind, this=name, replace=replace, exists=exists, properties=props,
                    expression=query,
                ),
                kind_tok,
            )
        return self.expression(
            kx.CreateSource(
                kind=kind, this=name, replace=replace, source=source, exists=exists,
                columns=columns, properties=props,
            ),
            kind_tok,
        )

    def _parse_ksql_table_element(self, source_kind: str | None) -> kx.TableElement:
        name_tok = self._curr
        name = self._parse_name()
        kind = self._parse_ksql_type()
        constraint = header_key = None
        ctok = self._curr
        if self._match_word("PRIMARY", "KEY"):
            constraint = "PRIMARY KEY"
        elif self._match_word("KEY"):
            constraint = "KEY"
        elif self._match_word("HEADERS"):
            constraint = "HEADERS"
        elif self._match_word("HEADER"):
            constraint = "HEADER"
            self._expect(TokenType.L_PAREN)
            header_key = self._expect_string()
            self._expect(TokenType.R_PAREN)
        if source_kind == "TABLE" and constraint == "KEY":
            raise _constraint_error(
                name_tok, ctok, f"Column {_bt(name)} is a 'KEY' column: please use 'PRIMARY KEY' for tables."
            )
        if source_kind == "STREAM" and constraint == "PRIMARY KEY":
            raise _constraint_error(
                name_tok, ctok, f"Column {_bt(name)} is a 'PRIMARY KEY' column: please use 'KEY' for streams."
            )
        return self.expression(
            kx.TableElement(this=name, kind=kind, constraint=constraint, header_key=header_key),
            name_tok,
        )

    # INSERT ----------------------------------------------------------------------------------

    def _parse_ksql_insert(self) -> exp.Expr:
        self._expect_word("INSERT")
        self._expect_word("INTO")
        name = self._parse_name()
        if self._match_word("WITH"):
            props = self._parse_ksql_properties()
            return self.expression(
                kx.InsertInto(this=name, properties=props, expression=self._parse_ksql_query())
            )
        if self._match(TokenType.SELECT, advance=False):
            return self.expression(
                kx.InsertInto(this=name, properties=[], expression=self._parse_ksql_query())
            )
        columns: list[exp.Identifier] = []
        if self._match(TokenType.L_PAREN):
            if not self._match(TokenType.R_PAREN):
                columns = self._parse_csv(self._parse_name)
                self._expect(TokenType.R_PAREN)
        self._expect_word("VALUES")
        values = self._parse_ksql_values_tuple()
        return self.expression(kx.InsertValues(this=name, columns=columns, expressions=values))

    def _parse_ksql_values_tuple(self) -> list[exp.Expr]:
        self._expect(TokenType.L_PAREN)
        values: list[exp.Expr] = []
        if not self._match(TokenType.R_PAREN):
            values = self._parse_csv(self._parse_disjunction)
            self._expect(TokenType.R_PAREN)
        return values

    # DROP / ALTER ----------------------------------------------------------------------------

    def _parse_ksql_drop(self) -> exp.Expr:
        self._expect_word("DROP")
        if self._match_word("TYPE"):
            exists = self._match_word("IF", "EXISTS")
            return self.expression(kx.DropType(this=self._parse_name(), exists=exists))
        if self._match_word("CONNECTOR"):
            exists = self._match_word("IF", "EXISTS")
            return self.expression(kx.DropConnector(this=self._parse_name(), exists=exists))
        if self._match_word("STREAM"):
            kind = "STREAM"
        elif self._match_word("TABLE"):
            kind = "TABLE"
        else:
            self._fail()
        exists = self._match_word("IF", "EXISTS")
        name = self._parse_name()
        delete_topic = self._match_word("DELETE", "TOPIC")
        return self.expression(
            kx.DropSource(kind=kind, this=name, exists=exists, delete_topic=delete_topic)
        )

    def _parse_ksql_alter(self) -> exp.Expr:
        self._expect_word("ALTER")
        if self._match_word("SYSTEM"):
            key = self._expect_string()
            self._expect(TokenType.EQ)
            value = self._expect_string()
            return self.expression(kx.AlterSystem(this=key, value=value))
        if self._match_word("STREAM"):
            kind = "STREAM"
        elif self._match_word("TABLE"):
            kind = "TABLE"
        else:
            self._fail()
        name = self._parse_name()
        columns = []
        while True:
            self._expect_word("ADD")
            self._match_word("COLUMN")
            columns.append(self._parse_ksql_table_element(None))
            if not self._match(TokenType.COMMA):
                break
        return self.expression(kx.AlterSource(kind=kind, this=name, columns=columns))

    # query control ---------------------------------------------------------------------------

    def _parse_query_id(self) -> str:
        tok = self._curr
        if not tok:
            self._fail()
        if tok.token_type in (TokenType.STRING, TokenType.IDENTIFIER):
            self._advance()
            return tok.text
        return self._parse_name().this

    def _parse_ksql_terminate(self) -> exp.Expr:
        self._expect_word("TERMINATE")
        if self._match(TokenType.ALL):
            return self.expression(kx.Terminate(all=True))
        return self.expression(kx.Terminate(this=self._parse_query_id(), all=False))

    def _parse_ksql_pause_resume(self, action: str) -> exp.Expr:
        self._expect_word(action)
        if self._match(TokenType.ALL):
            return self.expression(kx.PauseResume(action=action, all=True))
        return self.expression(
            kx.PauseResume(action=action, this=self._parse_query_id(), all=False)
        )

    def _parse_ksql_show(self) -> exp.Expr:
        self._advance()  # SHOW | LIST
        all_ = self._match(TokenType.ALL)
        if all_:
            self._expect_word("TOPICS")
            return self.expression(
                kx.Show(this="TOPICS", all=True, extended=self._match_word("EXTENDED"))
            )
        if self._match_word("CONNECTOR", "PLUGINS"):
            return self.expression(kx.Show(this="CONNECTOR PLUGINS"))
        if self._peek_word() in ("SOURCE", "SINK") and self._peek_word(1) == "CONNECTORS":
            ckind = self._peek_word()
            self._advance(2)
            return self.expression(kx.Show(this="CONNECTORS", connector_kind=ckind))
        word = self._peek_word()
        if word not in self.SHOW_KINDS:
            self._fail()
        self._advance()
        extended = word in self.SHOW_EXTENDED and self._match_word("EXTENDED")
        return self.expression(kx.Show(this=word, extended=extended))

    def _parse_ksql_describe(self) -> exp.Expr:
        self._expect_word("DESCRIBE")
        if self._peek_word() == "FUNCTION" and self._peek_word(1) != "EXTENDED" and self._next:
            self._advance()
            return self.expression(kx.DescribeFunction(this=self._parse_name().this))
        if self._peek_word() == "CONNECTOR" and self._next:
            self._advance()
            return self.expression(kx.DescribeConnector(this=self._parse_name().this))
        if self._peek_word() in ("STREAMS", "TABLES"):
            what = self._peek_word()
            self._advance()
            return self.expression(
                kx.Describe(what=what, extended=self._match_word("EXTENDED"))
            )
        name = self._parse_name()
        return self.expression(kx.Describe(this=name, extended=self._match_word("EXTENDED")))

    def _parse_ksql_explain(self) -> exp.Expr:
        self._expect_word("EXPLAIN")
        if self._peek_word() in ("SELECT", "CREATE", "INSERT"):
            return self.expression(kx.Explain(this=self._parse_statement()))
        return self.expression(kx.Explain(query_id=self._parse_query_id()))

    def _parse_ksql_print(self) -> exp.Expr:
        self._expect_word("PRINT")
        topic, quoted = self._parse_name_or_string()
        node = kx.PrintTopic(this=topic, quoted=quoted, from_beginning=False)
        if self._match(TokenType.FROM):
            self._expect_word("BEGINNING")
            node.set("from_beginning", True)
        if self._match_word("INTERVAL") or self._match_word("SAMPLE"):
            node.set("interval", self._parse_int())
        if self._match(TokenType.LIMIT):
            node.set("limit", self._parse_int())
        return self.expression(node)

    # properties and variables ----------------------------------------------------------------

    def _parse_ksql_set(self) -> exp.Expr:
        self._expect_word("SET")
        key = self._expect_string()
        self._expect(TokenType.EQ)
        value = self._expect_string()
        return self.expression(kx.SetProperty(this=key, value=value))

    def _parse_ksql_unset(self) -> exp.Expr:
        self._expect_word("UNSET")
        return self.expression(kx.UnsetProperty(this=self._expect_string()))

    def _parse_ksql_define(self) -> exp.Expr:
        self._expect_word("DEFINE")
        name = self._parse_name().this
        self._expect(TokenType.EQ)
        return self.expression(kx.DefineVariable(this=name, value=self._expect_string()))

    def _parse_ksql_undefine(self) -> exp.Expr:
        self._expect_word("UNDEFINE")
        return self.expression(kx.UndefineVariable(this=self._parse_name().this))

    def _parse_ksql_run_script(self) -> exp.Expr:
        self._expect_word("RUN")
        self._expect_word("SCRIPT")
        return self.expression(kx.RunScript(this=self._expect_string()))

    # ASSERT ----------------------------------------------------------------------------------

    def _parse_ksql_timeout(self) -> kx.Duration | None:
        if self._match_word("TIMEOUT"):
            return self._parse_ksql_duration()
        return None

    def _parse_ksql_assert(self) -> exp.Expr:
        self._expect_word("ASSERT")
        not_exists = self._match(TokenType.NOT)
        if not_exists:
            self._expect_word("EXISTS")
        if self._match_word("TOPIC"):
            topic, quoted = self._parse_name_or_string()
            props = self._parse_ksql_properties() if self._match_word("WITH") else []
            return self.expression(
                kx.AssertTopic(
                    this=topic, quoted=quoted, not_exists=not_exists, properties=props,
                    timeout=self._parse_ksql_timeout(),
                )
            )
        if self._match_word("SCHEMA"):
            node = kx.AssertSchema(not_exists=not_exists)
            if self._match_word("SUBJECT"):
                node.set("subject", self._parse_name_or_string()[0])
            if self._match_word("ID"):
                node.set("id", self._parse_int())
            node.set("timeout", self._parse_ksql_timeout())
            return self.expression(node)
        if not_exists or not self.ALLOW_TEST_STATEMENTS:
            self._fail()
        null = self._match(TokenType.NULL)
        if self._match_word("VALUES"):
            name = self._parse_name()
            columns: list[exp.Identifier] = []
            if self._match(TokenType.L_PAREN):
                columns = self._parse_csv(self._parse_name)
                self._expect(TokenType.R_PAREN)
            if null:
                self._expect_word("KEY")
            else:
                self._expect_word("VALUES")
            values = self._parse_ksql_values_tuple()
            return self.expression(
                kx.AssertValues(this=name, columns=columns, expressions=values, null=null)
            )
        if null:
            self._fail()
        if self._match_word("STREAM"):
            kind = "STREAM"
        elif self._match_word("TABLE"):
            kind = "TABLE"
        else:
            self._fail()
        name = self._parse_name()
        elements: list[kx.TableElement] = []
        if self._match(TokenType.L_PAREN):
            if not self._match(TokenType.R_PAREN):
                while True:
                    elements.append(self._parse_ksql_table_element(None))
                    if not self._match(TokenType.COMMA):
                        break
                self._expect(TokenType.R_PAREN)
        props = self._parse_ksql_properties() if self._match_word("WITH") else []
        return self.expression(
            kx.AssertStream(kind=kind, this=name, columns=elements, properties=props)
        )

    # entry point for parse_data_type --------------------------------------------------------

    def parse_type_only(self, raw_tokens: list[Token], sql: str) -> exp.DataType:
        def _only(self: KsqlParser) -> exp.DataType:
            dt = self._parse_ksql_type()
            if self._curr:
                self._fail(self._curr)
            return dt

        result = self._parse(parse_method=_only, raw_tokens=raw_tokens, sql=sql)
        return t.cast(exp.DataType, result[0])


def _bt(name: exp.Identifier) -> str:
    text = name.this if name.args.get("quoted") else name.this.upper()
    return f"`{text}`"


class ConstraintError(ParseError):
    """A semantic error detected while parsing (reported as 'Line: L, Col: C: message')."""

    def __init__(self, message: str, token: Token):
        super().__init__(message)
        self.ksql_token = token
        self.ksql_message = message


def _constraint_error(name_tok: Token, ctok: Token | None, message: str) -> ConstraintError:
    return ConstraintError(message, name_tok)


# ---------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------


def _dur(d: exp.Expr | None) -> str:
    if d is None:
        return ""
    return f"{d.this} {d.args['unit']}"


def _prop_key(p: kx.WithProperty) -> str:
    key = p.this
    if p.args.get("quoted") or not (key[:1].isalpha() or key[:1] == "_") or not key.replace("_", "").isalnum():
        return "'" + key.replace("'", "''") + "'"
    return key


def _str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class KsqlTestParser(KsqlParser):
    """The parser used with ``parse(sql, test_statements=True)``."""

    ALLOW_TEST_STATEMENTS = True


class KsqlGenerator(generator.Generator):
    TYPE_NAMES: t.ClassVar[dict[exp.DType, str]] = {
        exp.DType.BOOLEAN: "BOOLEAN",
        exp.DType.INT: "INTEGER",
        exp.DType.BIGINT: "BIGINT",
        exp.DType.DOUBLE: "DOUBLE",
        exp.DType.VARCHAR: "STRING",
        exp.DType.TEXT: "STRING",
        exp.DType.VARBINARY: "BYTES",
        exp.DType.DATE: "DATE",
        exp.DType.TIME: "TIME",
        exp.DType.TIMESTAMP: "TIMESTAMP",
    }

    TRANSFORMS = {**generator.Generator.TRANSFORMS}

    # names ---------------------------------------------------------------------------------

    def _name(self, node: exp.Expr | str | None) -> str:
        if node is None:
            return ""
        if isinstance(node, str):
            return node
        return self.sql(node)

    def _props(self, node: exp.Expr, prefix: str = " WITH ") -> str:
        props = node.args.get("properties") or []
        if not props:
            return ""
        inner = ", ".join(f"{_prop_key(p)}={self.sql(p, 'value')}" for p in props)
        return f"{prefix}({inner})"

    def withproperty_sql(self, e: kx.WithProperty) -> str:
        return f"{_prop_key(e)}={self.sql(e, 'value')}"

    def _id_or_string(self, text: str, quoted: bool) -> str:
        if quoted:
            return _str(text)
        return text

    # types -----------------------------------------------------------------------------------

    def datatype_sql(self, e: exp.DataType) -> str:
        dtype = e.this
        if dtype in self.TYPE_NAMES:
            return self.TYPE_NAMES[dtype]
        if dtype == exp.DType.DECIMAL:
            params = ", ".join(self.sql(p) for p in e.expressions)
            return f"DECIMAL({params})" if params else "DECIMAL"
        if dtype == exp.DType.ARRAY:
            return f"ARRAY<{self.sql(e.expressions[0])}>"
        if dtype == exp.DType.MAP:
            return f"MAP<{self.sql(e.expressions[0])}, {self.sql(e.expressions[1])}>"
        if dtype == exp.DType.STRUCT:
            fields = ", ".join(
                f"{self.sql(f, 'this')} {self.sql(f, 'kind')}" for f in e.expressions
            )
            return f"STRUCT<{fields}>"
        if dtype == exp.DType.USERDEFINED:
            kind = e.args.get("kind")
            return self.sql(exp.to_identifier(kind)) if isinstance(kind, str) else self.sql(kind)
        return super().datatype_sql(e)

    # expressions -----------------------------------------------------------------------------

    def dereference_sql(self, e: kx.Dereference) -> str:
        return f"{self.sql(e, 'this')}->{self.sql(e, 'expression')}"

    def lambda_sql(self, expression: exp.Lambda, arrow_sep: str = "=>", wrap: bool = True) -> str:
        args = [self.sql(a) for a in expression.expressions]
        head = f"({', '.join(args)})" if len(args) != 1 else args[0]
        return f"{head} => {self.sql(expression, 'this')}"

    def map_sql(self, e: exp.Map) -> str:
        keys = e.args.get("keys")
        values = e.args.get("values")
        ks = keys.expressions if isinstance(keys, exp.Array) else []
        vs = values.expressions if isinstance(values, exp.Array) else []
        return "MAP(" + ", ".join(f"{self.sql(k)} := {self.sql(v)}" for k, v in zip(ks, vs)) + ")"

    def struct_sql(self, e: exp.Struct) -> str:
        parts = []
        for f in e.expressions:
            if isinstance(f, exp.PropertyEQ):
                parts.append(f"{self.sql(f, 'this')} := {self.sql(f, 'expression')}")
            else:
                parts.append(self.sql(f))
        return f"STRUCT({', '.join(parts)})"

    def array_sql(self, e: exp.Array) -> str:
        return f"ARRAY[{', '.join(self.sql(x) for x in e.expressions)}]"

    def cast_sql(self, e: exp.Cast, safe_prefix: str | None = None) -> str:
        to = e.args.get("to")
        this = e.this
        if (
            isinstance(this, exp.Literal)
            and this.is_string
            and isinstance(to, exp.DataType)
            and to.this in (exp.DType.TIMESTAMP, exp.DType.DATE, exp.DType.TIME)
            and e.meta.get("typed_literal")
        ):
            return f"{self.sql(to)} {self.sql(this)}"
        return f"CAST({self.sql(this)} AS {self.sql(to)})"

    def anonymous_sql(self, e: exp.Anonymous) -> str:
        name = e.this if isinstance(e.this, str) else self.sql(e.this)
        return f"{name}({', '.join(self.sql(a) for a in e.expressions)})"

    # SELECT ------------------------------------------------------------------------------------

    def query_modifiers(self, expression: exp.Expr, *sqls: str) -> str:
        if not isinstance(expression, exp.Select):
            return super().query_modifiers(expression, *sqls)
        parts = [s for s in sqls if s]
        parts += [self.sql(j) for j in expression.args.get("joins") or []]
        window = expression.args.get("window")
        if window is not None:
            parts.append(f"{self.seg('WINDOW')} {self.sql(window)}")
        parts.append(self.sql(expression, "where"))
        parts.append(self.sql(expression, "group"))
        pb = expression.args.get("partition_by")
        if pb is not None:
            parts.append(f"{self.seg('PARTITION BY')} {self.expressions(pb, flat=True)}")
        parts.append(self.sql(expression, "having"))
        emit = expression.args.get("emit")
        if emit is not None:
            parts.append(f"{self.seg('EMIT')} {emit.this}")
        parts.append(self.sql(expression, "limit"))
        return "".join(parts)

    def windowspec_sql(self, e: kx.WindowSpec) -> str:
        kind = e.args["kind"]
        items = []
        if kind == "SESSION":
            items.append(_dur(e.args.get("size")))
        else:
            items.append(f"SIZE {_dur(e.args.get('size'))}")
            if e.args.get("advance") is not None:
                items.append(f"ADVANCE BY {_dur(e.args['advance'])}")
        if e.args.get("retention") is not None:
            items.append(f"RETENTION {_dur(e.args['retention'])}")
        if e.args.get("grace") is not None:
            items.append(f"GRACE PERIOD {_dur(e.args['grace'])}")
        return f"{kind} ({', '.join(items)})"

    def duration_sql(self, e: kx.Duration) -> str:
        return _dur(e)

    def emit_sql(self, e: kx.Emit) -> str:
        return f"EMIT {e.this}"

    def partitionby_sql(self, e: kx.PartitionBy) -> str:
        return f"PARTITION BY {self.expressions(e, flat=True)}"

    def within_sql(self, e: kx.Within) -> str:
        before, after = e.args["before"], e.args["after"]
        if before == after and before.args.get("unit") == after.args.get("unit"):
            s = f"WITHIN {_dur(before)}"
        else:
            s = f"WITHIN ({_dur(before)}, {_dur(after)})"
        if e.args.get("grace") is not None:
            s += f" GRACE PERIOD {_dur(e.args['grace'])}"
        return s

    def join_sql(self, e: exp.Join, join_op: str | None = None) -> str:
        op = " ".join(x for x in (e.side, e.kind) if x)
        op = f"{op} JOIN" if op else "JOIN"
        within = e.args.get("within")
        within_sql = f" {self.sql(within)}" if within is not None else ""
        on = self.sql(e, "on")
        return f"{self.seg(op)} {self.sql(e, 'this')}{within_sql} ON {on}"

    def table_sql(self, e: exp.Table, sep: str = " AS ") -> str:
        alias = e.args.get("alias")
        name = self.sql(e, "this")
        return f"{name} {self.sql(alias)}" if alias is not None else name

    # statements ------------------------------------------------------------------------------

    def _head(self, e: exp.Expr) -> str:
        return ""

    def createsource_sql(self, e: kx.CreateSource) -> str:
        parts = ["CREATE"]
        if e.args.get("replace"):
            parts.append("OR REPLACE")
        if e.args.get("source"):
            parts.append("SOURCE")
        parts.append(e.args["kind"])
        if e.args.get("exists"):
            parts.append("IF NOT EXISTS")
        parts.append(self.sql(e, "this"))
        sql = " ".join(parts)
        cols = e.args.get("columns") or []
        if cols:
            sql += " (" + ", ".join(self.sql(c) for c in cols) + ")"
        return sql + self._props(e)

    def tableelement_sql(self, e: kx.TableElement) -> str:
        sql = f"{self.sql(e, 'this')} {self.sql(e, 'kind')}"
        c = e.args.get("constraint")
        if c == "HEADER":
            sql += f" HEADER({_str(e.args.get('header_key'))})"
        elif c:
            sql += f" {c}"
        return sql

    def createasselect_sql(self, e: kx.CreateAsSelect) -> str:
        parts = ["CREATE"]
        if e.args.get("replace"):
            parts.append("OR REPLACE")
        parts.append(e.args["kind"])
        if e.args.get("exists"):
            parts.append("IF NOT EXISTS")
        parts.append(self.sql(e, "this"))
        return " ".join(parts) + self._props(e) + " AS " + self.sql(e, "expression")

    def insertinto_sql(self, e: kx.InsertInto) -> str:
        return f"INSERT INTO {self.sql(e, 'this')}{self._props(e)} {self.sql(e, 'expression')}"

    def insertvalues_sql(self, e: kx.InsertValues) -> str:
        cols = e.args.get("columns") or []
        cols_sql = f" ({', '.join(self.sql(c) for c in cols)})" if cols else ""
        vals = ", ".join(self.sql(v) for v in e.expressions)
        return f"INSERT INTO {self.sql(e, 'this')}{cols_sql} VALUES ({vals})"

    def dropsource_sql(self, e: kx.DropSource) -> str:
        sql = f"DROP {e.args['kind']}"
        if e.args.get("exists"):
            sql += " IF EXISTS"
        sql += f" {self.sql(e, 'this')}"
        if e.args.get("delete_topic"):
            sql += " DELETE TOPIC"
        return sql

    def altersource_sql(self, e: kx.AlterSource) -> str:
        cols = ", ".join(f"ADD COLUMN {self.sql(c)}" for c in e.args.get("columns") or [])
        return f"ALTER {e.args['kind']} {self.sql(e, 'this')} {cols}"

    def createtype_sql(self, e: kx.CreateType) -> str:
        exists = " IF NOT EXISTS" if e.args.get("exists") else ""
        return f"CREATE TYPE{exists} {self.sql(e, 'this')} AS {self.sql(e, 'kind')}"

    def droptype_sql(self, e: kx.DropType) -> str:
        exists = " IF EXISTS" if e.args.get("exists") else ""
        return f"DROP TYPE{exists} {self.sql(e, 'this')}"

    def createconnector_sql(self, e: kx.CreateConnector) -> str:
        exists = " IF NOT EXISTS" if e.args.get("exists") else ""
        return f"CREATE {e.args['kind']} CONNECTOR{exists} {self.sql(e, 'this')}{self._props(e)}"

    def dropconnector_sql(self, e: kx.DropConnector) -> str:
        exists = " IF EXISTS" if e.args.get("exists") else ""
        return f"DROP CONNECTOR{exists} {self.sql(e, 'this')}"

    def _qid(self, text: str) -> str:
        if text[:1].isalpha() or text[:1] == "_":
            if text.replace("_", "").isalnum():
                return text
        return "`" + text.replace("`", "``") + "`"

    def terminate_sql(self, e: kx.Terminate) -> str:
        if e.args.get("all"):
            return "TERMINATE ALL"
        return f"TERMINATE {self._qid(e.this)}"

    def pauseresume_sql(self, e: kx.PauseResume) -> str:
        target = "ALL" if e.args.get("all") else self._qid(e.this)
        return f"{e.args['action']} {target}"

    def show_sql(self, e: kx.Show) -> str:
        parts = ["SHOW"]
        if e.args.get("all"):
            parts.append("ALL")
        if e.args.get("connector_kind"):
            parts.append(e.args["connector_kind"])
        parts.append(e.this)
        if e.args.get("extended"):
            parts.append("EXTENDED")
        return " ".join(parts)

    def describe_sql(self, e: kx.Describe) -> str:  # type: ignore[override]
        target = e.args.get("what") or self.sql(e, "this")
        ext = " EXTENDED" if e.args.get("extended") else ""
        return f"DESCRIBE {target}{ext}"

    def describefunction_sql(self, e: kx.DescribeFunction) -> str:
        return f"DESCRIBE FUNCTION {self._qid(e.this)}"

    def describeconnector_sql(self, e: kx.DescribeConnector) -> str:
        return f"DESCRIBE CONNECTOR {self._qid(e.this)}"

    def explain_sql(self, e: kx.Explain) -> str:
        if e.this is not None:
            return f"EXPLAIN {self.sql(e, 'this')}"
        return f"EXPLAIN {self._qid(e.args['query_id'])}"

    def printtopic_sql(self, e: kx.PrintTopic) -> str:
        topic = _str(e.this) if e.args.get("quoted") else e.this
        sql = f"PRINT {topic}"
        if e.args.get("from_beginning"):
            sql += " FROM BEGINNING"
        if e.args.get("interval") is not None:
            sql += f" INTERVAL {e.args['interval']}"
        if e.args.get("limit") is not None:
            sql += f" LIMIT {e.args['limit']}"
        return sql

    def setproperty_sql(self, e: kx.SetProperty) -> str:
        return f"SET {_str(e.this)}={_str(e.args['value'])}"

    def unsetproperty_sql(self, e: kx.UnsetProperty) -> str:
        return f"UNSET {_str(e.this)}"

    def altersystem_sql(self, e: kx.AlterSystem) -> str:
        return f"ALTER SYSTEM {_str(e.this)}={_str(e.args['value'])}"

    def definevariable_sql(self, e: kx.DefineVariable) -> str:
        return f"DEFINE {e.this} = {_str(e.args['value'])}"

    def undefinevariable_sql(self, e: kx.UndefineVariable) -> str:
        return f"UNDEFINE {e.this}"

    def runscript_sql(self, e: kx.RunScript) -> str:
        return f"RUN SCRIPT {_str(e.this)}"

    def asserttopic_sql(self, e: kx.AssertTopic) -> str:
        ne = " NOT EXISTS" if e.args.get("not_exists") else ""
        topic = _str(e.this) if e.args.get("quoted") else e.this
        sql = f"ASSERT{ne} TOPIC {topic}{self._props(e)}"
        if e.args.get("timeout") is not None:
            sql += f" TIMEOUT {_dur(e.args['timeout'])}"
        return sql

    def assertschema_sql(self, e: kx.AssertSchema) -> str:
        ne = " NOT EXISTS" if e.args.get("not_exists") else ""
        sql = f"ASSERT{ne} SCHEMA"
        if e.args.get("subject") is not None:
            sql += f" SUBJECT {_str(e.args['subject'])}"
        if e.args.get("id") is not None:
            sql += f" ID {e.args['id']}"
        if e.args.get("timeout") is not None:
            sql += f" TIMEOUT {_dur(e.args['timeout'])}"
        return sql

    def assertvalues_sql(self, e: kx.AssertValues) -> str:
        cols = e.args.get("columns") or []
        cols_sql = f" ({', '.join(self.sql(c) for c in cols)})" if cols else ""
        vals = ", ".join(self.sql(v) for v in e.expressions)
        if e.args.get("null"):
            return f"ASSERT NULL VALUES {self.sql(e, 'this')}{cols_sql} KEY ({vals})"
        return f"ASSERT VALUES {self.sql(e, 'this')}{cols_sql} VALUES ({vals})"

    def assertstream_sql(self, e: kx.AssertStream) -> str:
        cols = e.args.get("columns") or []
        cols_sql = f" ({', '.join(self.sql(c) for c in cols)})" if cols else ""
        return f"ASSERT {e.args['kind']} {self.sql(e, 'this')}{cols_sql}{self._props(e)}"


def _register_custom_nodes() -> None:
    # sqlglot dispatches built-in nodes by name; custom nodes go through TRANSFORMS.
    for name in dir(kx):
        cls = getattr(kx, name)
        if isinstance(cls, type) and issubclass(cls, exp.Expression) and cls.__module__ == kx.__name__:
            method = getattr(KsqlGenerator, f"{cls.key}_sql", None)
            if method is not None:
                KsqlGenerator.TRANSFORMS[cls] = method


_register_custom_nodes()


# ---------------------------------------------------------------------------------------------
# Dialect
# ---------------------------------------------------------------------------------------------


class Ksql(Dialect):
    NORMALIZATION_STRATEGY = NormalizationStrategy.UPPERCASE
    IDENTIFIERS_CAN_START_WITH_DIGIT = True  # ksql's DIGIT_IDENTIFIER, e.g. `AS 1R`
    # ksql arrays are 1-based, but indexes are kept exactly as written (INDEX_OFFSET stays 0 so
    # sqlglot does not rewrite them); the engine applies ksql indexing semantics itself.

    Tokenizer = KsqlTokenizer
    Parser = KsqlParser
    Generator = KsqlGenerator
