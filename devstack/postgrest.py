"""A PostgREST-protocol stand-in over a real PostgreSQL, for tests and the local sandbox.

No PostgREST server can be installed offline, and a fake over SQLite cannot reproduce what the
publisher relies on: row locks, READ COMMITTED, type coercion of filter values, PostgreSQL's JSON
rendering. So this WSGI app speaks the part of the PostgREST wire protocol that the publisher
sends through supabase-py 2.34, and turns each request into one SQL statement run by a real
PostgreSQL. docs/postgrest.md has the facts it follows and their public sources.

How the publisher's claim works through it: the run calls `POST /rest/v1/rpc/publisher_claim_batch`
(sql/migration.sql). The stand-in runs the call as one statement, in a transaction of its own on
a connection of its own, as PostgREST does. The function's single UPDATE takes a row lock on each
post it claims; a second run racing for the same post waits on that lock and, under READ
COMMITTED, re-checks the UPDATE's WHERE clause against the committed row, finds the live claim
and skips the post: each post is won once. The answer is one jsonb array, a scalar result, so
the max-rows cap never cuts it; a repeated call by the same run wins again what it holds.
publisher_renew, publisher_note, publisher_mark_*, publisher_defer, publisher_release and the
connection locks are RPCs of the same kind, one transaction each.

Design:
- Each request: parse the query string, plan it against a catalog read from pg_catalog (unknown
  names fail here, with PostgREST's codes), compose one statement with `psycopg.sql`, run it in
  its own transaction (READ ONLY for GET) on a pooled connection of its own, answer.
- Identifiers come from the catalog and are quoted with `sql.Identifier`; filter values are bound
  as parameters of type unknown, so PostgreSQL coerces them to the column type as PostgREST does.
- PostgreSQL renders all JSON (`json_agg`, `row_to_json`) under `TimeZone=UTC`, so timestamps,
  numerics and jsonb look exactly like PostgREST's output.
- The catalog is cached and reloaded when a lookup misses (Supabase reloads PostgREST's schema
  cache on every DDL through an event trigger); `reload_schema()` forces it.

Supported, because the project uses it:
- GET on tables: select of `*`, columns and `col->a->>b` (labelled with the last key); embedding
  of the row a foreign key points to, `rel(...)` as an object or null and `rel!inner(...)`;
  filters `[not.]op.value` with eq neq gt gte lte in is.null, also on embedded columns
  (`rel.col=...`, which keeps parents without a match unless `!inner`); `or`/`and` trees with
  double-quoted values; order (`col.asc|desc`) and limit; the silent max-rows cap
  (`max_rows`); Content-Range.
- PATCH on tables with `Prefer: return=minimal|representation` (never capped; `[]` when nothing
  matches).
- POST /rest/v1/rpc/<fn> with named arguments in a JSON object, returning void (204), a scalar
  (the bare JSON value, never capped) or SETOF a scalar (a JSON array, capped like a read).
- GET /auth/v1/admin/users (GoTrue's admin listing) over the database's `auth.users`.
- The gateway's apikey check and PostgREST's Bearer check, with the service key only. There are
  no roles or RLS: every request runs as the connecting user, which is what the service-role key
  (BYPASSRLS) amounts to.

Everything else answers 400 PGRST100, never a guess: HEAD, POST (insert and upsert), DELETE and
PUT on tables; GET on functions, functions returning rows, filters or select on function
results; Prefer count, resolution, handling, missing and the like; singular objects (Accept
vnd.pgrst.object); offset and the Range header; order or limit on embedded resources or writes;
embedding the rows that point to a row (one-to-many), embedding hints other than !inner, filters
on an embedded resource itself (`rel=is.null`); aliases, casts, aggregates, spreads; every other
operator (lt, like, ilike, match, cs, cd, ov, range operators, isdistinct, is.true ...).
"""

from __future__ import annotations

import difflib
import json
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

Row = tuple[Any, ...]
Response = tuple[int, list[tuple[str, str]], bytes]
JSON_TYPE = "application/json; charset=utf-8"
_COMPARISONS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lte": "<="}
_OPERATORS = {*_COMPARISONS, "in", "is"}
_RESERVED = {"select"}  # top-level keys that are not filters
_RETURNS = {"minimal", "representation"}  # the only Prefer the publisher sends (on PATCH)
_NOTHING = sql.SQL("")
# GoTrue's versioned answers: with this header supabase-auth reads an error's `code` as its code.
_API_VERSION = ("X-Supabase-Api-Version", "2024-01-01")

# ---------------------------------------------------------------------------------------------
# Errors

_STATUS_CODES = {  # HTTP status of the errors the stand-in raises itself, as in PostgREST
    300: "PGRST201",
    400: "PGRST100 PGRST102 PGRST108 PGRST200 PGRST204 42703",
    401: "PGRST301",
    404: "PGRST125 PGRST202 PGRST205",
    406: "PGRST106",
}
_STATUS = {code: status for status, codes in _STATUS_CODES.items() for code in codes.split()}
# Lookups that fail when the cached catalog is older than the database: reload and retry once.
_SCHEMA_MISSES = {"PGRST200", "PGRST202", "PGRST204", "PGRST205", "42703"}


