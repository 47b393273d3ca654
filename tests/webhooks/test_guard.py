"""The address guard: no spelling of an inside address is called, the address checked is
the address connected to, and only listed internal hosts get through."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from artery.config import Settings
from artery.gateway.server import HttpServer, Listen
from artery.runtime import open_runtime
from artery.webhooks.guard import (
    AddressGuard,
    AddressPolicy,
    AddressRefused,
    guarded_client,
    system_resolve,
)

INSIDE = [
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://2130706433/hook",  # decimal
    "https://0177.0.0.1/hook",  # octal
    "https://0x7f.0.0.1/hook",  # hex
    "https://0x7f000001/hook",
    "https://127.1/hook",  # short form
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
    "https://[::ffff:7f00:1]/hook",
    "https://[2002:7f00:1::1]/hook",  # 6to4 around 127.0.0.1
    "https://[64:ff9b::a00:1]/hook",  # NAT64 around 10.0.0.1
    "https://10.0.0.1/hook",
    "https://172.16.5.4/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",  # carrier-grade NAT
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://[fe80::1]/hook",  # link-local
    "https://[fc00::1]/hook",  # unique-local
    "https://224.0.0.1/hook",  # multicast
    "https://[ff02::1]/hook",
    "https://0.0.0.0/hook",  # unspecified
    "https://[::]/hook",
]


class Seen:
    """A local server that must never be reached by a refused call."""

    def __init__(self) -> None:
        self.calls = 0

    async def answer(self, request: Request) -> Response:
        self.calls += 1
        return PlainTextResponse("reached")


@contextlib.asynccontextmanager
async def local_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, Seen]]:
    seen = Settings(store=f"sqlite:///{tmp_path_factory.mktemp('g')}/a.db")
    counter = Seen()
    async with open_runtime(seen) as runtime:
        server = HttpServer(Listen("127.0.0.1", 0), [Route("/{p:path}", counter.answer)])
        await server.start(runtime)
        try:
            yield server.url, counter
        finally:
            await server.stop()


@pytest.mark.parametrize("url", INSIDE)
async def test_no_spelling_of_an_inside_address_is_called(url: str) -> None:
    guard = AddressGuard(AddressPolicy())
    with pytest.raises(AddressRefused) as refused:
        await guard.check(url)
    assert refused.value.http_status == 422
    assert not refused.value.retryable


async def test_a_refused_call_never_reaches_the_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    async with local_server(tmp_path_factory) as (url, seen):
        async with guarded_client(Settings(outbound_allow_http=True)) as client:
            for target in (url, url.replace("127.0.0.1", "2130706433")):
                with pytest.raises(AddressRefused):
                    await client.get(target + "/hook")
        assert seen.calls == 0
        async with httpx.AsyncClient() as plain:  # the server is there: the guard refused
            assert (await plain.get(url + "/hook")).text == "reached"


async def test_plain_http_needs_the_development_setting() -> None:
    with pytest.raises(AddressRefused, match="http://"):
        await AddressGuard(AddressPolicy()).check("http://93.184.216.34/hook")
    with pytest.raises(AddressRefused):
        await AddressGuard(AddressPolicy()).check("ftp://93.184.216.34/hook")


def resolver(answers: dict[str, list[list[str]]]):
    """DNS that answers each name from a script (one answer per lookup); addresses and
    names not in it resolve as the system would."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            return await system_resolve(host, port)
        return answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]

    return resolve


