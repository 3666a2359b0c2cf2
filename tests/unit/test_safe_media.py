"""User-supplied URLs: only public addresses are fetched, on every hop, with a size cap."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.server import serve
from devstack.simulators.media import MediaHost, media_bytes
from services import safe_media
from services.errors import PermanentError, RetryableError
from services.platforms.base import AdapterContext, PlatformSettings
from services.safe_media import (
    MAX_REDIRECTS,
    PublicClient,
    address_problem,
    check_public_url,
    open_media,
)
from tests.adapters.harness import ProgressRecorder

PRIVATE = "a private network address"
LOOPBACK = "a loopback address (this server itself)"
METADATA = "a cloud metadata address"
LINK_LOCAL = "a link-local address"
RESERVED = "a reserved address"

ADDRESSES = [
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("2001:4860:4860::8888", None),
    ("::ffff:8.8.8.8", None),
    ("127.0.0.1", LOOPBACK),
    ("127.255.0.9", LOOPBACK),
    ("::1", LOOPBACK),
    ("::ffff:127.0.0.1", LOOPBACK),
    ("64:ff9b::7f00:1", LOOPBACK),  # NAT64 of 127.0.0.1
    ("10.1.2.3", PRIVATE),
    ("172.16.0.1", PRIVATE),
    ("192.168.1.1", PRIVATE),
    ("::ffff:192.168.1.1", PRIVATE),
    ("2002:c0a8:101::1", PRIVATE),  # 6to4 of 192.168.1.1
    ("fd12:3456::1", PRIVATE),
    ("100.64.0.1", PRIVATE),  # CGNAT
    ("100.127.255.254", PRIVATE),
    ("192.0.0.8", PRIVATE),
    ("169.254.169.254", METADATA),
    ("::ffff:169.254.169.254", METADATA),
    ("fd00:ec2::254", METADATA),
    ("169.254.170.2", METADATA),
    ("100.100.100.200", METADATA),
    ("169.254.1.1", LINK_LOCAL),
    ("fe80::1", LINK_LOCAL),
    ("0.0.0.0", "an unspecified address"),  # noqa: S104 (an address under test, not a bind)
    ("::", "an unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("240.0.0.1", RESERVED),
    ("255.255.255.255", RESERVED),
    ("198.18.0.1", PRIVATE),  # benchmarking network
    ("2001:db8::1", PRIVATE),  # documentation
]


@pytest.mark.parametrize(("address", "problem"), ADDRESSES)
def test_address_rules(address: str, problem: str | None):
    """Each address is public, or refused for the rule it breaks (embedded IPv4 included)."""
    assert address_problem(ipaddress.ip_address(address)) == problem


def settings(*allowed: str, max_bytes: int = 10 * 1024**2) -> PlatformSettings:
    return PlatformSettings(media_allowed_hosts=allowed, media_max_bytes=max_bytes, http_timeout_s=5)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1/a.jpg", LOOPBACK),
        ("http://localhost:8080/a.jpg", LOOPBACK),
        ("http://[::ffff:127.0.0.1]/a.jpg", LOOPBACK),
        ("http://2130706433/a.jpg", LOOPBACK),  # 127.0.0.1 written as one number
        ("http://0x7f.1/a.jpg", LOOPBACK),
        ("https://10.0.0.5/a.jpg", PRIVATE),
        ("http://169.254.169.254/latest/meta-data/", METADATA),
        ("http://[fd00:ec2::254]/latest/meta-data/", METADATA),
        ("http://metadata.google.internal/computeMetadata/v1/", METADATA),
        ("http://100.64.1.1/a.jpg", PRIVATE),
    ],
)
def test_internal_urls_are_refused_naming_the_rule(url: str, problem: str):
    """A URL whose host resolves to an internal address is refused with the rule, before any request."""
    with pytest.raises(PermanentError) as caught:
        check_public_url(url, settings(), platform="linkedin", subject="The image a.jpg")
    assert caught.value.message.startswith(f"The image a.jpg points to {problem}")


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "gopher://example.com/", "//example.com/a"]
)
def test_only_http_and_https(url: str):
    """Schemes other than http and https are refused."""
    with pytest.raises(PermanentError, match="is not at an http or https web address"):
        check_public_url(url, settings("0.0.0.0/0"), platform="x")


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        (("127.0.0.1",), "http://127.0.0.1:9/a.jpg"),
        (("127.0.0.0/8",), "http://127.0.0.2:9/a.jpg"),
        (("localhost",), "http://LOCALHOST:9/a.jpg"),
        (("::1/128", "127.0.0.1"), "http://[::1]:9/a.jpg"),
        (("10.0.0.0/8",), "http://10.20.30.40/a.jpg"),
        (("169.254.169.254",), "http://169.254.169.254/"),
    ],
)
def test_allow_list_by_host_and_by_network(allowed: tuple[str, ...], url: str):
    """MEDIA_ALLOWED_HOSTS opens a host by name, by address or by CIDR network."""
    checked = check_public_url(url, settings(*allowed), platform="x")
    assert checked.addresses


def test_allow_list_of_another_network_does_not_open_loopback():
    """An allowed network covers only its own addresses."""
    with pytest.raises(PermanentError, match="loopback"):
        check_public_url("http://127.0.0.1/a.jpg", settings("10.0.0.0/8", "media.example"), platform="x")


def test_a_broad_allowed_network_does_not_open_metadata():
    """Cloud metadata stays refused unless its exact address is listed."""
    with pytest.raises(PermanentError, match="cloud metadata"):
        check_public_url("http://169.254.169.254/", settings("0.0.0.0/0", "169.254.0.0/16"), platform="x")


def test_unknown_host_is_permanent():
    """A host name that does not exist is the user's error, said plainly."""
    with pytest.raises(PermanentError, match="names a host that does not exist"):
        check_public_url("https://no-such-host.invalid/a.jpg", settings(), platform="x")


