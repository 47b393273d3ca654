"""Settings: constructor arguments, then ``ARTERY_*`` environment variables, then an
optional ``artery.toml`` in the working directory, then defaults."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from artery.durations import seconds
from artery.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    store: str = "sqlite:///artery.db"
    log: str = ""  # "": events in the store; nats://host:4222: events in JetStream
    sqlite_synchronous: str = "FULL"
    partitions: int = 8
    dedupe_window: float = 24 * 3600.0
    retention_interval: float = 60.0
    max_event_size: int = 1024 * 1024  # bytes of an event's stored CloudEvents JSON
    # -- the front door (HTTP) --
    development: bool = False  # validate route responses against their contracts too
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")  # Host header check
    cors_origins: tuple[str, ...] = ()  # exact origins allowed cross-site; none by default
    max_header_count: int = 100
    max_header_bytes: int = 16 * 1024
    idempotency_ttl: float = 24 * 3600.0  # how long an Idempotency-Key's answer is kept
    token_issuer: str = ""  # ``iss`` of issued access tokens; "" = the gateway's base URL
    token_audience: str = "artery"  # ``aud`` of issued tokens, required of every token
    token_ttl: float = 300.0  # lifetime of issued access tokens
    signing_key_rotation: float = 7 * 24 * 3600.0  # a signing key's active life
    external_issuer: str = ""  # an outside OAuth2 issuer whose access tokens are accepted
    external_jwks_url: str = ""  # its JWKS; required with external_issuer
    console_session_ttl: float = 8 * 3600.0  # seconds a console sign-in lasts
    # -- outbound HTTP (webhook deliveries): the address guard --
    outbound_allow_http: bool = False  # plain http:// destinations (development only)
    outbound_allowed_hosts: tuple[str, ...] = ()  # internal hosts/CIDRs allowed explicitly
    # -- observability --
    metrics: bool = True  # count outcomes for /metrics and the records SLOs are read from
    tracing: bool = True  # OpenTelemetry spans (exported when OTEL_EXPORTER_OTLP_ENDPOINT is set)

    def __post_init__(self) -> None:
        if not self.console_session_ttl > 0:
            raise ConfigError(
                f"console_session_ttl {self.console_session_ttl!r} is not a positive duration",
                fix="set ARTERY_CONSOLE_SESSION_TTL to e.g. 8h",
            )
        if self.max_event_size < 1:
            raise ConfigError(
                f"max_event_size {self.max_event_size} is not a positive number of bytes",
                fix="set ARTERY_MAX_EVENT_SIZE to e.g. 1048576 (1 MiB)",
            )

    @classmethod
    def load(cls, path: str | Path = "artery.toml", **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        values.update(_from_toml(Path(path)))
        values.update(_from_env())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return _coerce(cls(), values)


_NAMES = {f.name for f in fields(Settings)}


def _from_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}", fix="correct the TOML syntax") from None
    section = data.get("artery", data)
    unknown = set(section) - _NAMES
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {sorted(unknown)}", fix=f"known: {sorted(_NAMES)}"
        )
    return dict(section)


def _from_env() -> dict[str, Any]:
    return {
        name: os.environ[f"ARTERY_{name.upper()}"]
        for name in _NAMES
        if f"ARTERY_{name.upper()}" in os.environ
    }


def _coerce(base: Settings, values: dict[str, Any]) -> Settings:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in _NAMES:
            raise ConfigError(f"unknown setting {name!r}", fix=f"known: {sorted(_NAMES)}")
        default = getattr(base, name)
        try:
            if isinstance(default, bool):
                out[name] = _flag(name, value)
            elif isinstance(default, tuple):
                out[name] = _words(value)
            elif isinstance(default, float):
                out[name] = seconds(value)
            elif isinstance(default, int):
                out[name] = int(value)
            else:
                out[name] = str(value)
        except ValueError:
            raise ConfigError(
                f"setting {name} = {value!r} is not a {type(default).__name__}",
                fix=f"set ARTERY_{name.upper()} to a {type(default).__name__}",
            ) from None
    return replace(base, **out)


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"setting {name} = {value!r} is not true or false", fix="use true or false")


def _words(value: Any) -> tuple[str, ...]:
    """A list from TOML, or comma-separated text from the environment."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())