class ApiError(Exception):
    """A failure answered the way PostgREST answers it: a status and {code, details, hint, message}."""

    def __init__(self, code: str, message: str, details: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code = _STATUS.get(code, 500), code
        self.body: dict[str, Any] = {"code": code, "details": details, "hint": hint, "message": message}
        self.headers: list[tuple[str, str]] = []


def _error_with_body(status: int, body: dict[str, Any], *headers: tuple[str, str]) -> ApiError:
    """An error whose body is not built from a PostgREST code (the gateway's, PostgreSQL's)."""
    error = ApiError("", "")
    error.status, error.body, error.headers = status, body, list(headers)
    return error


def _from_postgres(error: psycopg.Error) -> ApiError:
    """PostgreSQL's error passed through with its SQLSTATE and diagnostics, as PostgREST does."""
    state, diag = error.sqlstate or "08000", error.diag  # no SQLSTATE: the connection itself failed
    message = diag.message_primary or str(error)
    body = {"code": state, "details": diag.message_detail, "hint": diag.message_hint, "message": message}
    return _error_with_body(_pg_status(state), body)


def _parse_error(what: str, text: str, details: str) -> ApiError:
    return ApiError("PGRST100", f'"failed to parse {what} ({text})" (line 1, column 1)', details)


def _unsupported(what: str) -> ApiError:
    return ApiError("PGRST100", f"{what} is not supported by the PostgREST stand-in")


def _pg_status(state: str) -> int:
    """The HTTP status PostgREST gives a SQLSTATE (docs/postgrest.md, "Errors we meet")."""
    if state.startswith("PT") and state[2:].isdigit():  # RAISE SQLSTATE 'PT404' picks the status
        return int(state[2:])
    fixed = {"23503": 409, "23505": 409, "42P01": 404, "42883": 404, "42501": 403, "25006": 405}
    if state in fixed or state == "P0001":
        return fixed.get(state, 400)
    if state[:2] in {"08", "53"} and state != "53400":
        return 503
    server = {"09", "25", "2D", "38", "39", "3B", "40", "53", "54", "55", "57", "58", "F0", "HV", "P0", "XX"}
    return 500 if state[:2] in server or state == "42P17" else 400


# ---------------------------------------------------------------------------------------------
# Catalog: what PostgREST calls its schema cache


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: tuple[str, str]
    columns: tuple[str, ...]
    ref: tuple[str, str]
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # format_type() text: SQL from the catalog, never from the request
    has_default: bool


@dataclass(frozen=True)
class Function:
    schema: str
    name: str
    params: tuple[Param, ...]
    returns_set: bool
    void: bool
    rows: bool  # returns table rows or a composite: outside the supported subset


_COLUMNS_OF = (
    "ARRAY(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY u(num, ord)"
    " JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = u.num ORDER BY u.ord)"
)
_RELATIONS_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind = 'c',
       coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attnum > 0), '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f', 'c') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
GROUP BY c.oid, n.nspname, c.relname, c.relkind"""
_FKS_SQL = f"""
SELECT c.conname, c.conrelid, c.confrelid, {_COLUMNS_OF.format(keys="c.conkey", rel="c.conrelid")},
       {_COLUMNS_OF.format(keys="c.confkey", rel="c.confrelid")}
FROM pg_constraint c WHERE c.contype = 'f'"""
_FUNCTIONS_SQL = """
SELECT n.nspname, p.proname, p.proretset, p.prorettype = 'void'::regtype, p.prorettype = 'record'::regtype,
       t.typrelid, p.pronargdefaults, coalesce(p.proargnames, '{}'), coalesce(p.proargmodes::text[], '{}'),
       ARRAY(SELECT format_type(x, NULL) FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]))
             WITH ORDINALITY u(x, o) ORDER BY o)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_type t ON t.oid = p.prorettype