class Capture(httpx.AsyncBaseTransport):
    """Stands in for the socket: records where the guard connected."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(302, headers={"Location": "https://127.0.0.1/admin"})


async def test_the_checked_address_is_the_one_connected_to_with_the_name_kept() -> None:
    capture = Capture()
    dns = resolver({"hooks.example.com": [["93.184.216.34"]]})
    guard = AddressGuard(AddressPolicy(), capture, resolve=dns)
    async with httpx.AsyncClient(transport=guard) as client:
        answer = await client.post("https://hooks.example.com:8443/in?x=1", content=b"{}")
    (sent,) = capture.requests
    assert str(sent.url) == "https://93.184.216.34:8443/in?x=1"
    assert sent.headers["host"] == "hooks.example.com:8443"
    assert sent.extensions["sni_hostname"] == "hooks.example.com"
    assert answer.status_code == 302  # not followed


async def test_dns_that_rebinds_between_calls_is_caught_on_the_second() -> None:
    capture = Capture()
    dns = resolver({"rebind.example": [["93.184.216.34"], ["127.0.0.1"]]})
    guard = AddressGuard(AddressPolicy(), capture, resolve=dns, dns_ttl=0)  # looked up each time
    async with httpx.AsyncClient(transport=guard) as c:
        await c.get("https://rebind.example/")
        with pytest.raises(AddressRefused, match="loopback"):
            await c.get("https://rebind.example/")
    assert len(capture.requests) == 1


async def test_a_name_resolving_to_public_and_private_addresses_is_refused() -> None:
    dns = resolver({"mixed.example": [["93.184.216.34", "10.1.2.3"]]})
    with pytest.raises(AddressRefused, match="private"):
        await AddressGuard(AddressPolicy(), Capture(), resolve=dns).check("https://mixed.example/")


async def test_a_redirect_to_an_inside_address_is_refused_when_followed() -> None:
    capture = Capture()
    dns = resolver({"hooks.example.com": [["93.184.216.34"]]})
    guard = AddressGuard(AddressPolicy(), capture, resolve=dns)
    async with httpx.AsyncClient(transport=guard, follow_redirects=True) as client:
        with pytest.raises(AddressRefused, match="loopback"):
            await client.get("https://hooks.example.com/")
    assert len(capture.requests) == 1


async def test_listed_internal_hosts_and_networks_get_through() -> None:
    dns = resolver({"erp.internal": [["10.20.30.40"]], "hooks.corp": [["192.168.7.7"]]})
    policy = AddressPolicy(allowed=("erp.internal", "192.168.7.0/24"))
    guard = AddressGuard(policy, Capture(), resolve=dns)
    assert str((await guard.check("https://erp.internal/x")).host) == "erp.internal"
    await guard.check("https://hooks.corp/x")
    with pytest.raises(AddressRefused):
        await guard.check("https://10.20.30.41/x")


async def test_a_host_declared_in_code_gets_through_over_http_and_no_other() -> None:
    """The strangler's legacy upstream (or an issuer's JWKS host) is named by the app, not
    by a caller: it may be inside and plain http; any other inside host stays refused."""
    dns = resolver({"legacy.internal": [["10.1.2.3"]], "other.internal": [["10.1.2.4"]]})
    policy = AddressPolicy.of(Settings(), declared=["Legacy.Internal."])
    guard = AddressGuard(policy, Capture(), resolve=dns)
    await guard.check("http://legacy.internal:8080/orders")
    with pytest.raises(AddressRefused, match="private"):
        await guard.check("https://other.internal/")
    with pytest.raises(AddressRefused, match="http://"):
        await guard.check("http://93.184.216.34/")


async def test_a_name_that_does_not_resolve_is_refused_as_retryable() -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(AddressRefused) as refused:
        await AddressGuard(AddressPolicy(), Capture(), resolve=nowhere).check(
            "https://gone.example/"
        )
    assert refused.value.retryable


async def test_a_resolved_name_is_reused_briefly_and_still_connects_where_checked() -> None:
    capture = Capture()
    dns = resolver({"cached.example": [["93.184.216.34"], ["127.0.0.1"]]})
    async with httpx.AsyncClient(
        transport=AddressGuard(AddressPolicy(), capture, resolve=dns)
    ) as c:
        await c.get("https://cached.example/")
        await c.get("https://cached.example/")  # within the TTL: the checked answer again
    assert [r.url.host for r in capture.requests] == ["93.184.216.34"] * 2
