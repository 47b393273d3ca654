"""How each sender signs, verified exactly as it signs: always over the raw bytes received,
with constant-time comparison, a timestamp tolerance against replays where the scheme
signs a timestamp, and every secret of a rotation valid at once.

A scheme turns (headers, raw body, secrets, now) into a ``Verified`` or raises
``SignatureRefused`` naming why (``missing-signature``, ``bad-signature``,
``stale-timestamp``), never what was expected: the refusal must not help a forger.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from artery.errors import ArteryError, ConfigError

TOLERANCE = 300.0  # seconds a signed timestamp may be off, either way (5 minutes)
Headers = Mapping[str, str]  # lower-case names


class SignatureRefused(ArteryError):
    """A webhook call whose signature is missing, wrong or too old: 401."""

    code = "artery.webhook-signature"
    http_status = 401

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, fix="sign the call with the source's current secret")
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """What a verified call proved: its delivery id (for dedupe) and signed time."""

    delivery_id: str | None = None
    timestamp: float | None = None


class Scheme(Protocol):
    @property
    def name(self) -> str:
        """How the admin API and errors name the scheme."""
        ...

    def verify(self, headers: Headers, body: bytes, secrets: Sequence[str], now: float) -> Verified:
        """The proof of the call, or ``SignatureRefused``."""
        ...

    def delivery_id(self, headers: Headers, payload: Any) -> str | None:
        """The sender's id of this delivery (a retry repeats it), when it sends one."""
        ...


def _missing(what: str) -> SignatureRefused:
    return SignatureRefused("missing-signature", f"the call carries no {what}")


def _bad() -> SignatureRefused:
    return SignatureRefused("bad-signature", "the call's signature does not match its body")


def _check_time(stamp: str, now: float, tolerance: float) -> float:
    try:
        when = float(int(stamp.strip()))
    except ValueError:
        raise SignatureRefused(
            "bad-timestamp", "the call's signed timestamp is not a number"
        ) from None
    if abs(now - when) > tolerance:
        raise SignatureRefused(
            "stale-timestamp",
            f"the call's signed timestamp is {abs(now - when):.0f} s from now, over the"
            f" {tolerance:g} s tolerance (a replay, or the sender's clock is off)",
        )
    return when


def _mac(key: bytes, content: bytes, algorithm: str = "sha256") -> bytes:
    mac = _keyed(key, algorithm).copy()
    mac.update(content)
    return mac.digest()


@functools.lru_cache(maxsize=256)
def _keyed(key: bytes, algorithm: str) -> hmac.HMAC:
    """An HMAC already keyed, copied per call: OpenSSL 3 looks the algorithm up and sets
    the key again on every ``hmac.new``/``hmac.digest``, which took longer than hashing a
    1 KiB body (3.9 µs against 2.9 µs copied, and far more under load)."""
    return hmac.new(key, digestmod=algorithm)


def _any_equal(candidates: Sequence[bytes], expected: Sequence[bytes]) -> bool:
    """Whether any candidate equals any expected value, comparing every pair in constant
    time (no early exit that would tell which secret or entry came close)."""
    matched = False
    for candidate in candidates:
        for value in expected:
            matched |= hmac.compare_digest(candidate, value)
    return matched


@dataclass(frozen=True)
class StandardWebhooks:
    """Standard Webhooks (and Svix, which it grew from): ``webhook-id``, ``webhook-timestamp``
    and ``webhook-signature`` (or ``svix-*``), signing ``id.timestamp.body``; ``v1,<base64>``
    HMAC-SHA256 entries keyed by a ``whsec_`` secret, and ``v1a,<base64>`` ed25519 entries
    checked against a ``whpk_`` public key."""

    tolerance: float = TOLERANCE
    name: str = "standard-webhooks"

    def verify(self, headers: Headers, body: bytes, secrets: Sequence[str], now: float) -> Verified:
        prefix = "webhook-" if "webhook-signature" in headers else "svix-"
        msg_id = headers.get(prefix + "id")
        stamp = headers.get(prefix + "timestamp")
        signature = headers.get(prefix + "signature")
        if not (msg_id and stamp and signature):
            raise _missing("webhook-id, webhook-timestamp and webhook-signature headers")
        when = _check_time(stamp, now, self.tolerance)
        content = f"{msg_id}.{stamp}.".encode() + body
        entries = [e.partition(",") for e in signature.split()]
        v1 = [_b64(value) for version, _, value in entries if version == "v1"]
        v1a = [_b64(value) for version, _, value in entries if version == "v1a"]
        macs = [_mac(key, content) for key in _hmac_keys(tuple(secrets))]
        if _any_equal([s for s in v1 if s is not None], macs):
            return Verified(msg_id, when)
        public = _public_keys(tuple(secrets))
        if any(_ed25519_ok(key, s, content) for key in public for s in v1a if s):
            return Verified(msg_id, when)
        raise _bad()

    def delivery_id(self, headers: Headers, payload: Any) -> str | None:
        return headers.get("webhook-id") or headers.get("svix-id")


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@functools.lru_cache(maxsize=256)  # decoded once per set of secrets, not once per call
def _hmac_keys(secrets: tuple[str, ...]) -> list[bytes]:
    keys = []
    for secret in secrets:
        if secret.startswith(("whpk_", "whsk_")):
            continue
        raw = _b64(secret.removeprefix("whsec_"))
        if raw is None:
            raise ConfigError(
                "a Standard Webhooks secret is not base64 (after its whsec_ prefix)",
                fix="use the secret exactly as the sender shows it (whsec_...)",
            )
        keys.append(raw)
    return keys