WHERE n.nspname = ANY(%s) AND p.prokind = 'f' ORDER BY p.oid"""


class Catalog:
    """Tables, foreign keys and functions of the exposed schemas, looked up by name."""

    def __init__(self, conn: psycopg.Connection[Row], schemas: tuple[str, ...]) -> None:
        by_oid: dict[int, Relation] = {}
        self.relations: dict[tuple[str, str], Relation] = {}
        for oid, schema, name, composite, cols in conn.execute(_RELATIONS_SQL):
            by_oid[oid] = Relation(schema, name, tuple(cols))
            if schema in schemas and not composite:  # composite types only shape RPC results
                self.relations[schema, name] = by_oid[oid]
        self.fks = [
            ForeignKey(name, _key(by_oid[child]), tuple(cols), _key(by_oid[parent]), tuple(ref_cols))
            for name, child, parent, cols, ref_cols in conn.execute(_FKS_SQL)
        ]
        self.functions: dict[tuple[str, str], list[Function]] = {}
        for row in conn.execute(_FUNCTIONS_SQL, [list(schemas)]):
            fn = _function(row)
            self.functions.setdefault((fn.schema, fn.name), []).append(fn)

    def table(self, schema: str, name: str) -> Relation:
        if (schema, name) in self.relations:
            return self.relations[schema, name]
        close = difflib.get_close_matches(name, [n for s, n in self.relations if s == schema], n=1)
        hint = f"Perhaps you meant the table '{schema}.{close[0]}'" if close else None
        message = f"Could not find the table '{schema}.{name}' in the schema cache"
        raise ApiError("PGRST205", message, None, hint)

    def relationship(self, parent: Relation, target: str) -> Embed:
        """The embed of `target` under `parent` (without its own node yet), from foreign keys."""
        child = self.relations.get((parent.schema, target))
        found = []
        for fk in self.fks if child else []:
            if fk.table == _key(parent) and fk.ref == (parent.schema, target):  # parent holds the key
                found.append((fk, True, tuple(zip(fk.ref_columns, fk.columns, strict=True))))
            if fk.ref == _key(parent) and fk.table == (parent.schema, target):  # child holds the key
                found.append((fk, False, tuple(zip(fk.columns, fk.ref_columns, strict=True))))
        if not found or child is None:
            message = (
                f"Could not find a relationship between '{parent.name}' and '{target}' in the schema cache"
            )
            raise ApiError("PGRST200", message)
        if len(found) > 1:
            pair = f"'{parent.name}' and '{target}'"
            message = f"Could not embed because more than one relationship was found for {pair}"
            names = ", ".join(f"'{target}!{f[0].name}'" for f in found)
            raise ApiError(
                "PGRST201", message, None, f"Try changing '{target}' to one of the following: {names}."
            )
        _fk, to_one, join = found[0]
        if not to_one:
            raise _unsupported(f"Embedding the '{target}' rows that reference '{parent.name}' (one-to-many)")
        return Embed(target, Node(child, [], {}), join, inner=False)

    def function(self, schema: str, name: str, keys: set[str]) -> Function:
        """The overload whose parameters are exactly these argument names (defaults may be left out)."""
        for fn in self.functions.get((schema, name), []):
            names = {p.name for p in fn.params}
            if keys <= names and {p.name for p in fn.params if not p.has_default} <= keys:
                return fn
        shown = f"{schema}.{name}" + (f"({', '.join(sorted(keys))})" if keys else " without parameters")
        details = f"Searched for the function {shown}, but no matches were found in the schema cache."
        raise ApiError("PGRST202", f"Could not find the function {shown} in the schema cache", details)


def _key(relation: Relation) -> tuple[str, str]:
    return relation.schema, relation.name


def _function(row: Row) -> Function:
    schema, name, returns_set, void, record, relid, n_defaults, names, modes, types = row
    modes = modes or ["i"] * len(types)
    names = names or [""] * len(types)
    inputs = [(n, t) for n, t, m in zip(names, types, modes, strict=True) if m in "ibv"]
    params = tuple(Param(n, t, i >= len(inputs) - n_defaults) for i, (n, t) in enumerate(inputs))
    outputs = any(m in "obt" for m in modes)
    return Function(schema, name, params, returns_set, void, bool(relid) or (record and outputs))


# ---------------------------------------------------------------------------------------------
# The request tree and its grammar


@dataclass(frozen=True)
class Field:
    name: str
    path: tuple[tuple[str, str], ...] = ()  # (arrow, key) steps of a JSON path

    @property
    def label(self) -> str:
        """The output key PostgREST gives this field: the last JSON key, else the column."""
        return self.path[-1][1] if self.path else self.name


@dataclass
class Filter:
    field: Field
    op: str
    value: str
    negate: bool = False


@dataclass
class Logic:
    conj: str  # "AND" or "OR"
    negate: bool
    items: list[Filter | Logic]


@dataclass
class Node:
    """One resource of the request tree: the root table (or RPC result) or an embedded one."""

    relation: Relation
    items: list[str | Field | Embed]  # "*" is the star
    embeds: dict[str, Embed]
    conds: list[Filter | Logic] = field(default_factory=list)
    order: list[tuple[Field, str]] = field(default_factory=list)
    limit: int | None = None


@dataclass
class Embed:
    """The row a foreign key of the parent points to (to-one: an object or null)."""

    label: str
    node: Node
    join: tuple[tuple[str, str], ...]  # (child column, parent column)
    inner: bool


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses, braces and double quotes."""
    parts, depth, quoted, start, pos = [], 0, False, 0, 0
    while pos < len(text):
        char = text[pos]
        if quoted:
            pos += char == "\\"  # skip the escaped character
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char in "({" or char in ")}":
            depth += 1 if char in "({" else -1
        elif char == "," and depth == 0:
            parts.append(text[start:pos])
            start = pos + 1
        pos += 1
    return [*parts, text[start:]]


def _parse_field(text: str) -> Field:
    parts = re.split(r"(->>?)", text)
    keys = [_unquote(k) for k in parts[2::2]]
    if not parts[0] or not all(keys):
        raise _parse_error("field", text, "expected a column name, then ->key or ->>key steps")
    return Field(_unquote(parts[0]), tuple(zip(parts[1::2], keys, strict=True)))


_EMBED = re.compile(r"([^:!()]+)((?:![^!()]+)*)\((.*)\)", re.S)
_COLUMN = re.compile(r"[^:()]+", re.S)


