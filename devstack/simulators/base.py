"""What every platform simulator shares: routing, request records, counting, scripted faults.

A simulator is a WSGI app (serve it with `devstack.server.serve`). Tests and the sandbox talk
to it in-process: `sim.inject(...)` scripts faults, `sim.requests` and `sim.created` are read
to assert "published exactly once".

Fault vocabulary, the same for every platform so one test matrix runs every adapter:

| fault            | what the simulator does on the matching request                          |
|------------------|--------------------------------------------------------------------------|
| permanent        | the platform's class-P error reply; nothing applied                      |
| auth             | the platform's class-A (expired/invalid token) reply; nothing applied    |
| rate_limit       | the platform's class-R reply (with its headers); nothing applied         |
| server_error     | HTTP 5xx / transient error reply; nothing applied                        |
| error_after_apply| the request IS applied (post created), then a transient error reply      |
| slow_before      | sleeps `delay` s, then handles the request normally (client timed out)   |
| slow_after       | applies the request, then sleeps `delay` s before answering              |
| reset_before     | resets the connection without applying anything                          |
| reset_after      | applies the request, then resets the connection without answering        |

`step` names the call to fault, e.g. "feed", "photos", "media_publish", "posts", "upload";
each simulator documents its step names. Faults also come from the `X-Fake-Scenario` header
(`<fault>` or `<fault>:<step>`) for manual use with curl.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from devstack.server import DropConnection

FAULTS = (
    "permanent",
    "auth",
    "rate_limit",
    "server_error",
    "error_after_apply",
    "slow_before",
    "slow_after",
    "reset_before",
    "reset_after",
)
APPLIED_FAULTS = ("error_after_apply", "slow_after", "reset_after")


@dataclass
class Request:
    """One request as the simulator received it (method, path, query, headers, parsed body)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    form: dict[str, str] = field(default_factory=dict)  # form or JSON object fields, as text
    json: Any = None
    base_url: str = ""  # "http://127.0.0.1:PORT", for upload URLs pointing back here

    def param(self, name: str, default: str | None = None) -> str | None:
        """A parameter from the body (form or JSON) or else the query string."""
        if name in self.form:
            return self.form[name]
        return self.query.get(name, default)


@dataclass
class Reply:
    """A response: status, JSON (or raw) body, headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class _Fault:
    kind: str
    step: str | None
    times: int
    delay: float


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    308: "Resume Incomplete",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    426: "Upgrade Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class Simulator:
    """Base class: subclasses implement `handle(request, step) -> Reply` and `fault_reply`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.created: list[dict[str, Any]] = []  # every post that became public, in order
        self._faults: list[_Fault] = []

    # ---- test controls -------------------------------------------------------------------
    def inject(self, fault: str, *, step: str | None = None, times: int = 1, delay: float = 2.0) -> None:
        """Make the next `times` requests of `step` (any step if None) fail with `fault`."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        with self.lock:
            self._faults.append(_Fault(fault, step, times, delay))

    def clear_faults(self) -> None:
        """Forget every scripted fault not used yet."""
        with self.lock:
            self._faults.clear()

    def record_created(self, **post: Any) -> None:
        """Count a post that is now public (subclasses call this when one is created)."""
        with self.lock:
            self.created.append(post)

    # ---- to implement --------------------------------------------------------------------
    def step_of(self, request: Request) -> str:
        """The step name of a request (used to match scripted faults)."""
        raise NotImplementedError

    def handle(self, request: Request) -> Reply:
        """Apply the request and build the normal reply."""
        raise NotImplementedError

    def fault_reply(self, fault: str, request: Request, step: str) -> Reply:
        """The platform's reply for permanent / auth / rate_limit / server_error faults."""
        raise NotImplementedError

    # ---- WSGI ----------------------------------------------------------------------------
    def _take_fault(self, request: Request, step: str) -> _Fault | None:
        scenario = request.headers.get("x-fake-scenario")
        if scenario:
            kind, _, wanted = scenario.partition(":")
            if kind in FAULTS and (not wanted or wanted == step):
                return _Fault(kind, step, 1, 2.0)
        with self.lock:
            for fault in self._faults:
                if fault.step is None or fault.step == step:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def dispatch(self, request: Request) -> Reply:
        """Handle a request with any scripted fault applied."""
        step = self.step_of(request)
        fault = self._take_fault(request, step)
        if fault is None:
            return self.handle(request)
        if fault.kind == "reset_before":
            raise DropConnection
        if fault.kind == "slow_before":
            time.sleep(fault.delay)
            return self.handle(request)
        if fault.kind in APPLIED_FAULTS:
            reply = self.handle(request)
            if fault.kind == "reset_after":
                raise DropConnection
            if fault.kind == "slow_after":
                time.sleep(fault.delay)
                return reply
            return self.fault_reply("server_error", request, step)
        return self.fault_reply(fault.kind, request, step)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = parse_request(environ)
        with self.lock:
            self.requests.append(request)
        reply = self.dispatch(request)
        if reply.raw is not None:
            payload = reply.raw
            content_type = reply.headers.pop("Content-Type", "application/octet-stream")
        elif reply.body is None:
            payload = b""
            content_type = reply.headers.pop("Content-Type", "application/json")
        else:
            payload = json.dumps(reply.body).encode()
            content_type = "application/json; charset=UTF-8"
        headers = [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
        headers += list(reply.headers.items())
        start_response(f"{reply.status} {_REASONS.get(reply.status, 'Status')}", headers)
        return [payload]


def parse_request(environ: dict[str, Any]) -> Request:
    """Read a WSGI request: headers lower-cased, body parsed as form or JSON when it is one."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if length:
        headers["content-length"] = str(length)
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    content_type = headers.get("content-type", "")
    form: dict[str, str] = {}
    parsed_json: Any = None
    if "application/json" in content_type and body:
        try:
            parsed_json = json.loads(body)
        except ValueError:
            parsed_json = None
        if isinstance(parsed_json, dict):
            form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in parsed_json.items()}
    elif "application/x-www-form-urlencoded" in content_type:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return Request(
        method=environ["REQUEST_METHOD"],
        path=environ.get("PATH_INFO", ""),
        query=query,
        headers=headers,
        body=body,
        form=form,
        json=parsed_json,
        base_url=f"http://{host}",
    )


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer|OAuth` header, if any."""
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") and token.strip() else None