# ---- fetching --------------------------------------------------------------------------------
class Site:
    """A local web server with redirects, errors and an internal-only page that counts its hits."""

    def __init__(self) -> None:
        self.media = MediaHost()
        self.hits: list[str] = []
        self.other = ""  # base URL the /away redirect points to

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ["PATH_INFO"]
        self.hits.append(path)
        if path.startswith("/media/"):
            return self.media(environ, start_response)
        if path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[-1])
            target = "/media/end.jpg" if left == 0 else f"/chain/{left - 1}"
            start_response("302 Found", [("Location", target), ("Content-Length", "0")])
            return [b""]
        if path == "/away":
            start_response("301 Moved", [("Location", f"{self.other}/internal"), ("Content-Length", "0")])
            return [b""]
        if path == "/internal":
            body = b"root:x:0:0 internal secret"
            start_response("500 Internal Server Error", [("Content-Length", str(len(body)))])
            return [body]
        if path == "/gone.jpg":
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        if path == "/gzip.jpg":
            start_response("200 OK", [("Content-Encoding", "gzip"), ("Content-Length", "0")])
            return [b""]
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    app = Site()
    with serve(app) as server:
        yield app, server.url


@pytest.fixture
def public_name(monkeypatch: pytest.MonkeyPatch) -> str:
    """A public-looking host name that resolves to loopback (a test's stand-in for DNS)."""
    name = "cdn.media-example.com"
    real = socket.getaddrinfo

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == name else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return name


@contextlib.contextmanager
def context(config: PlatformSettings) -> Iterator[AdapterContext]:
    recorder = ProgressRecorder()
    # The publisher's own client follows redirects: open_media must not rely on it not doing so.
    with httpx.Client(follow_redirects=True, timeout=5) as http:
        yield AdapterContext(
            http=http,
            settings=config,
            progress=recorder,
            now=lambda: datetime.now(UTC),
            sleep=recorder.sleep,
            save_token=recorder.save_token,
        )