def _parse_select(catalog: Catalog, relation: Relation, text: str) -> Node:
    """The select tree, with every embed resolved against the catalog."""
    node = Node(relation, [], {})
    for part in _split_top(text) if text else []:
        embed = _EMBED.fullmatch(part)
        if part == "*":
            node.items.append("*")
        elif part.startswith("..."):
            raise _parse_error("select", part, "spreads are not supported by the stand-in")
        elif embed and (embed[1] == "count" or "." in embed[1]):  # count(), col.sum(): aggregates
            raise _parse_error("select", part, "aggregates are not supported by the stand-in")
        elif embed:
            mods = [m for m in embed[2].split("!") if m]
            if any(m != "inner" for m in mods):
                raise _parse_error("select", part, "the only embedding modifier supported is !inner")
            resolved = catalog.relationship(relation, embed[1])
            resolved.inner = "inner" in mods
            resolved.node = _parse_select(catalog, resolved.node.relation, embed[3])
            node.items.append(resolved)
            node.embeds[resolved.label] = resolved
        elif _COLUMN.fullmatch(part):
            node.items.append(_parse_field(part))
        else:
            raise _parse_error(
                "select", part, "aliases, casts, aggregates and spreads are not supported by the stand-in"
            )
    return node


def _parse_filter(key: str, raw: str) -> Filter:
    match = re.fullmatch(r"(not\.)?([a-z]+)\.(.*)", raw, re.S)
    if not match or match[2] not in _OPERATORS:
        raise _parse_error("filter", raw, "expected [not.]operator.value with a supported operator")
    return Filter(_parse_field(key), match[2], match[3], bool(match[1]))


def _parse_order(text: str) -> list[tuple[Field, str]]:
    terms = []
    for term in _split_top(text):
        name, *mods = term.split(".")
        if mods not in ([], ["asc"], ["desc"]):
            raise _parse_error("order", term, "expected column[.asc|.desc]")
        terms.append((_parse_field(name), "DESC" if mods == ["desc"] else "ASC"))
    return terms


class _LogicParser:
    """PostgREST's `or`/`and` value: (item,...), an item being field.[not.]op.value or [not.]and(...)."""

    _NESTED = re.compile(r"(not\.)?(and|or)\(")
    _ITEM = re.compile(r"([^.,()]+)\.(not\.)?([a-z]+)\.")

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def parse(self) -> list[Filter | Logic]:
        items = self._list()
        if self.pos != len(self.text):
            raise self._error("unexpected text after the closing parenthesis")
        return items

    def _error(self, why: str) -> ApiError:
        return _parse_error("logic tree", self.text, f"{why} at position {self.pos}")

    def _list(self) -> list[Filter | Logic]:
        items: list[Filter | Logic] = []
        while self.text.startswith("," if items else "(", self.pos):
            self.pos += 1
            items.append(self._item())
        if not items or not self.text.startswith(")", self.pos):
            raise self._error("expected (, a comma or )")
        self.pos += 1
        return items

    def _item(self) -> Filter | Logic:
        nested = self._NESTED.match(self.text, self.pos)
        if nested:
            self.pos = nested.end() - 1
            return Logic(nested[2].upper(), bool(nested[1]), self._list())
        item = self._ITEM.match(self.text, self.pos)
        if not item or item[3] not in _OPERATORS:
            raise self._error("expected field.[not.]operator.value")
        self.pos = item.end()
        return Filter(_parse_field(item[1]), item[3], self._value(item[3]), bool(item[2]))

    def _value(self, op: str) -> str:
        """A value runs to the next , or ) unless quoted ("…" with \\ escapes) or an in-list."""
        text, start = self.text, self.pos
        if text.startswith('"', start):
            self.pos = _quoted_end(text, start)
            return re.sub(r"\\(.)", r"\1", text[start + 1 : self.pos - 1])
        if op == "in" and text.startswith("(", start):
            self.pos = _closing(text, start, ")")
            return text[start : self.pos]
        ends = [i for i in (text.find(",", start), text.find(")", start)) if i >= 0]
        self.pos = min(ends, default=len(text))
        return text[start : self.pos]


def _quoted_end(text: str, start: int) -> int:
    """The index just past the double-quoted string opening at `start` (backslash escapes)."""
    pos = start + 1
    while pos < len(text) and text[pos] != '"':
        pos += 2 if text[pos] == "\\" else 1
    if pos >= len(text):
        raise _parse_error("logic tree", text, "unterminated double quote")
    return pos + 1


def _closing(text: str, start: int, close: str) -> int:
    """The index just past the `close` matching the opener at `start`, skipping quoted parts."""
    depth, pos = 0, start
    while pos < len(text):
        if text[pos] == '"':
            pos = _quoted_end(text, pos)
            continue
        depth += (text[pos] == text[start]) - (text[pos] == close)
        if depth == 0:
            return pos + 1
        pos += 1
    raise _parse_error("logic tree", text, f"missing {close}")


def _array_literal(value: str) -> str:
    """`in.(a,"b,c")` as the PostgreSQL array literal {"a","b,c"}, bound as unknown like PostgREST."""
    if not (value.startswith("(") and value.endswith(")")):
        raise _parse_error("filter", f"in.{value}", "expected in.(value,...)")
    items = [_unquote(v) for v in _split_top(value[1:-1])] if value != "()" else []
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in items) + "}"


