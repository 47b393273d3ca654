"""The address guard (SSRF): an httpx transport that lets outbound calls reach the public
internet only.

Before each connection the host is resolved, and the call is refused if *any* address it
resolves to is loopback, private (10/8, 172.16/12, 192.168/16, 100.64/10), link-local
(169.254/16, where cloud metadata answers; fe80::/10), unique-local (fc00::/7), multicast,
unspecified or otherwise not globally routable, for IPv4 and IPv6 alike, including IPv4
inside IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64). The resolver reads odd spellings the way
the connection would (``2130706433``, ``0177.0.0.1``, ``0x7f.1`` are all 127.0.0.1), and
the checked address is the one connected to: the URL's host is replaced by it, with the
name kept in ``Host`` and TLS SNI, so DNS cannot answer differently between check and
connect (rebinding). Plain ``http`` is refused unless ``outbound_allow_http``; hosts (or
CIDRs) in ``outbound_allowed_hosts`` are let through explicitly. The guard follows no
redirects itself, and checks each request the client makes, so a redirect to an inside
address is refused too.

Every outbound client goes through it: webhook deliveries (``outbound``), the strangler's
forwarding to legacy upstreams and the fetch of an external issuer's JWKS. Hosts declared
in code or configuration (an upstream, the JWKS URL) are ``declared``: let through over
http or https whatever they resolve to, since no caller chose them; the other checks
(no redirects, connect to the checked address) still hold.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx

from artery.config import Settings
from artery.errors import ArteryError
from artery.observe.http_client import TracedTransport
from artery.observe.tracing import Tracing

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
DNS_TTL = 5.0  # seconds a name's resolved addresses are reused (each is checked again)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class AddressRefused(ArteryError):
    """An outbound URL the guard will not call: an inside address, a scheme not allowed,
    or a host that does not resolve at registration."""

    code = "artery.address-refused"
    http_status = 422

    def __init__(self, message: str, fix: str, *, retryable: bool = False) -> None:
        super().__init__(message, fix=fix)
        self.retryable = retryable  # a DNS failure may pass later; an inside address not


@dataclass(frozen=True)
class AddressPolicy:
    allow_http: bool = False
    allowed: tuple[str, ...] = ()  # host names, addresses or CIDRs let through
    declared: frozenset[str] = frozenset()  # hosts named by code or configuration

    @classmethod
    def of(cls, settings: Settings, *, declared: Iterable[str] = ()) -> AddressPolicy:
        return cls(
            settings.outbound_allow_http,
            settings.outbound_allowed_hosts,
            frozenset(h.lower().rstrip(".") for h in declared),
        )

    def check_scheme(self, url: httpx.URL) -> None:
        if url.scheme == "https" or (url.scheme == "http" and self.allow_http):
            return
        if url.scheme == "http" and url.host.lower().rstrip(".") in self.declared:
            return
        raise AddressRefused(
            f"{url.scheme}:// URLs are not called",
            fix="use https (plain http only with ARTERY_OUTBOUND_ALLOW_HTTP=true, for development)",
        )

    def host_allowed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.declared or name in (a.lower() for a in self.allowed)

    def address_allowed(self, address: IP) -> bool:
        for entry in self.allowed:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue  # a host name
        return False


def inside(address: IP) -> str | None:
    """Why ``address`` is not a public internet address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (address.sixtofour if address.sixtofour else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            found = inside(embedded)
            return f"{found} (inside an IPv6 address)" if found else None
    if address in _METADATA:
        return "a cloud metadata address"
    for reason, test in (
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("an unspecified address", address.is_unspecified),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
    ):
        if test:
            return reason
    if not address.is_global:
        return "an address not routable on the internet"
    return None


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, as the connection's resolver reads it."""
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class AddressGuard(httpx.AsyncBaseTransport):
    """Wraps a transport (default: httpx's own) with the checks of the module docstring."""

    def __init__(
        self,
        policy: AddressPolicy,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        resolve: Resolver = system_resolve,
        dns_ttl: float = DNS_TTL,
    ) -> None:
        self.policy = policy
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.resolve = resolve
        self.dns_ttl = dns_ttl
        self._cache: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def check(self, text: str) -> httpx.URL:
        """``text`` as a URL this guard would call (at registration); raises
        ``AddressRefused`` naming why not."""
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, TypeError):
            raise AddressRefused(
                "the destination URL is not a valid URL", fix="give a full https:// URL"
            ) from None
        await self.checked(url)
        return url

    async def checked(self, url: httpx.URL) -> str:
        """The address to connect to for ``url``; raises ``AddressRefused``."""
        self.policy.check_scheme(url)
        host = url.host
        if not host:
            raise AddressRefused("the URL has no host", fix="give a full https:// URL")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = [
                ipaddress.ip_address(a.split("%")[0]) for a in await self._addresses(host, port)
            ]
        except (OSError, UnicodeError) as exc:
            raise AddressRefused(
                f"host {host!r} does not resolve ({type(exc).__name__})",
                fix="check the destination's host name",
                retryable=True,
            ) from None
        if not addresses:
            raise AddressRefused(
                f"host {host!r} resolves to no address", fix="check the host", retryable=True
            )
        if not self.policy.host_allowed(host):
            for address in addresses:
                reason = inside(address)
                if reason is not None and not self.policy.address_allowed(address):
                    raise AddressRefused(
                        f"host {host!r} resolves to {reason}, which outbound calls may not reach",
                        fix="use a public host; an internal one must be listed in"
                        " ARTERY_OUTBOUND_ALLOWED_HOSTS",
                    )
        return str(addresses[0])

    async def _addresses(self, host: str, port: int) -> list[str]:
        """An address literal as it is; a name resolved, its answer reused for
        ``dns_ttl`` seconds (the connection still goes to the address checked)."""
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            pass
        cached = self._cache.get((host, port))
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.dns_ttl:
            return cached[1]
        found = await self.resolve(host, port)
        self._cache[(host, port)] = (now, found)
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        address = await self.checked(request.url)
        name = request.url.host
        request.url = request.url.copy_with(host=address)
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": name}
        if "host" not in request.headers:
            request.headers["Host"] = name
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def guarded_client(
    policy: Settings | AddressPolicy,
    *,
    timeout: float | httpx.Timeout = 15.0,
    inner: httpx.AsyncBaseTransport | None = None,
    tracing: Tracing | None = None,
) -> httpx.AsyncClient:
    """The httpx client every outbound call uses: guarded, no redirects followed, and
    carrying the trace (``observe/http_client.py``) unless ``tracing`` is None."""
    if not isinstance(policy, AddressPolicy):
        policy = AddressPolicy.of(policy)
    transport: httpx.AsyncBaseTransport = AddressGuard(policy, inner)
    if tracing is not None:
        transport = TracedTransport(transport, tracing)
    return httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        timeout=timeout,
        trust_env=False,  # a proxy from the environment would connect instead of the guard
    )


__all__ = ["AddressGuard", "AddressPolicy", "AddressRefused", "guarded_client", "inside"]