def fetch(config: PlatformSettings, url: str, received: list[int] | None = None) -> bytes:
    """The body at `url` through open_media; `received` collects the size of each chunk read."""
    chunks: list[bytes] = []
    with context(config) as ctx, open_media(ctx, url, platform="linkedin", what="image") as response:
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            if received is not None:
                received.append(len(chunk))
    return b"".join(chunks)


def test_allowed_host_is_fetched(site: tuple[Site, str]):
    """An allowed host's media is streamed as served."""
    _, url = site
    assert fetch(settings("127.0.0.1"), f"{url}/media/a.jpg?bytes=5000") == media_bytes("a.jpg", 5000)


def test_loopback_media_is_refused_without_a_request(site: tuple[Site, str]):
    """Without an allow-list entry a loopback URL is refused and never requested."""
    app, url = site
    with pytest.raises(PermanentError, match="points to a loopback address"):
        fetch(settings(), f"{url}/media/a.jpg")
    assert app.hits == []


def test_redirect_from_an_allowed_host_to_a_refused_one(site: tuple[Site, str], public_name: str):
    """A redirect is checked like the first URL: the internal target is never requested or quoted."""
    app, url = site
    port = httpx.URL(url).port
    app.other = url  # http://127.0.0.1:PORT, allowed only under the public-looking name
    with pytest.raises(PermanentError) as caught:
        fetch(settings(public_name), f"http://{public_name}:{port}/away")
    message = caught.value.message
    assert message == (
        f"The image away redirects to {LOOPBACK}, not a public internet address, "
        "so the publisher does not fetch it."
    )
    assert app.hits == ["/away"]
    assert "500" not in str(caught.value)
    assert "secret" not in str(caught.value)


def test_redirects_are_followed_up_to_five(site: tuple[Site, str]):
    """Five redirects are followed, each hop checked; the file at the end is returned."""
    app, url = site
    assert fetch(settings("127.0.0.1"), f"{url}/chain/{MAX_REDIRECTS - 1}") == media_bytes("end.jpg", 65536)
    assert len(app.hits) == MAX_REDIRECTS + 1


def test_more_than_five_redirects_are_refused(site: tuple[Site, str]):
    """A sixth redirect stops the download with the rule named."""
    _, url = site
    with pytest.raises(PermanentError, match="redirects more than 5 times"):
        fetch(settings("127.0.0.1"), f"{url}/chain/{MAX_REDIRECTS}")


def test_public_host_error_names_its_status(site: tuple[Site, str]):
    """A checked host's 404 is reported with its status."""
    _, url = site
    with pytest.raises(PermanentError) as caught:
        fetch(settings("127.0.0.1"), f"{url}/gone.jpg")
    assert caught.value.message == "The image gone.jpg could not be downloaded (HTTP 404)."


def test_server_error_is_retryable(site: tuple[Site, str]):
    """A 5xx from a checked host may pass: the post is tried again later."""
    _, url = site
    with pytest.raises(RetryableError, match=r"\(HTTP 500\)"):
        fetch(settings("127.0.0.1"), f"{url}/internal")


def test_declared_size_over_the_cap_is_refused_before_reading(site: tuple[Site, str]):
    """A Content-Length above the cap is refused at once, naming the cap."""
    _, url = site
    with pytest.raises(PermanentError) as caught:
        fetch(settings("127.0.0.1", max_bytes=2 * 1024**2), f"{url}/media/big.mp4?bytes={3 * 1024**2}")
    assert caught.value.message == "The image big.mp4 is larger than 2 MB, the most the publisher downloads."


def test_compressed_reply_is_refused(site: tuple[Site, str]):
    """A body compressed against our request could outgrow the cap once decoded: refused."""
    _, url = site
    with pytest.raises(PermanentError, match="sent compressed"):
        fetch(settings("127.0.0.1"), f"{url}/gzip.jpg")