def _int_param(name: str, value: str) -> int:
    if not value.isdigit():
        raise _parse_error(f"{name} parameter", value, "expected a non-negative integer")
    return int(value)


def _apply_query(root: Node, query: list[tuple[str, str]], skip: set[str]) -> None:
    """Attach filters, logic trees, order and limit to the node each key addresses."""
    for key, value in query:
        if key in skip:
            continue
        *path, last = key.split(".")
        negated = last in ("or", "and") and path[-1:] == ["not"]
        node = _node_at(root, path[:-1] if negated else path)
        if last in ("or", "and"):
            node.conds.append(Logic(last.upper(), negated, _LogicParser(value).parse()))
        elif last in ("order", "limit") and node is not root:
            raise _unsupported(f"{last} on an embedded resource")
        elif last == "order":
            node.order = _parse_order(value)
        elif last == "limit":
            node.limit = _int_param(last, value)
        elif last in ("offset", "columns", "on_conflict"):
            raise _unsupported(f"The {last} parameter")
        else:
            node.conds.append(_parse_filter(last, value))


def _node_at(root: Node, path: list[str]) -> Node:
    node = root
    for name in path:
        if name not in node.embeds:
            hint = f"Verify that '{name}' is included in the 'select' query parameter."
            raise ApiError("PGRST108", f"'{name}' is not an embedded resource in this request", None, hint)
        node = node.embeds[name].node
    return node


# ---------------------------------------------------------------------------------------------
# SQL composition. Aliases: _t<depth> for resources, _r and _e for aggregated rows, _m for the
# rows a mutation returned, _c for an RPC's rows, _a for its arguments.


def _alias(depth: int) -> sql.Identifier:
    return sql.Identifier(f"_t{depth}")


def _table(relation: Relation) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(relation.schema), sql.Identifier(relation.name))


def _and(conds: list[sql.Composable]) -> sql.Composable:
    return sql.SQL(" AND ").join(conds) if conds else sql.SQL("TRUE")


