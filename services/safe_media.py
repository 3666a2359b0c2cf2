"""Fetching URLs that users typed: the only way an adapter downloads a post's media or talks to a
site address a user entered (a WordPress site).

A URL in a post row is an instruction from a user to *our server*. Without care a user can make
the server fetch cloud metadata (169.254.169.254), localhost or any internal address and read
the answer back through the post's error message. The rules here:

- only http and https;
- the host is resolved once (`socket.getaddrinfo`) and every address it resolves to must be
  public: loopback, private (RFC 1918, unique-local), link-local, unspecified, multicast,
  reserved, shared address space (CGNAT 100.64/10), the IETF protocol block 192.0.0/24, IPv4
  embedded in IPv6 (mapped, NAT64, 6to4) of any of those, and cloud metadata hosts and
  addresses are refused. `settings.media_allowed_hosts` (MEDIA_ALLOWED_HOSTS) lists hosts or
  CIDR networks that may be fetched anyway, for development; a metadata address is allowed only
  when named exactly (a broad network such as 0.0.0.0/0 does not open it);
- the connection goes to exactly the addresses that were checked. The client's transport
  resolves nothing itself: its network backend connects only to the addresses `check` pinned
  for that host name, so DNS cannot answer "public" to the check and "internal" to the connect
  (rebinding). TLS still verifies the certificate against the host *name* (the SNI and
  hostname check use the URL's host, not the pinned address);
- redirects are followed here, not by httpx, each hop checked and pinned like the first, at
  most `MAX_REDIRECTS`;
- a Content-Length above the cap is refused before reading, and the body is counted as it
  streams: it stops with an error the moment it passes the cap. Compressed transfer is not
  requested, and a reply compressed anyway is refused (its decoded size would escape the cap);
- proxies from the environment are ignored (`trust_env=False`): a proxy would make the
  address checks meaningless;
- errors name the rule ("points to a private network address", "redirects more than 5 times",
  "is larger than 2,048 MB"); the HTTP status is shown only for hosts that passed the check,
  so a refused host's answer never reaches the user.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from services.errors import PermanentError, PlatformError, RetryableError

if TYPE_CHECKING:
    # Types only: importing services.platforms runs its registry, which imports every adapter,
    # and adapters import this module.
    from services.platforms.base import AdapterContext, PlatformSettings

MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def url_name(url: str) -> str:
    """The last path segment of a URL, for messages (services.platforms.base.url_name)."""
    from services.platforms.base import url_name as name_of  # noqa: PLC0415 (see the TYPE_CHECKING note)

    return name_of(url)


# Host names of instance metadata services (their addresses are refused below as well; the
# names are refused before any DNS lookup, so a resolver that maps them elsewhere changes nothing).
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
    )
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # CGNAT: the provider's network, not the internet
_PROTOCOL_BLOCK = ipaddress.ip_network("192.0.0.0/24")  # Python 3.11 calls parts of it global
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def address_problem(address: IPAddress) -> str | None:
    """Why `address` is not a public internet address ("a private network address"), or None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_problem(embedded)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address (this server itself)"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.version == 4 and (address in _SHARED or address in _PROTOCOL_BLOCK):
        return "a private network address"
    if address.is_private or not address.is_global:
        return "a private network address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4), which is what gets reached."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AllowList:
    """MEDIA_ALLOWED_HOSTS: host names, addresses and CIDR networks fetched although not public."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            value = entry.strip().lower().rstrip(".")
            if not value:
                continue
            try:
                networks.append(ipaddress.ip_network(value.strip("[]"), strict=False))
            except ValueError:
                names.add(value)
        return cls(frozenset(names), tuple(networks))

    def names_host(self, host: str) -> bool:
        """Whether `host` itself (a name, or an address literal) is listed, without resolving it."""
        host = host.strip("[]").lower().rstrip(".")
        if host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    def allows(self, host: str, address: IPAddress, problem: str) -> bool:
        """Whether `address` (resolved from `host`, refused for `problem`) may be fetched anyway."""
        if host in self.names:
            return True
        if problem == "a cloud metadata address":
            # Only an entry naming this very address opens it, never a network that happens to hold it.
            return any(net.num_addresses == 1 and address in net for net in self.networks)
        return any(address in net for net in self.networks)


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed the rules, with the addresses its host resolved to (connect to these)."""

    url: httpx.URL
    host: str  # as httpcore will see it: lower-case, IDNA-encoded, IPv6 without brackets
    addresses: tuple[str, ...]


