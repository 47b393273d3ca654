"""Signing deliveries per Standard Webhooks, so any Standard Webhooks or Svix verifier
accepts them: ``webhook-id`` (the event's id: a retry repeats it, so receivers dedupe),
``webhook-timestamp`` (this attempt's time) and ``webhook-signature``, one ``v1,<base64>``
entry per ``whsec_`` secret (HMAC-SHA256 of ``id.timestamp.body``) and one ``v1a,<base64>``
entry per ``whsk_`` ed25519 signing key. During a rotation a destination holds both the
new and the old secret, and every delivery carries both signatures, so the receiver may
switch at its own pace.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from artery.errors import ConfigError


def _decoded(secret: str, prefix: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(prefix), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"a destination's signing secret is not base64 after its {prefix} prefix",
            fix="use the secret as a Standard Webhooks or Svix dashboard shows it (whsec_...)",
        ) from None


def signature(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` header: every secret's entry, space-separated."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    entries = []
    for secret in secrets:
        if secret.startswith("whsk_"):
            seed = _decoded(secret, "whsk_")
            key = Ed25519PrivateKey.from_private_bytes(seed[:32])
            entries.append("v1a," + base64.b64encode(key.sign(content)).decode())
        else:
            key_bytes = _decoded(secret, "whsec_")
            mac = hmac.new(key_bytes, content, hashlib.sha256).digest()
            entries.append("v1," + base64.b64encode(mac).decode())
    return " ".join(entries)


def headers(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(msg_id, timestamp, body, secrets),
    }


__all__ = ["headers", "signature"]