class _Sql:
    """Composes one statement and collects its parameters (all str: psycopg sends them as unknown)."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.params: dict[str, str] = {}

    def bind(self, value: str) -> sql.Placeholder:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return sql.Placeholder(name)

    def column(self, node: Node, depth: int, fld: Field) -> sql.Composable:
        if fld.name not in node.relation.columns:
            raise ApiError("42703", f"column {node.relation.name}.{fld.name} does not exist")
        expr: sql.Composable = sql.SQL("{}.{}").format(_alias(depth), sql.Identifier(fld.name))
        for arrow, key in fld.path:  # keys are literals; integer keys index arrays
            cast = sql.SQL("int" if re.fullmatch(r"-?\d+", key) else "text")
            expr = sql.SQL("({} {} {}::{})").format(expr, sql.SQL(arrow), self.bind(key), cast)
        return expr

    def condition(self, node: Node, depth: int, cond: Filter | Logic) -> sql.Composable:
        if isinstance(cond, Logic):
            joined = sql.SQL(f" {cond.conj} ").join(self.condition(node, depth, c) for c in cond.items)
            expr: sql.Composable = sql.SQL("({})").format(joined)
        elif cond.field.name in node.embeds and not cond.field.path:
            raise _unsupported(f"A filter on the '{cond.field.name}' embedded resource itself")
        else:
            expr = self.filter(node, depth, cond)
        return sql.SQL("NOT {}").format(expr) if cond.negate else expr

    def filter(self, node: Node, depth: int, flt: Filter) -> sql.Composable:
        target = self.column(node, depth, flt.field)
        if flt.op == "is":
            if flt.value.lower() != "null":
                raise _parse_error("filter", f"is.{flt.value}", "the stand-in supports is.null only")
            return sql.SQL("({} IS NULL)").format(target)
        if flt.op == "in":
            return sql.SQL("({} = ANY({}))").format(target, self.bind(_array_literal(flt.value)))
        return sql.SQL("({} {} {})").format(target, sql.SQL(_COMPARISONS[flt.op]), self.bind(flt.value))

    def where(self, node: Node, depth: int) -> list[sql.Composable]:
        conds = [self.condition(node, depth, c) for c in node.conds]
        return conds + [self.exists(e, depth) for e in node.embeds.values() if e.inner]

    def embed_where(self, embed: Embed, depth: int) -> list[sql.Composable]:
        """The join to the parent, then the embedded resource's own conditions."""
        child, parent = _alias(depth + 1), _alias(depth)
        join = [
            sql.SQL("{}.{} = {}.{}").format(child, sql.Identifier(c), parent, sql.Identifier(p))
            for c, p in embed.join
        ]
        return join + self.where(embed.node, depth + 1)

    def exists(self, embed: Embed, depth: int) -> sql.Composable:
        source = sql.SQL("{} AS {}").format(_table(embed.node.relation), _alias(depth + 1))
        return sql.SQL("EXISTS (SELECT 1 FROM {} WHERE {})").format(
            source, _and(self.embed_where(embed, depth))
        )

    def select_list(self, node: Node, depth: int) -> sql.Composable:
        parts: list[sql.Composable] = []
        for item in node.items:
            if isinstance(item, str):
                parts.append(sql.SQL("{}.*").format(_alias(depth)))
            elif isinstance(item, Field):
                label = sql.Identifier(item.label)
                parts.append(sql.SQL("{} AS {}").format(self.column(node, depth, item), label))
            elif item.node.items:  # `rel()` with nothing selected only filters
                value = self.embed_value(item, depth)
                parts.append(sql.SQL("({}) AS {}").format(value, sql.Identifier(item.label)))
        return sql.SQL(", ").join(parts)

    def embed_value(self, embed: Embed, depth: int) -> sql.Composable:
        """The referenced row as an object, or null when a filter or a NULL key leaves none."""
        source = sql.SQL("{} AS {}").format(_table(embed.node.relation), _alias(depth + 1))
        rows = self.page(embed.node, depth + 1, source, self.embed_where(embed, depth), cap=False)
        return sql.SQL("SELECT row_to_json(_e) FROM ({}) AS _e").format(rows)

    def page(
        self, node: Node, depth: int, source: sql.Composable, conds: list[sql.Composable], *, cap: bool
    ) -> sql.Composed:
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            self.select_list(node, depth), source, _and(conds)
        )
        parts: list[sql.Composable] = [query]
        if node.order:
            terms = [sql.SQL("{} {}").format(self.column(node, depth, f), sql.SQL(d)) for f, d in node.order]
            parts.append(sql.SQL("ORDER BY {}").format(sql.SQL(", ").join(terms)))
        limit = node.limit
        if cap:  # the silent max-rows cap: reads only, never writes
            limit = self.max_rows if limit is None else min(limit, self.max_rows)
        if limit is not None:
            parts.append(sql.SQL("LIMIT {}").format(sql.Literal(limit)))
        return sql.SQL(" ").join(parts)

    def read(
        self, node: Node, source: sql.Composable, *, prefix: sql.Composable = _NOTHING, value: str = "_r"
    ) -> sql.Composed:
        """One statement answering (body, rows in the body)."""
        page = self.page(node, 0, source, self.where(node, 0), cap=True)
        return sql.SQL("{} SELECT coalesce(json_agg({}), '[]')::text, count(*) FROM ({}) AS _r").format(
            prefix, sql.SQL(value), page
        )

    def write(self, node: Node, mutation: sql.Composable) -> sql.Composed:
        """One statement running the mutation and answering (body, affected rows)."""
        rows = sql.SQL("SELECT {} FROM _m AS _t0").format(self.select_list(node, 0))
        template = sql.SQL(
            "WITH _m AS ({}) SELECT coalesce(json_agg(_r), '[]')::text, count(*) FROM ({}) AS _r"
        )
        return template.format(mutation, rows)

    def update(self, node: Node, columns: list[str], body: str) -> sql.Composable:
        table = _table(node.relation)
        if not columns:  # PostgREST treats an empty PATCH body as a no-op
            return sql.SQL("SELECT _t0.* FROM {} AS _t0 WHERE FALSE").format(table)
        sets = sql.SQL(", ").join(sql.SQL("{0} = _b.{0}").format(sql.Identifier(c)) for c in columns)
        template = (
            "UPDATE {0} AS _t0 SET {1} FROM json_populate_record(NULL::{0}, {2}::json) AS _b"
            " WHERE {3} RETURNING _t0.*"
        )
        return sql.SQL(template).format(table, sets, self.bind(body), _and(self.where(node, 0)))

    def call(self, fn: Function, args: dict[str, Any]) -> tuple[sql.Composable, sql.Composable]:
        """(a FROM item binding the arguments as _a, the call with named arguments).

        json_to_record converts JSON arrays and objects to the declared parameter types.
        """
        used = [p for p in fn.params if p.name in args]
        source: sql.Composable = sql.SQL("(SELECT) AS _a")
        if used:
            record = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(p.name), sql.SQL(p.type)) for p in used
            )
            body = self.bind(json.dumps({p.name: args[p.name] for p in used}))
            source = sql.SQL("json_to_record({}::json) AS _a({})").format(body, record)
        named = sql.SQL(", ").join(sql.SQL("{0} => _a.{0}").format(sql.Identifier(p.name)) for p in used)
        return source, sql.SQL("{}.{}({})").format(sql.Identifier(fn.schema), sql.Identifier(fn.name), named)


# ---------------------------------------------------------------------------------------------
# Connections and requests


class _Pool:
    """A few idle connections kept for reuse; a request never shares one, so row locks are real."""

    def __init__(self, dsn: str, keep: int = 16) -> None:
        self._dsn = dsn
        self._idle: queue.LifoQueue[psycopg.Connection[Row]] = queue.LifoQueue(maxsize=keep)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Row]]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(self._dsn)
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _give_back(self, conn: psycopg.Connection[Row]) -> None:
        if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
            conn.close()  # broken, or left inside a transaction: never hand it to another request
            return
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


