"""A PostgREST-protocol stand-in over a real PostgreSQL, for tests and the local sandbox.

No PostgREST server can be installed offline, and a fake over SQLite cannot reproduce what the
publisher relies on: row locks, the READ COMMITTED re-check that makes a PATCH claim a sound
compare-and-swap, type coercion of filter values, PostgreSQL's JSON rendering. So this WSGI app
speaks the PostgREST wire protocol (as supabase-py 2.34 sends it) and translates an explicit
subset of it into one SQL statement per request, run by a real PostgreSQL.

Design:
- Each request: parse the query string, plan it against a catalog read from pg_catalog (unknown
  names fail here, with PostgREST's codes), compose one statement with `psycopg.sql`, run it in
  its own transaction (READ ONLY for GET/HEAD) on a pooled connection of its own, answer.
- Identifiers come from the catalog and are quoted with `sql.Identifier`; filter values are bound
  as parameters of type unknown, so PostgreSQL coerces them to the column type as PostgREST does.
- PostgreSQL renders all JSON (`json_agg`, `row_to_json`) under `TimeZone=UTC`, so timestamps,
  numerics and jsonb look exactly like PostgREST's output.
- The catalog is cached and reloaded when a lookup misses (Supabase reloads PostgREST's schema
  cache on every DDL through an event trigger); `reload_schema()` forces it.

Supported: tables and views (GET/HEAD/POST/PATCH/DELETE); select with `*`, columns, `alias:col`,
`col->a->>b`; embedding `rel(...)`, `alias:rel(...)`, `rel!inner(...)`, `rel!<fk or column>(...)`,
nested, as object or array from foreign keys; filters `[not.]op.value` with eq neq gt gte lt lte
like ilike match imatch in is isdistinct cs cd ov sl sr nxl nxr adj, also on embedded resources
(`rel.col=...`, `rel=not.is.null`); `or`/`and` trees; order, limit, offset (`rel.order` too); the
silent max-rows cap on reads; Content-Range; Prefer return, count, resolution (upsert with
on_conflict), handling=strict with max-affected; singular objects; RPC with named arguments
(POST body or GET query) returning void, a scalar, rows or a set; `/auth/v1/admin/users` over
the database's `auth.users`; the gateway's apikey check.

Deliberately not supported (400 PGRST100, never a guess): casts, aggregates, spreads, `any`/`all`
operator modifiers, full-text operators, the Range header, PUT, `missing=default` on bulk inserts,
order/limit on writes, filters on non-row RPC results. No roles or RLS: every request runs as the
connecting user, which is what the service-role key (BYPASSRLS) amounts to; functions can still
read `request.jwt.claims` ({"role": ...}).
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
SINGULAR_TYPE = "application/vnd.pgrst.object+json"
_COMPARISONS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_PATTERNS = {"like": "LIKE", "ilike": "ILIKE", "match": "~", "imatch": "~*"}  # like/ilike also map * to %
_CONTAINMENT = {"cs": "@>", "cd": "<@", "ov": "&&"}  # arrays, ranges and jsonb
_RANGES = {"sl": "<<", "sr": ">>", "nxl": "&<", "nxr": "&>", "adj": "-|-"}
_OPS = {**_COMPARISONS, **_PATTERNS, **_CONTAINMENT, **_RANGES, "isdistinct": "IS DISTINCT FROM"}
_OPERATORS = {*_OPS, "in", "is"}
_IS = {"null": "NULL", "not_null": "NOT NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
_RESERVED = {"select", "columns", "on_conflict"}  # top-level keys that are neither filters nor RPC args
_NOTHING = sql.SQL("")
# GoTrue's versioned answers: with this header supabase-auth reads an error's `code` as its code.
_API_VERSION = ("X-Supabase-Api-Version", "2024-01-01")

# ---------------------------------------------------------------------------------------------
# Errors

_STATUS_CODES = {  # HTTP status of the errors the stand-in raises itself, as in PostgREST
    300: "PGRST201",
    400: "PGRST100 PGRST102 PGRST108 PGRST120 PGRST124 PGRST200 PGRST204 42703",
    401: "PGRST301",
    404: "PGRST125 PGRST202 PGRST205",
    405: "PGRST101 PGRST117",
    406: "PGRST106 PGRST116",
    416: "PGRST103",
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
    """An error whose body is not built from a PostgREST code (the gateway's, GoTrue's, PostgreSQL's)."""
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
    """The HTTP status PostgREST gives a SQLSTATE (contract §2.6)."""
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
    uniques: tuple[frozenset[str], ...] = ()  # the primary key and unique indexes
    pk: tuple[str, ...] = ()


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
    rows: Relation | None  # the row shape of a table- or composite-returning function


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
_UNIQUES_SQL = f"""
SELECT i.indrelid, i.indisprimary, {_COLUMNS_OF.format(keys="i.indkey", rel="i.indrelid")}
FROM pg_index i WHERE i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL"""
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
        uniques: dict[int, list[tuple[bool, tuple[str, ...]]]] = {}
        for relid, primary, cols in conn.execute(_UNIQUES_SQL):
            uniques.setdefault(relid, []).append((primary, tuple(cols)))
        by_oid: dict[int, Relation] = {}
        self.relations: dict[tuple[str, str], Relation] = {}
        for oid, schema, name, composite, cols in conn.execute(_RELATIONS_SQL):
            keys = uniques.get(oid, [])
            pk = next((k for primary, k in keys if primary), ())
            by_oid[oid] = Relation(schema, name, tuple(cols), tuple(frozenset(k) for _, k in keys), pk)
            if schema in schemas and not composite:  # composite types only shape RPC results
                self.relations[schema, name] = by_oid[oid]
        self.fks = [
            ForeignKey(name, _key(by_oid[child]), tuple(cols), _key(by_oid[parent]), tuple(ref_cols))
            for name, child, parent, cols, ref_cols in conn.execute(_FKS_SQL)
        ]
        self.functions: dict[tuple[str, str], list[Function]] = {}
        for row in conn.execute(_FUNCTIONS_SQL, [list(schemas)]):
            fn = _function(row, by_oid)
            self.functions.setdefault((fn.schema, fn.name), []).append(fn)

    def table(self, schema: str, name: str) -> Relation:
        if (schema, name) in self.relations:
            return self.relations[schema, name]
        close = difflib.get_close_matches(name, [n for s, n in self.relations if s == schema], n=1)
        hint = f"Perhaps you meant the table '{schema}.{close[0]}'" if close else None
        message = f"Could not find the table '{schema}.{name}' in the schema cache"
        raise ApiError("PGRST205", message, None, hint)

    def relationship(self, parent: Relation, target: str, hint: str | None) -> Embed:
        """The embed of `target` under `parent` (without its own node yet), from foreign keys."""
        child = self.relations.get((parent.schema, target))
        found = []
        for fk in self.fks if child else []:
            if fk.table == _key(parent) and fk.ref == (parent.schema, target):  # parent holds the key
                found.append((fk, True, tuple(zip(fk.ref_columns, fk.columns, strict=True))))
            if fk.ref == _key(parent) and fk.table == (parent.schema, target):  # child holds the key
                one = child is not None and frozenset(fk.columns) in child.uniques  # one-to-one
                found.append((fk, one, tuple(zip(fk.columns, fk.ref_columns, strict=True))))
        found = [f for f in found if not hint or hint == f[0].name or hint in f[0].columns]
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
        return Embed(target, Node(child, [], {}), found[0][1], found[0][2], inner=False)

    def function(self, schema: str, name: str, keys: set[str], *, exact: bool) -> tuple[Function, set[str]]:
        """The overload callable with these argument names, and which keys are arguments."""
        for fn in self.functions.get((schema, name), []):
            names = {p.name for p in fn.params}
            args = keys if exact else keys & names
            if args <= names and {p.name for p in fn.params if not p.has_default} <= args:
                return fn, args
        shown = f"{schema}.{name}" + (f"({', '.join(sorted(keys))})" if keys else " without parameters")
        details = f"Searched for the function {shown}, but no matches were found in the schema cache."
        raise ApiError("PGRST202", f"Could not find the function {shown} in the schema cache", details)


def _key(relation: Relation) -> tuple[str, str]:
    return relation.schema, relation.name


def _function(row: Row, by_oid: dict[int, Relation]) -> Function:
    schema, name, returns_set, void, record, relid, n_defaults, names, modes, types = row
    modes = modes or ["i"] * len(types)
    names = names or [""] * len(types)
    inputs = [(n, t) for n, t, m in zip(names, types, modes, strict=True) if m in "ibv"]
    params = tuple(Param(n, t, i >= len(inputs) - n_defaults) for i, (n, t) in enumerate(inputs))
    outputs = tuple(n for n, m in zip(names, modes, strict=True) if m in "obt")
    rows = by_oid.get(relid) if relid else Relation(schema, name, outputs) if record and outputs else None
    return Function(schema, name, params, returns_set, void, rows)


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
class Column:
    field: Field
    alias: str | None


@dataclass
class Node:
    """One resource of the request tree: the root table (or RPC result) or an embedded one."""

    relation: Relation
    items: list[str | Column | Embed]  # "*" is the star
    embeds: dict[str, Embed]
    conds: list[Filter | Logic] = field(default_factory=list)
    order: list[tuple[Field, str, str]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


@dataclass
class Embed:
    label: str
    node: Node
    to_one: bool
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


_EMBED = re.compile(r"(?:([^:!()]+):)?([^:!()]+)((?:![^!()]+)*)\((.*)\)", re.S)
_COLUMN = re.compile(r"(?:([^:]+):(?!:))?([^:()]+)", re.S)


def _parse_select(catalog: Catalog, relation: Relation, text: str) -> Node:
    """The select tree, with every embed resolved against the catalog."""
    node = Node(relation, [], {})
    for part in _split_top(text) if text else []:
        embed, column = _EMBED.fullmatch(part), _COLUMN.fullmatch(part)
        if part == "*":
            node.items.append("*")
        elif embed and (embed[2] == "count" or "." in embed[2]):  # count(), col.sum(): aggregates
            raise _parse_error("select", part, "aggregates are not supported by the stand-in")
        elif embed:
            mods = [m for m in embed[3].split("!") if m]
            hints = [m for m in mods if m not in ("inner", "left")]
            if len(hints) > 1:
                raise _parse_error("select", part, "at most one embedding hint")
            resolved = catalog.relationship(relation, embed[2], hints[0] if hints else None)
            resolved.label, resolved.inner = embed[1] or embed[2], "inner" in mods
            resolved.node = _parse_select(catalog, resolved.node.relation, embed[4])
            node.items.append(resolved)
            node.embeds[resolved.label] = resolved
        elif column and not part.startswith("..."):
            node.items.append(Column(_parse_field(column[2]), column[1]))
        else:
            raise _parse_error(
                "select", part, "casts, aggregates and spreads are not supported by the stand-in"
            )
    return node


def _parse_filter(key: str, raw: str) -> Filter:
    match = re.fullmatch(r"(not\.)?([a-z]+)\.(.*)", raw, re.S)
    if not match or match[2] not in _OPERATORS:
        raise _parse_error("filter", raw, "expected [not.]operator.value with a supported operator")
    return Filter(_parse_field(key), match[2], match[3], bool(match[1]))


def _parse_order(text: str) -> list[tuple[Field, str, str]]:
    terms = []
    for term in _split_top(text):
        name, *mods = term.split(".")
        words = {"asc": "ASC", "desc": "DESC", "nullsfirst": "NULLS FIRST", "nullslast": "NULLS LAST"}
        if any(m not in words for m in mods) or len(mods) > 2:
            raise _parse_error("order", term, "expected column[.asc|.desc][.nullsfirst|.nullslast]")
        direction = next((words[m] for m in mods if m in ("asc", "desc")), "ASC")
        nulls = next((words[m] for m in mods if m.startswith("nulls")), "")
        terms.append((_parse_field(name), direction, nulls))
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
        """A value runs to the next , or ) unless quoted ("…" with \\ escapes), a list or an array."""
        text, start = self.text, self.pos
        if text.startswith('"', start):
            self.pos = _quoted_end(text, start)
            return re.sub(r"\\(.)", r"\1", text[start + 1 : self.pos - 1])
        if (op == "in" and text.startswith("(", start)) or text.startswith("{", start):
            self.pos = _closing(text, start, ")" if text[start] == "(" else "}")
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


def _names(text: str) -> list[str]:
    """A `columns=` or `on_conflict=` list: names, optionally double-quoted."""
    return [_unquote(c) for c in _split_top(text)]


def _apply_query(root: Node, query: list[tuple[str, str]], skip: set[str]) -> None:
    """Attach filters, logic trees, order, limit and offset to the node each key addresses."""
    for key, value in query:
        if key in skip:
            continue
        *path, last = key.split(".")
        negated = last in ("or", "and") and path[-1:] == ["not"]
        node = _node_at(root, path[:-1] if negated else path)
        if last in ("or", "and"):
            node.conds.append(Logic(last.upper(), negated, _LogicParser(value).parse()))
        elif last == "order":
            node.order = _parse_order(value)
        elif last in ("limit", "offset"):
            setattr(node, last, _int_param(last, value))
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


def _idents(names: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def _aggregate(singular: bool, value: str = "_r") -> sql.SQL:
    """The body: a JSON array of the rows, or the first row for a singular response."""
    return sql.SQL(
        f"(json_agg({value}) -> 0)::text" if singular else f"coalesce(json_agg({value}), '[]')::text"
    )


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
            expr = self.embed_is(node.embeds[cond.field.name], depth, cond)
        else:
            expr = self.filter(node, depth, cond)
        return sql.SQL("NOT {}").format(expr) if cond.negate else expr

    def filter(self, node: Node, depth: int, flt: Filter) -> sql.Composable:
        target = self.column(node, depth, flt.field)
        if flt.op == "is":
            if flt.value.lower() not in _IS:
                raise _parse_error(
                    "filter", f"is.{flt.value}", "expected is.null|not_null|true|false|unknown"
                )
            return sql.SQL("({} IS {})").format(target, sql.SQL(_IS[flt.value.lower()]))
        if flt.op == "in":
            return sql.SQL("({} = ANY({}))").format(target, self.bind(_array_literal(flt.value)))
        value = flt.value.replace("*", "%") if flt.op in ("like", "ilike") else flt.value
        return sql.SQL("({} {} {})").format(target, sql.SQL(_OPS[flt.op]), self.bind(value))

    def embed_is(self, embed: Embed, depth: int, flt: Filter) -> sql.Composable:
        """`rel=is.null` / `rel=not.is.null`: keep the parents without / with embedded rows."""
        if flt.op != "is" or flt.value.lower() != "null":
            details = "Only is null or not is null filters are allowed on embedded resources"
            raise ApiError("PGRST120", f"Bad operator on the '{embed.label}' embedded resource", details)
        return sql.SQL("(NOT {})").format(self.exists(embed, depth))

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
            elif isinstance(item, Column):
                label = sql.Identifier(item.alias or item.field.label)
                parts.append(sql.SQL("{} AS {}").format(self.column(node, depth, item.field), label))
            elif item.node.items:  # `rel()` with nothing selected only filters
                value = self.embed_value(item, depth)
                parts.append(sql.SQL("({}) AS {}").format(value, sql.Identifier(item.label)))
        return sql.SQL(", ").join(parts)

    def embed_value(self, embed: Embed, depth: int) -> sql.Composable:
        source = sql.SQL("{} AS {}").format(_table(embed.node.relation), _alias(depth + 1))
        rows = self.page(embed.node, depth + 1, source, self.embed_where(embed, depth), cap=not embed.to_one)
        if embed.to_one:
            return sql.SQL("SELECT row_to_json(_e) FROM ({}) AS _e").format(rows)
        return sql.SQL("SELECT coalesce(json_agg(_e), '[]') FROM ({}) AS _e").format(rows)

    def page(
        self, node: Node, depth: int, source: sql.Composable, conds: list[sql.Composable], *, cap: bool
    ) -> sql.Composed:
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            self.select_list(node, depth), source, _and(conds)
        )
        parts: list[sql.Composable] = [query]
        if node.order:
            terms = [
                sql.SQL("{} {} {}").format(self.column(node, depth, f), sql.SQL(d), sql.SQL(n))
                for f, d, n in node.order
            ]
            parts.append(sql.SQL("ORDER BY {}").format(sql.SQL(", ").join(terms)))
        limit = node.limit
        if cap:  # the silent max-rows cap: reads only, never writes
            limit = self.max_rows if limit is None else min(limit, self.max_rows)
        if limit is not None:
            parts.append(sql.SQL("LIMIT {}").format(sql.Literal(limit)))
        if node.offset:
            parts.append(sql.SQL("OFFSET {}").format(sql.Literal(node.offset)))
        return sql.SQL(" ").join(parts)

    def read(
        self,
        node: Node,
        source: sql.Composable,
        *,
        count: bool,
        singular: bool,
        prefix: sql.Composable = _NOTHING,
        value: str = "_r",
    ) -> sql.Composed:
        """One statement answering (body, rows on this page, total or NULL)."""
        conds = self.where(node, 0)
        total = (
            sql.SQL("(SELECT count(*) FROM {} WHERE {})").format(source, _and(conds))
            if count
            else sql.SQL("NULL::bigint")
        )
        page = self.page(node, 0, source, conds, cap=True)
        return sql.SQL("{} SELECT {}, count(*), {} FROM ({}) AS _r").format(
            prefix, _aggregate(singular, value), total, page
        )

    def write(self, node: Node, mutation: sql.Composable, *, singular: bool) -> sql.Composed:
        """One statement running the mutation and answering (body, affected rows, affected rows)."""
        rows = sql.SQL("SELECT {} FROM _m AS _t0").format(self.select_list(node, 0))
        template = sql.SQL("WITH _m AS ({}) SELECT {}, count(*), count(*) FROM ({}) AS _r")
        return template.format(mutation, _aggregate(singular), rows)

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

    def insert(
        self, relation: Relation, columns: list[str], rows: str, conflict: sql.Composable
    ) -> sql.Composable:
        """Only the given columns are inserted, so the others get their defaults."""
        table, names = _table(relation), _idents(columns)
        target = sql.SQL("({})").format(names) if columns else _NOTHING
        template = (
            "INSERT INTO {0} AS _t0 {1} SELECT {2} FROM json_populate_recordset(NULL::{0}, {3}::json) AS _b"
            " {4} RETURNING _t0.*"
        )
        return sql.SQL(template).format(table, target, names, self.bind(rows), conflict)

    def delete(self, node: Node) -> sql.Composable:
        where = _and(self.where(node, 0))
        return sql.SQL("DELETE FROM {} AS _t0 WHERE {} RETURNING _t0.*").format(_table(node.relation), where)

    def call(
        self, fn: Function, args: dict[str, Any], *, from_query: bool
    ) -> tuple[sql.Composable, sql.Composable]:
        """(a FROM item binding the arguments as _a, the call with named arguments)."""
        used = [p for p in fn.params if p.name in args]
        source: sql.Composable = sql.SQL("(SELECT) AS _a")
        if from_query:  # GET: every argument is text, cast to its declared type
            values = [sql.SQL("{}::{}").format(self.bind(str(args[p.name])), sql.SQL(p.type)) for p in used]
        else:  # POST: json_to_record converts JSON arrays and objects to the declared types
            values = [sql.SQL("_a.{}").format(sql.Identifier(p.name)) for p in used]
            record = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(p.name), sql.SQL(p.type)) for p in used
            )
            body = self.bind(json.dumps({p.name: args[p.name] for p in used}))
            source = sql.SQL("json_to_record({}::json) AS _a({})").format(body, record) if used else source
        named = sql.SQL(", ").join(
            sql.SQL("{} => {}").format(sql.Identifier(p.name), v) for p, v in zip(used, values, strict=True)
        )
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
    role: str = "anon"

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
        return self.method in ("GET", "HEAD")

    @property
    def singular(self) -> bool:
        return SINGULAR_TYPE in self.headers.get("accept", "")

    @property
    def counting(self) -> bool:  # planned and estimated may be any estimate: the exact count is one
        return self.prefer.get("count") in ("exact", "planned", "estimated")

    def json_body(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError("PGRST102", "Empty or invalid json") from None


def _error_response(error: ApiError) -> Response:
    headers = [("Content-Type", JSON_TYPE), *error.headers]
    return error.status, headers, json.dumps(error.body).encode()


def _content_range(offset: int, rows: int, total: int | None) -> tuple[int, str]:
    """PostgREST's rangeStatusHeader: the status and Content-Range of a page of rows."""
    upper = offset + rows - 1
    span = f"{offset}-{upper}" if total != 0 and offset <= upper else "*"
    status = 200 if total is None else 416 if offset > total else 206 if rows < total else 200
    return status, f"{span}/{'*' if total is None else total}"


class PostgrestStandIn:
    """The WSGI app. Serve it with `devstack.server.serve(app)` and give supabase-py the URL."""

    def __init__(
        self,
        dsn: str,
        service_key: str,
        *,
        anon_key: str | None = None,
        max_rows: int = 1000,
        schemas: tuple[str, ...] = ("public",),
    ) -> None:
        self.keys = {service_key: "service_role", **({anon_key: "anon"} if anon_key else {})}
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
            req.role = self._authenticate(req)
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

    def _authenticate(self, req: _Request) -> str:
        """Supabase's gateway checks `apikey` first; PostgREST then checks the Bearer token."""
        apikey = req.headers.get("apikey")
        if not apikey:
            hint = "No `apikey` request header or url param was found."
            raise _error_with_body(401, {"message": "No API key found in request", "hint": hint})
        if apikey not in self.keys:
            hint = "Double check your Supabase `anon` or `service_role` API key."
            raise _error_with_body(401, {"message": "Invalid API key", "hint": hint})
        token = req.headers.get("authorization", f"Bearer {apikey}").removeprefix("Bearer ").strip()
        if token not in self.keys:
            error = ApiError("PGRST301", "No suitable key or wrong key type")
            error.headers.append(("WWW-Authenticate", 'Bearer error="invalid_token"'))
            raise error
        return self.keys[token]

    def _route(self, req: _Request) -> Response:
        if req.path == "/auth/v1/admin/users" and req.method == "GET":
            return self._list_users(req)
        match = re.fullmatch(r"/rest/v1/(rpc/)?([^/]+)", req.path)
        if not match:
            raise ApiError("PGRST125", "Invalid path specified in request URL")
        if "range" in req.headers:
            raise _unsupported("The Range header (use limit and offset)")
        schema = self._schema(req)
        if match[1]:
            return self._rpc(req, schema, match[2])
        relation = self.catalog().table(schema, match[2])
        handlers = {"GET": self._read, "HEAD": self._read, "POST": self._insert, "PATCH": self._update}
        handler = handlers.get(req.method, self._delete if req.method == "DELETE" else None)
        if handler is None:
            raise ApiError("PGRST117", f"Unsupported HTTP method: {req.method}")
        return handler(req, relation)

    def _schema(self, req: _Request) -> str:
        schema = req.headers.get("accept-profile" if req.reading else "content-profile", self.schemas[0])
        if schema not in self.schemas:
            hint = f"Only the following schemas are exposed: {', '.join(self.schemas)}"
            raise ApiError("PGRST106", f"Invalid schema: {schema}", None, hint)
        return schema

    def _plan(self, req: _Request, relation: Relation, args: Iterable[str] = ()) -> Node:
        """The request tree; `args` are query keys that are RPC arguments, not filters."""
        node = _parse_select(self.catalog(), relation, req.param("select") or "*")
        _apply_query(node, req.query, {*_RESERVED, *args})
        return node

    def _execute(
        self, req: _Request, stmt: sql.Composed, params: dict[str, str], check: Callable[[Row], None]
    ) -> Row:
        """Run one statement in its own transaction; `check` may raise to roll it back."""
        with self._pool.connection() as conn:
            conn.read_only = req.reading
            with conn.transaction():
                claims = json.dumps({"role": req.role})
                conn.execute(
                    "SELECT set_config('TimeZone', 'UTC', true), set_config('request.jwt.claims', %s, true)",
                    [claims],
                )
                row = conn.execute(stmt, params).fetchall()[0]  # every statement here answers one row
                check(row)
                return row

    def _page_check(self, req: _Request, offset: int) -> Callable[[Row], None]:
        def check(row: Row) -> None:
            _body, rows, total = row
            if _content_range(offset, rows, total)[0] == 416:
                details = f"An offset of {offset} was requested, but there are only {total} rows."
                raise ApiError("PGRST103", "Requested range not satisfiable", details)
            self._singular_check(req)(row)

        return check

    def _singular_check(self, req: _Request) -> Callable[[Row], None]:
        def check(row: Row) -> None:
            rows, limit = row[1], req.prefer.get("max-affected", "")
            if req.singular and rows != 1:
                message = "Cannot coerce the result to a single JSON object"
                raise ApiError("PGRST116", message, f"The result contains {rows} rows")
            if req.prefer.get("handling") == "strict" and limit.isdigit() and rows > int(limit):
                message = "Query result exceeds max-affected preference constraint"
                raise ApiError("PGRST124", message, f"The query affects {rows} rows")

        return check

    def _body_response(self, req: _Request, status: int, content_range: str, body: str | None) -> Response:
        content_type = f"{SINGULAR_TYPE}; charset=utf-8" if req.singular else JSON_TYPE
        headers = [("Content-Type", content_type), ("Content-Range", content_range)]
        return status, headers, (body or "null").encode()

    def _read(self, req: _Request, relation: Relation) -> Response:
        node, composer = self._plan(req, relation), _Sql(self.max_rows)
        source = sql.SQL("{} AS _t0").format(_table(relation))
        stmt = composer.read(node, source, count=req.counting, singular=req.singular)
        body, rows, total = self._execute(req, stmt, composer.params, self._page_check(req, node.offset))
        return self._body_response(req, *_content_range(node.offset, rows, total), body)

    def _write(self, req: _Request, node: Node, composer: _Sql, mutation: sql.Composable) -> Response:
        if node.order or node.limit is not None or node.offset:
            raise _unsupported("order, limit or offset on a write")
        stmt = composer.write(node, mutation, singular=req.singular)
        body, rows, _ = self._execute(req, stmt, composer.params, self._singular_check(req))
        # PostgREST reports the span of updated rows, but only `*` for inserted or deleted ones.
        first, shown = (0, rows) if req.method == "PATCH" else (1, 0)
        content_range = _content_range(first, shown, rows if req.counting else None)[1]
        if req.prefer.get("return") != "representation":
            return (201 if req.method == "POST" else 204), [("Content-Range", content_range)], b""
        return self._body_response(req, 201 if req.method == "POST" else 200, content_range, body)

    def _body_columns(self, req: _Request, relation: Relation, keys: Iterable[str]) -> list[str]:
        given = req.param("columns")
        columns = _names(given) if given else list(keys)
        for column in columns:
            if column not in relation.columns:
                message = f"Could not find the '{column}' column of '{relation.name}' in the schema cache"
                raise ApiError("PGRST204", message)
        return columns

    def _insert(self, req: _Request, relation: Relation) -> Response:
        payload = req.json_body()
        rows = [payload] if isinstance(payload, dict) else payload
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ApiError("PGRST102", "Empty or invalid json")
        if not req.param("columns") and any(r.keys() != rows[0].keys() for r in rows):
            raise ApiError("PGRST102", "All object keys must match")
        if req.prefer.get("missing") == "default" and isinstance(payload, list):
            raise _unsupported("Prefer: missing=default on a bulk insert")
        columns = self._body_columns(req, relation, rows[0] if rows else [])
        node, composer = self._plan(req, relation), _Sql(self.max_rows)
        conflict = self._conflict(req, relation, columns)
        return self._write(
            req, node, composer, composer.insert(relation, columns, json.dumps(rows), conflict)
        )

    def _conflict(self, req: _Request, relation: Relation, columns: list[str]) -> sql.Composable:
        """The ON CONFLICT clause of an upsert (Prefer: resolution=...)."""
        resolution = req.prefer.get("resolution")
        if resolution not in ("merge-duplicates", "ignore-duplicates"):
            return _NOTHING
        given = req.param("on_conflict")
        target = _names(given) if given else list(relation.pk)
        updates = [c for c in columns if c not in target]
        if resolution == "ignore-duplicates" or not updates:
            return sql.SQL("ON CONFLICT ({}) DO NOTHING").format(_idents(target))
        sets = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in updates)
        return sql.SQL("ON CONFLICT ({}) DO UPDATE SET {}").format(_idents(target), sets)

    def _update(self, req: _Request, relation: Relation) -> Response:
        payload = req.json_body()
        if not isinstance(payload, dict):
            raise ApiError("PGRST102", "Empty or invalid json")
        columns = self._body_columns(req, relation, payload)
        node, composer = self._plan(req, relation), _Sql(self.max_rows)
        return self._write(req, node, composer, composer.update(node, columns, json.dumps(payload)))

    def _delete(self, req: _Request, relation: Relation) -> Response:
        node, composer = self._plan(req, relation), _Sql(self.max_rows)
        return self._write(req, node, composer, composer.delete(node))

    def _rpc(self, req: _Request, schema: str, name: str) -> Response:
        if req.method not in ("GET", "HEAD", "POST"):
            raise ApiError("PGRST101", f"Cannot use the {req.method} method on RPC")
        if req.reading:  # GET: arguments are the query keys that name parameters
            args: Any = {k: v for k, v in req.query if k not in ("select", "order", "limit", "offset")}
        else:
            args = req.json_body() if req.body else {}
            if not isinstance(args, dict):
                raise _unsupported("A non-object RPC body (Prefer: params=single-object)")
        fn, used = self.catalog().function(schema, name, set(args), exact=not req.reading)
        composer = _Sql(self.max_rows)
        source, call = composer.call(fn, {k: args[k] for k in used}, from_query=req.reading)
        if fn.rows is not None:
            return self._rpc_rows(req, fn, fn.rows, used, composer, source, call)
        if any(k not in used and k != "select" for k, _ in req.query):
            raise _unsupported("Filtering, ordering or paging the result of a function returning no rows")
        if fn.returns_set:  # SETOF a scalar type: a JSON array of values
            values = Node(Relation(schema, name, ("v",)), [Column(Field("v"), None)], {})
            prefix = sql.SQL("WITH _c AS MATERIALIZED (SELECT _f.v FROM {}, {} AS _f(v))").format(
                source, call
            )
            stmt = composer.read(
                values,
                sql.SQL("_c AS _t0"),
                count=req.counting,
                singular=req.singular,
                prefix=prefix,
                value="_r.v",
            )
        else:
            value = sql.SQL("NULL::text" if fn.void else "to_json(_f.v)::text")
            stmt = sql.SQL("SELECT {}, 1, NULL::bigint FROM {}, {} AS _f(v)").format(value, source, call)
        body, rows, total = self._execute(req, stmt, composer.params, self._singular_check(req))
        status, content_range = _content_range(0, rows, total)
        if fn.void:
            return 204, [("Content-Range", content_range)], b""
        return self._body_response(req, status, content_range, body)

    def _rpc_rows(
        self,
        req: _Request,
        fn: Function,
        shape: Relation,
        used: set[str],
        composer: _Sql,
        source: sql.Composable,
        call: sql.Composable,
    ) -> Response:
        """A function returning rows reads like a table; MATERIALIZED runs it exactly once."""
        node = self._plan(req, shape, used if req.reading else ())
        prefix = sql.SQL("WITH _c AS MATERIALIZED (SELECT _f.* FROM {}, {} AS _f)").format(source, call)
        singular = req.singular or not fn.returns_set  # a single composite is answered as an object
        stmt = composer.read(node, sql.SQL("_c AS _t0"), count=req.counting, singular=singular, prefix=prefix)
        body, rows, total = self._execute(req, stmt, composer.params, self._page_check(req, node.offset))
        return self._body_response(req, *_content_range(node.offset, rows, total), body)

    def _list_users(self, req: _Request) -> Response:
        """GoTrue's admin listing over auth.users: 1-based pages, newest first, 50 by default."""
        if req.role != "service_role":
            raise _error_with_body(403, {"code": "not_admin", "msg": "User not allowed"}, _API_VERSION)
        page = _int_param("page", req.param("page") or "1") or 1
        per_page = _int_param("per_page", req.param("per_page") or "50") or 50
        stmt = sql.SQL(
            "SELECT coalesce(json_agg(_u.j ORDER BY _u.created_at DESC, _u.id), '[]'),"
            " (SELECT count(*) FROM auth.users)"
            " FROM (SELECT to_jsonb(u) AS j, u.created_at, u.id FROM auth.users u"
            " ORDER BY u.created_at DESC, u.id LIMIT {} OFFSET {}) AS _u"
        ).format(sql.Literal(per_page), sql.Literal((page - 1) * per_page))
        found, total = self._execute(req, stmt, {}, lambda _row: None)
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