@pytest.fixture
def endless() -> Iterator[str]:
    """A server answering 200 with no Content-Length and 1 MiB of body, then closing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                with contextlib.suppress(OSError):  # the client hangs up once it has had enough
                    conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"\xff" * 1024**2)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_body_growing_past_the_cap_stops(endless: str):
    """Without a declared length the body is counted as it streams and stops past the cap."""
    received: list[int] = []
    with pytest.raises(PermanentError, match="is larger than 256 KB"):
        fetch(settings("127.0.0.1", max_bytes=256 * 1024), f"{endless}/clip.mp4", received)
    assert 0 < sum(received) <= 256 * 1024


def test_max_bytes_lowers_the_cap(site: tuple[Site, str]):
    """An adapter's own smaller limit wins over MEDIA_MAX_BYTES."""
    _, url = site
    with (
        context(settings("127.0.0.1")) as ctx,
        pytest.raises(PermanentError, match="larger than 64 KB"),
        open_media(ctx, f"{url}/media/a.jpg?bytes=70000", platform="x", max_bytes=64 * 1024),
    ):
        pass


def test_client_connects_only_to_checked_hosts(site: tuple[Site, str]):
    """A request to a host that was never checked fails before anything is sent."""
    app, url = site
    with PublicClient(settings("127.0.0.1"), "x") as public, pytest.raises(httpx.ConnectError):
        public.client.get(f"{url}/media/a.jpg")
    assert app.hits == []


def test_connection_goes_to_the_checked_address(site: tuple[Site, str], monkeypatch: pytest.MonkeyPatch):
    """DNS is asked once; a later answer (rebinding) is never used for the connection."""
    app, url = site
    port = httpx.URL(url).port
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.9.9.9"])
    asked: list[str] = []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example.com":
            asked.append(host)
            return real(next(answers), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    config = settings("rebind.example.com")
    assert fetch(config, f"http://rebind.example.com:{port}/media/r.jpg?bytes=10") == media_bytes("r.jpg", 10)
    assert asked == ["rebind.example.com"]
    assert app.hits == ["/media/r.jpg"]


# ---- TLS through the pinned connection -------------------------------------------------------
def _certificate(name: str, directory: Any) -> tuple[str, str]:
    """A self-signed certificate for `name` and its key, as PEM files in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_site(tmp_path: Any, public_name: str) -> Iterator[tuple[str, str]]:
    """An HTTPS server on loopback presenting a certificate for the public-looking name."""
    cert, key = _certificate(public_name, tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), server_context.wrap_socket(raw, server_side=True) as conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")

    threading.Thread(target=answer, daemon=True).start()
    yield f"https://{public_name}:{listener.getsockname()[1]}/a.jpg", cert
    listener.close()


def test_tls_is_verified_through_the_pinned_address(tls_site: tuple[str, str], public_name: str):
    """Pinning the address keeps certificate checks: an untrusted certificate is refused."""
    url, _ = tls_site
    with pytest.raises(RetryableError, match="could not be downloaded"):
        fetch(settings(public_name), url)


def test_tls_checks_the_host_name_not_the_address(
    tls_site: tuple[str, str], public_name: str, monkeypatch: pytest.MonkeyPatch
):
    """Connected to the pinned loopback address, TLS still verifies the certificate for the URL's name."""
    url, cert = tls_site
    trusting = ssl.create_default_context(cafile=cert)
    monkeypatch.setattr(safe_media, "_ssl_context", lambda: trusting)
    assert fetch(settings(public_name), url) == b"hello"
    other = url.replace(public_name, "other-cdn.example.com")
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: real("127.0.0.1" if host.endswith("example.com") else host, *a, **k),
    )
    with pytest.raises(RetryableError, match="could not be downloaded"):
        fetch(settings("other-cdn.example.com"), other)