def check_public_url(
    url: str | httpx.URL,
    settings: PlatformSettings,
    *,
    platform: str,
    subject: str | None = None,
    redirected: bool = False,
) -> CheckedURL:
    """Check a URL a user supplied without fetching it; raise a typed error naming the broken rule.

    `subject` starts the error sentence ("The media file photo.jpg"); by default it names the
    last path segment only, as a full URL may carry signed query parameters.
    `redirected` words the errors for a redirect target ("redirects to ...").
    """
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    text = str(url)
    subject = subject or f"The address {url_name(text)}"
    verb = "redirects to" if redirected else "points to"
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        where = "redirects to an address that is not" if redirected else "is not at"
        raise PermanentError(platform, f"{subject} {where} an http or https web address.")
    host = parsed.raw_host.decode("ascii").lower().rstrip(".")
    allow = AllowList.parse(settings.media_allowed_hosts)
    if host in METADATA_HOSTS and host not in allow.names:
        raise _refused(platform, subject, verb, "a cloud metadata address", host)
    addresses = _resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80), platform, subject)
    for address in addresses:
        problem = address_problem(address)
        if problem and not allow.allows(host, address, problem):
            raise _refused(platform, subject, verb, problem, host)
    return CheckedURL(url=parsed, host=host, addresses=tuple(str(a) for a in addresses))


def _refused(platform: str, subject: str, verb: str, problem: str, host: str) -> PermanentError:
    return PermanentError(
        platform,
        f"{subject} {verb} {problem}, not a public internet address, so the publisher does not fetch it.",
        detail=f"refused host {host}: {problem}",
    )


def _resolve(host: str, port: int, platform: str, subject: str) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        code = exc.args[0] if isinstance(exc, socket.gaierror) and exc.args else None
        if code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) or isinstance(exc, UnicodeError):
            raise PermanentError(
                platform, f"{subject} names a host that does not exist.", detail=f"DNS: {host}: {exc}"
            ) from None
        raise RetryableError(
            platform, f"{subject} could not be looked up just now.", detail=f"DNS: {host}: {exc}"
        ) from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise PermanentError(platform, f"{subject} names a host that does not exist.", detail=f"DNS: {host}")
    return found


# ---- a client that connects only to checked addresses ---------------------------------------
class _PinnedBackend(httpcore.NetworkBackend):
    """Connects a host name only to the addresses `PublicClient.check` pinned for it."""

    def __init__(self, pins: Mapping[str, tuple[str, ...]]) -> None:
        self._pins = pins
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._pins.get(host.lower().rstrip("."))
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        failure: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # noqa: S101 (addresses is not empty)
        raise failure

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every fetch: building one loads the CA bundle (~15 ms)."""
    return httpx.create_ssl_context(trust_env=False)


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport (request/response conversion, error mapping) on the pinned backend."""

    def __init__(self, pins: Mapping[str, tuple[str, ...]]) -> None:
        # httpx's __init__ only builds a connection pool (and a TLS context for it); this is that
        # pool with the pinned backend, so calling it would only load the CA bundle for nothing.
        self._pool = httpcore.ConnectionPool(ssl_context=_ssl_context(), network_backend=_PinnedBackend(pins))


@dataclass
class PublicClient:
    """An httpx client for user-supplied URLs: `check` a URL, then request it with `client`.

    The client follows no redirects and connects only to addresses `check` approved, so a
    request to anything not checked fails before a byte is sent. Use as a context manager.
    """

    settings: PlatformSettings
    platform: str
    pins: dict[str, tuple[str, ...]] = field(default_factory=dict)
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            transport=_PinnedTransport(self.pins),
            timeout=self.settings.http_timeout_s,
            follow_redirects=False,
            trust_env=False,
        )

    def check(self, url: str | httpx.URL, *, subject: str, redirected: bool = False) -> httpx.URL:
        """Check `url` (raising the typed error of the broken rule) and pin its host's addresses."""
        checked = check_public_url(
            url, self.settings, platform=self.platform, subject=subject, redirected=redirected
        )
        self.pins[checked.host] = checked.addresses
        return checked.url

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> PublicClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- media downloads -------------------------------------------------------------------------
def _size(limit: int) -> str:
    if limit >= 1024**2:
        return f"{limit / 1024**2:,.0f} MB"
    return f"{limit / 1024:,.0f} KB"


