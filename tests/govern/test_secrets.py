"""Secrets are named in code and read from the environment; several at once overlap a
rotation; a missing one names its variable, never a value."""

from __future__ import annotations

import pytest

from artery.errors import ConfigError
from artery.govern import secrets


def test_a_name_reads_its_artery_variable_and_env_names_any() -> None:
    env = {"ARTERY_SECRET_SHOP_HOOK": "s1", "VENDOR_KEY": "s2"}
    assert secrets.resolve("shop-hook", env) == ("s1",)
    assert secrets.resolve("env:VENDOR_KEY", env) == ("s2",)


def test_several_secrets_are_valid_at_once_during_a_rotation() -> None:
    env = {"ARTERY_SECRET_SHOP": "new old", "ARTERY_SECRET_SHOP_OLD": "older new"}
    assert secrets.resolve(["shop", "shop-old"], env) == ("new", "old", "older")


def test_a_missing_secret_names_the_variable() -> None:
    with pytest.raises(ConfigError) as missing:
        secrets.resolve("shop", {"ARTERY_SECRET_SHOP": "  "})
    assert "ARTERY_SECRET_SHOP" in missing.value.message


def test_a_value_written_where_a_name_belongs_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as refused:
        secrets.references("whsec_abc+/=")
    assert "whsec_abc" not in refused.value.message
    with pytest.raises(ConfigError):
        secrets.references("env:not a variable")
    for pasted in ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La", "sk_live_51H8x", "a" * 65):
        with pytest.raises(ConfigError) as refused:
            secrets.references(pasted)
        assert pasted not in refused.value.message