@functools.lru_cache(maxsize=256)
def _public_keys(secrets: tuple[str, ...]) -> list[Ed25519PublicKey]:
    keys = []
    for secret in secrets:
        if secret.startswith("whpk_"):
            raw = _b64(secret[5:])
            if raw is None or len(raw) != 32:
                raise ConfigError(
                    "a whpk_ key is not a base64 ed25519 public key",
                    fix="use the sender's public key exactly as it shows it (whpk_...)",
                )
            keys.append(Ed25519PublicKey.from_public_bytes(raw))
    return keys


def _ed25519_ok(key: Ed25519PublicKey, signature: bytes, content: bytes) -> bool:
    try:
        key.verify(signature, content)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Stripe:
    """``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`` over ``t.body``, HMAC-SHA256 keyed by
    the endpoint's ``whsec_`` secret as text."""

    tolerance: float = TOLERANCE
    name: str = "stripe"

    def verify(self, headers: Headers, body: bytes, secrets: Sequence[str], now: float) -> Verified:
        header = headers.get("stripe-signature")
        if not header:
            raise _missing("Stripe-Signature header")
        items = [item.strip().partition("=") for item in header.split(",")]
        stamps = [value for key, _, value in items if key == "t"]
        v1 = [value.encode() for key, _, value in items if key == "v1"]
        if not stamps or not v1:
            raise _missing("timestamp and v1 signature in Stripe-Signature")
        when = _check_time(stamps[0], now, self.tolerance)
        content = stamps[0].encode() + b"." + body
        expected = [_mac(s.encode(), content).hex().encode() for s in secrets]
        if not _any_equal(v1, expected):
            raise _bad()
        return Verified(None, when)

    def delivery_id(self, headers: Headers, payload: Any) -> str | None:
        found = payload.get("id") if isinstance(payload, dict) else None
        return found if isinstance(found, str) else None


@dataclass(frozen=True)
class GitHub:
    """``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the body. GitHub signs no
    time: a replay is caught only by its repeated ``X-GitHub-Delivery``."""

    name: str = "github"

    def verify(self, headers: Headers, body: bytes, secrets: Sequence[str], now: float) -> Verified:
        header = headers.get("x-hub-signature-256", "")
        if not header.startswith("sha256="):
            raise _missing("X-Hub-Signature-256 header")
        expected = [_mac(s.encode(), body).hex().encode() for s in secrets]
        if not _any_equal([header[7:].strip().lower().encode()], expected):
            raise _bad()
        return Verified(headers.get("x-github-delivery"))

    def delivery_id(self, headers: Headers, payload: Any) -> str | None:
        return headers.get("x-github-delivery")


@dataclass(frozen=True)
class Shopify:
    """``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the body (no signed time; replays
    are caught by ``X-Shopify-Webhook-Id``)."""

    name: str = "shopify"

    def verify(self, headers: Headers, body: bytes, secrets: Sequence[str], now: float) -> Verified:
        header = headers.get("x-shopify-hmac-sha256")
        if not header:
            raise _missing("X-Shopify-Hmac-Sha256 header")
        given = _b64(header.strip())
        if given is None or not _any_equal([given], [_mac(s.encode(), body) for s in secrets]):
            raise _bad()
        return Verified(headers.get("x-shopify-webhook-id"))

    def delivery_id(self, headers: Headers, payload: Any) -> str | None:
        return headers.get("x-shopify-webhook-id")


@dataclass(frozen=True)
class Slack:
    """``X-Slack-Signature: v0=<hex>`` over ``v0:timestamp:body`` with the signing secret,
    ``X-Slack-Request-Timestamp`` within the tolerance."""

    tolerance: float = TOLERANCE
    name: str = "slack"

    def verify(self, headers: Headers, body: bytes, secrets: Sequence[str], now: float) -> Verified:
        header = headers.get("x-slack-signature", "")
        stamp = headers.get("x-slack-request-timestamp")
        if not header.startswith("v0=") or not stamp:
            raise _missing("X-Slack-Signature and X-Slack-Request-Timestamp headers")
        when = _check_time(stamp, now, self.tolerance)
        content = f"v0:{stamp}:".encode() + body
        expected = [_mac(s.encode(), content).hex().encode() for s in secrets]
        if not _any_equal([header[3:].strip().lower().encode()], expected):
            raise _bad()
        return Verified(None, when)

    def delivery_id(self, headers: Headers, payload: Any) -> str | None:
        found = payload.get("event_id") if isinstance(payload, dict) else None
        return found if isinstance(found, str) else None