class _CappedStream(httpx.SyncByteStream):
    """The response body, stopped with a typed error the moment it passes the cap.

    Raising a PlatformError (not an httpx error) matters: an adapter streams this body into an
    upload request, and its `send()` would read an httpx error as the *platform's* failure.
    """

    def __init__(
        self, inner: httpx.SyncByteStream, *, limit: int, too_large: PlatformError, broken: str
    ) -> None:
        self._inner = inner
        self._limit = limit
        self._too_large = too_large
        self._broken = broken
        self.received = 0

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                self.received += len(chunk)
                if self.received > self._limit:
                    raise self._too_large
                yield chunk
        except httpx.TransportError as exc:
            raise RetryableError(
                self._too_large.platform, self._broken, detail=f"media download: {type(exc).__name__}"
            ) from None

    def close(self) -> None:
        self._inner.close()


@contextmanager
def open_media(
    ctx: AdapterContext,
    url: str,
    *,
    platform: str,
    what: str = "media file",
    max_bytes: int | None = None,
) -> Iterator[httpx.Response]:
    """A streaming 200 response for the media at `url`, fetched under the rules of this module.

    `what` names the file in messages ("image", "video"); `max_bytes` lowers the cap below
    `settings.media_max_bytes` for a platform with a smaller limit. Typed errors name the file
    and the rule, never what a refused host answered.
    """
    subject = f"The {what} {url_name(url)}"
    limit = min(max_bytes, ctx.settings.media_max_bytes) if max_bytes else ctx.settings.media_max_bytes
    unreachable = f"{subject} could not be downloaded from its address."
    with PublicClient(ctx.settings, platform) as public:
        target = public.check(url, subject=subject)
        try:
            response = _follow(public, target, subject=subject)
        except httpx.TransportError as exc:
            raise RetryableError(platform, unreachable, detail=type(exc).__name__) from None
        # No httpx error is caught around the `yield`: the adapter's own platform calls happen
        # there, and only it knows whether one of those may have published.
        try:
            _refuse_reply(response, platform=platform, subject=subject, limit=limit)
            too_large = PermanentError(
                platform, f"{subject} is larger than {_size(limit)}, the most the publisher downloads."
            )
            assert isinstance(response.stream, httpx.SyncByteStream)  # noqa: S101 (a sync client's)
            response.stream = _CappedStream(
                response.stream, limit=limit, too_large=too_large, broken=unreachable
            )
            yield response
        finally:
            response.close()


def _follow(public: PublicClient, url: httpx.URL, *, subject: str) -> httpx.Response:
    """GET `url`, following redirects by hand: every hop checked and pinned, at most MAX_REDIRECTS."""
    headers = {"Accept-Encoding": "identity"}
    for hop in range(MAX_REDIRECTS + 1):
        request = public.client.build_request("GET", url, headers=headers)
        response = public.client.send(request, stream=True)
        location = response.headers.get("location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            return response
        response.close()
        if hop == MAX_REDIRECTS:
            break
        try:
            url = public.check(url.join(location), subject=subject, redirected=True)
        except httpx.InvalidURL:
            raise PermanentError(
                public.platform, f"{subject} redirects to an address that is not valid."
            ) from None
    raise PermanentError(
        public.platform,
        f"{subject} redirects more than {MAX_REDIRECTS} times, so the publisher stopped following it.",
    )


def _refuse_reply(response: httpx.Response, *, platform: str, subject: str, limit: int) -> None:
    """Raise the typed error for a reply that is not a usable 200 (only checked hosts get here)."""
    status = response.status_code
    if status != 200:
        error = RetryableError if status >= 500 or status == 429 else PermanentError
        raise error(platform, f"{subject} could not be downloaded (HTTP {status}).", detail=f"HTTP {status}")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise PermanentError(
            platform,
            f"{subject} is sent compressed ({encoding}), which the publisher does not accept for media.",
        )
    length = response.headers.get("content-length", "")
    if length.strip().isdigit() and int(length) > limit:
        raise PermanentError(
            platform, f"{subject} is larger than {_size(limit)}, the most the publisher downloads."
        )