@dataclass
class _Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> _Request:
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")  # PEP 3333
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)  # '+' is a space
        return cls(environ["REQUEST_METHOD"].upper(), path, query, headers, body)

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)

    @property
    def prefer(self) -> dict[str, str]:
        pairs = (p.strip().split("=", 1) for p in self.headers.get("prefer", "").split(","))
        return {p[0]: p[1] for p in pairs if len(p) == 2}

    @property
    def reading(self) -> bool:
        return self.method == "GET"

    def json_body(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError("PGRST102", "Empty or invalid json") from None


def _error_response(error: ApiError) -> Response:
    headers = [("Content-Type", JSON_TYPE), *error.headers]
    return error.status, headers, json.dumps(error.body).encode()


def _content_range(rows: int) -> str:
    """PostgREST's Content-Range without a count: the span of the rows answered, total unknown."""
    return f"0-{rows - 1}/*" if rows else "*/*"


class PostgrestStandIn:
    """The WSGI app. Serve it with `devstack.server.serve(app)` and give supabase-py the URL.

    `max_rows` is PostgREST's db-max-rows ("Max rows" in Supabase's API settings); tests set it
    on a running app to check that every read pages past it.
    """

    def __init__(
        self, dsn: str, service_key: str, *, max_rows: int = 1000, schemas: tuple[str, ...] = ("public",)
    ) -> None:
        self.service_key = service_key
        self.max_rows, self.schemas = max_rows, schemas
        self._pool = _Pool(dsn)
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, headers, body = self._respond(environ)
        if environ["REQUEST_METHOD"] == "HEAD":  # a body would desynchronise the keep-alive stream
            body = b""
        start_response(
            f"{status} {HTTPStatus(status).phrase}", [*headers, ("Content-Length", str(len(body)))]
        )
        return [body]

    def reload_schema(self) -> Catalog:
        """Re-read the catalog, as `NOTIFY pgrst, 'reload schema'` makes PostgREST do."""
        with self._lock, self._pool.connection() as conn, conn.transaction():
            catalog = Catalog(conn, self.schemas)
        self._catalog = catalog
        return catalog

    def catalog(self) -> Catalog:
        return self._catalog or self.reload_schema()

    def close(self) -> None:
        """Close the idle database connections."""
        self._pool.close()

    def _respond(self, environ: dict[str, Any]) -> Response:
        try:
            req = _Request.from_environ(environ)
            self._authenticate(req)
            try:
                return self._route(req)
            except ApiError as error:
                if error.code not in _SCHEMA_MISSES:
                    raise
                self.reload_schema()  # the table, column or function may be newer than the catalog
                return self._route(req)
        except psycopg.Error as error:
            return _error_response(_from_postgres(error))
        except ApiError as error:
            return _error_response(error)
        except Exception as error:  # a bug in the stand-in must still answer as JSON
            return _error_response(ApiError("PGRST000", f"stand-in failure: {error!r}"))

    def _authenticate(self, req: _Request) -> None:
        """Supabase's gateway checks `apikey` first; PostgREST then checks the Bearer token."""
        apikey = req.headers.get("apikey")
        if not apikey:
            hint = "No `apikey` request header or url param was found."
            raise _error_with_body(401, {"message": "No API key found in request", "hint": hint})
        if apikey != self.service_key:
            hint = "Double check your Supabase `anon` or `service_role` API key."
            raise _error_with_body(401, {"message": "Invalid API key", "hint": hint})
        token = req.headers.get("authorization", f"Bearer {apikey}").removeprefix("Bearer ").strip()
        if token != self.service_key:
            error = ApiError("PGRST301", "No suitable key or wrong key type")
            error.headers.append(("WWW-Authenticate", 'Bearer error="invalid_token"'))
            raise error

    def _route(self, req: _Request) -> Response:
        if req.path == "/auth/v1/admin/users" and req.method == "GET":
            return self._list_users(req)
        match = re.fullmatch(r"/rest/v1/(rpc/)?([^/]+)", req.path)
        if not match:
            raise ApiError("PGRST125", "Invalid path specified in request URL")
        self._refuse_unsupported_headers(req)
        schema = self._schema(req)
        if match[1]:
            return self._rpc(req, schema, match[2])
        relation = self.catalog().table(schema, match[2])
        handlers = {"GET": self._read, "PATCH": self._update}
        if req.method not in handlers:
            raise _unsupported(f"{req.method} on a table")
        return handlers[req.method](req, relation)

    def _refuse_unsupported_headers(self, req: _Request) -> None:
        """Headers that change the answer in ways the stand-in does not implement."""
        if "range" in req.headers:
            raise _unsupported("The Range header")
        if "vnd.pgrst" in req.headers.get("accept", ""):
            raise _unsupported(f"Accept: {req.headers['accept']}")
        prefer = req.prefer
        if set(prefer) - {"return"} or prefer.get("return", "minimal") not in _RETURNS:
            raise _unsupported(f"Prefer: {req.headers['prefer']}")

    def _schema(self, req: _Request) -> str:
        schema = req.headers.get("accept-profile" if req.reading else "content-profile", self.schemas[0])
        if schema not in self.schemas:
            hint = f"Only the following schemas are exposed: {', '.join(self.schemas)}"
            raise ApiError("PGRST106", f"Invalid schema: {schema}", None, hint)
        return schema

    def _plan(self, req: _Request, relation: Relation) -> Node:
        """The request tree."""
        node = _parse_select(self.catalog(), relation, req.param("select") or "*")
        _apply_query(node, req.query, _RESERVED)
        return node

    def _execute(self, req: _Request, stmt: sql.Composed, params: dict[str, str]) -> Row:
        """Run one statement in its own transaction."""
        with self._pool.connection() as conn:
            conn.read_only = req.reading
            with conn.transaction():
                conn.execute("SELECT set_config('TimeZone', 'UTC', true)")
                return conn.execute(stmt, params).fetchall()[0]  # every statement here answers one row

    def _body_response(self, content_range: str, body: str) -> Response:
        return 200, [("Content-Type", JSON_TYPE), ("Content-Range", content_range)], body.encode()

    def _read(self, req: _Request, relation: Relation) -> Response:
        node, composer = self._plan(req, relation), _Sql(self.max_rows)
        stmt = composer.read(node, sql.SQL("{} AS _t0").format(_table(relation)))
        body, rows = self._execute(req, stmt, composer.params)
        return self._body_response(_content_range(rows), body)

    def _update(self, req: _Request, relation: Relation) -> Response:
        payload = req.json_body()
        if not isinstance(payload, dict):
            raise ApiError("PGRST102", "Empty or invalid json")
        for column in payload:
            if column not in relation.columns:
                message = f"Could not find the '{column}' column of '{relation.name}' in the schema cache"
                raise ApiError("PGRST204", message)
        node, composer = self._plan(req, relation), _Sql(self.max_rows)
        if node.order or node.limit is not None:
            raise _unsupported("order or limit on a write")
        stmt = composer.write(node, composer.update(node, list(payload), json.dumps(payload)))
        body, rows = self._execute(req, stmt, composer.params)
        # PostgREST reports the span of the updated rows; the minimal answer has no body at all.
        if req.prefer.get("return") != "representation":
            return 204, [("Content-Range", _content_range(rows))], b""
        return self._body_response(_content_range(rows), body)

    def _rpc(self, req: _Request, schema: str, name: str) -> Response:
        if req.method != "POST":
            raise _unsupported(f"{req.method} on a function (the publisher calls them with POST)")
        if req.query:
            raise _unsupported("Selecting, filtering, ordering or paging the result of a function")
        args = req.json_body() if req.body else {}
        if not isinstance(args, dict):
            raise _unsupported("A non-object RPC body (Prefer: params=single-object)")
        fn = self.catalog().function(schema, name, set(args))
        if fn.rows:
            raise _unsupported(f"Calling {name}, a function returning rows")
        composer = _Sql(self.max_rows)
        source, call = composer.call(fn, args)
        if fn.returns_set:  # SETOF a scalar type: a JSON array of values, capped like a read
            values = Node(Relation(schema, name, ("v",)), [Field("v")], {})
            prefix = sql.SQL("WITH _c AS MATERIALIZED (SELECT _f.v FROM {}, {} AS _f(v))").format(
                source, call
            )
            stmt = composer.read(values, sql.SQL("_c AS _t0"), prefix=prefix, value="_r.v")
        else:  # a scalar is one JSON value, which the max-rows cap never touches
            value = sql.SQL("NULL::text" if fn.void else "to_json(_f.v)::text")
            stmt = sql.SQL("SELECT {}, 1 FROM {}, {} AS _f(v)").format(value, source, call)
        body, rows = self._execute(req, stmt, composer.params)
        if fn.void:
            return 204, [("Content-Range", _content_range(rows))], b""
        return self._body_response(_content_range(rows), body or "null")

    def _list_users(self, req: _Request) -> Response:
        """GoTrue's admin listing over auth.users: 1-based pages, newest first, 50 by default."""
        page = _int_param("page", req.param("page") or "1") or 1
        per_page = _int_param("per_page", req.param("per_page") or "50") or 50
        stmt = sql.SQL(
            "SELECT coalesce(json_agg(_u.j ORDER BY _u.created_at DESC, _u.id), '[]'),"
            " (SELECT count(*) FROM auth.users)"
            " FROM (SELECT to_jsonb(u) AS j, u.created_at, u.id FROM auth.users u"
            " ORDER BY u.created_at DESC, u.id LIMIT {} OFFSET {}) AS _u"
        ).format(sql.Literal(per_page), sql.Literal((page - 1) * per_page))
        found, total = self._execute(req, stmt, {})
        users = [_gotrue_user(row) for row in found]
        headers = [("Content-Type", JSON_TYPE), ("X-Total-Count", str(total)), _API_VERSION]
        return 200, headers, json.dumps({"users": users, "aud": "authenticated"}).encode()


def _gotrue_user(row: dict[str, Any]) -> dict[str, Any]:
    """A GoTrue user object from an auth.users row; only id and created_at are required."""
    return {
        "id": row["id"],
        "aud": row.get("aud") or "authenticated",
        "role": row.get("role") or "authenticated",
        "email": row.get("email"),
        "phone": row.get("phone") or "",
        "created_at": row["created_at"],
        "updated_at": row.get("updated_at") or row["created_at"],
        "app_metadata": row.get("raw_app_meta_data") or {},
        "user_metadata": row.get("raw_user_meta_data") or {},
    }
