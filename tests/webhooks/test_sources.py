"""Declaring a webhook source: bad declarations fail when made, naming the fix."""

from __future__ import annotations

import pytest

from artery import Integration
from artery.errors import ConfigError
from artery.webhooks import Hmac

SCHEMA = {"type": "object"}


def integration() -> Integration:
    return Integration("hooks", owner="team-hooks")


def test_a_source_gets_a_path_under_hooks_by_default() -> None:
    shop = integration()
    orders = shop.contract("shop.order", schema=SCHEMA)
    found = shop.webhook_source("shop", scheme="shopify", secret="s", emits=orders)
    assert found.path == "/hooks/shop"
    assert (
        shop.webhook_source(
            "gh", path="github/push", scheme="github", secret="g", emits=orders
        ).path
        == "/hooks/github/push"
    )
    custom = shop.webhook_source("acme", scheme=Hmac(header="X-Sig"), secret="a", emits=orders)
    assert custom.scheme.name == "hmac"


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        ({"scheme": "paypal"}, "Hmac"),
        ({"path": "/api/shop"}, "/hooks/"),
        ({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+/="}, "name it"),
        ({"secret": []}, "name at least one"),
        ({"expect_every": "0s"}, "15m"),
        ({"mapping": "{a: [}"}, "artery sources test"),
    ],
)
def test_a_bad_declaration_fails_at_once(options: dict[str, object], fix: str) -> None:
    shop = integration()
    orders = shop.contract("shop.order", schema=SCHEMA)
    arguments: dict[str, object] = {"scheme": "shopify", "secret": "s", "emits": orders}
    with pytest.raises(ConfigError) as refused:
        shop.webhook_source("shop", **{**arguments, **options})  # type: ignore[arg-type]
    assert fix in (refused.value.fix or "") + refused.value.message
    assert "MfKQ9r8" not in refused.value.message  # a secret in code is never echoed


def test_two_sources_on_one_path_are_refused() -> None:
    from artery import App

    app = App("hooks")
    one, two = Integration("one", owner="a"), Integration("two", owner="b")
    c1 = one.contract("one.event", schema=SCHEMA)
    c2 = two.contract("two.event", schema=SCHEMA)
    one.webhook_source("a", path="/hooks/shared", scheme="github", secret="x", emits=c1)
    two.webhook_source("b", path="/hooks/shared", scheme="github", secret="y", emits=c2)
    with pytest.raises(ConfigError, match="both listen on /hooks/shared"):
        app.include(one, two)
