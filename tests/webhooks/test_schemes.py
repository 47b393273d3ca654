"""Each scheme verifies exactly as its sender signs, with the sender's own library where
one exists (standardwebhooks, svix, stripe) and the sender's documented recipe otherwise;
missing, wrong and stale signatures are refused with their reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
import stripe
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks.webhooks import Webhook as StandardWebhook
from svix.webhooks import Webhook as SvixWebhook

from artery.errors import ConfigError
from artery.webhooks import Hmac, SignatureRefused
from artery.webhooks.schemes import GitHub, Shopify, Slack, StandardWebhooks, Stripe

BODY = b'{"id": "evt_1", "type": "order.created", "data": {"total": "403.00"}}'
WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_WHSEC = "whsec_" + base64.b64encode(b"o" * 32).decode()
NOW = time.time()


def refused(reason: str, call: object) -> None:
    assert callable(call)
    with pytest.raises(SignatureRefused) as caught:
        call()
    assert caught.value.reason == reason
    assert caught.value.http_status == 401


def standard_headers(signature: str, msg_id: str = "msg_1", at: float = NOW) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at)),
        "webhook-signature": signature,
    }


# -- Standard Webhooks and Svix --------------------------------------------------------------


def test_a_standard_webhooks_signature_from_its_library_is_accepted() -> None:
    signed = StandardWebhook(WHSEC).sign("msg_1", datetime.fromtimestamp(int(NOW), UTC), BODY)
    verified = StandardWebhooks().verify(standard_headers(signed), BODY, [WHSEC], NOW)
    assert verified.delivery_id == "msg_1"


def test_svix_signs_with_its_own_header_names() -> None:
    signed = SvixWebhook(WHSEC).sign("msg_2", datetime.fromtimestamp(int(NOW), UTC), BODY.decode())
    headers = {"svix-id": "msg_2", "svix-timestamp": str(int(NOW)), "svix-signature": signed}
    assert StandardWebhooks().verify(headers, BODY, [WHSEC], NOW).delivery_id == "msg_2"


def test_any_of_several_signatures_and_any_of_several_secrets_will_do() -> None:
    new = StandardWebhook(WHSEC).sign("msg_1", datetime.fromtimestamp(int(NOW), UTC), BODY)
    header = "v1,bm90IGl0 " + new  # a stale entry first, as during the sender's rotation
    scheme = StandardWebhooks()
    assert scheme.verify(standard_headers(header), BODY, [OLD_WHSEC, WHSEC], NOW)


def test_the_asymmetric_v1a_form_is_checked_against_the_public_key() -> None:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    whpk = "whpk_" + base64.b64encode(public).decode()
    content = f"msg_1.{int(NOW)}.".encode() + BODY
    signature = "v1a," + base64.b64encode(private.sign(content)).decode()
    assert StandardWebhooks().verify(standard_headers(signature), BODY, [whpk], NOW)
    forged = "v1a," + base64.b64encode(private.sign(b"other")).decode()
    refused(
        "bad-signature",
        lambda: StandardWebhooks().verify(standard_headers(forged), BODY, [whpk], NOW),
    )


def test_one_changed_byte_of_the_body_is_refused() -> None:
    signed = StandardWebhook(WHSEC).sign("msg_1", datetime.fromtimestamp(int(NOW), UTC), BODY)
    tampered = BODY.replace(b"403", b"404")
    refused(
        "bad-signature",
        lambda: StandardWebhooks().verify(standard_headers(signed), tampered, [WHSEC], NOW),
    )


def test_missing_headers_and_stale_timestamps_are_refused() -> None:
    at = NOW - 301
    signed = StandardWebhook(WHSEC).sign("msg_1", datetime.fromtimestamp(int(at), UTC), BODY)
    scheme = StandardWebhooks()
    refused("missing-signature", lambda: scheme.verify({}, BODY, [WHSEC], NOW))
    refused(
        "stale-timestamp",
        lambda: scheme.verify(standard_headers(signed, at=at), BODY, [WHSEC], NOW),
    )
    future = NOW + 301  # a clock far ahead is refused too
    signed = StandardWebhook(WHSEC).sign("m", datetime.fromtimestamp(int(future), UTC), BODY)
    refused(
        "stale-timestamp",
        lambda: scheme.verify(standard_headers(signed, "m", at=future), BODY, [WHSEC], NOW),
    )


def test_a_secret_that_is_not_base64_is_a_configuration_error() -> None:
    signed = StandardWebhook(WHSEC).sign("msg_1", datetime.fromtimestamp(int(NOW), UTC), BODY)
    with pytest.raises(ConfigError):
        StandardWebhooks().verify(standard_headers(signed), BODY, ["whsec_***"], NOW)


# -- Stripe -------------------------------------------------------------------------------


def test_stripes_own_signature_header_is_accepted() -> None:
    header = stripe.WebhookSignature.generate_signature_header(
        BODY.decode(), "whsec_stripe", timestamp=int(NOW)
    )
    verified = Stripe().verify({"stripe-signature": header}, BODY, ["whsec_stripe"], NOW)
    assert verified.timestamp is not None
    assert Stripe().delivery_id({}, {"id": "evt_1"}) == "evt_1"


def test_stripe_with_several_v1_entries_and_a_stale_one() -> None:
    good = stripe.WebhookSignature.generate_signature_header(
        BODY.decode(), "whsec_new", timestamp=int(NOW)
    )
    stamp, v1 = good.split(",")
    header = f"{stamp},v1={'0' * 64},{v1}"
    assert Stripe().verify({"stripe-signature": header}, BODY, ["whsec_new"], NOW)
    old = stripe.WebhookSignature.generate_signature_header(
        BODY.decode(), "whsec_new", timestamp=int(NOW) - 600
    )
    refused(
        "stale-timestamp",
        lambda: Stripe().verify({"stripe-signature": old}, BODY, ["whsec_new"], NOW),
    )
    refused(
        "bad-signature",
        lambda: Stripe().verify({"stripe-signature": good}, BODY, ["whsec_other"], NOW),
    )


# -- GitHub, Shopify, Slack (their documented recipes) -----------------------------------------


def test_github_sha256_signature() -> None:
    digest = hmac.new(b"gh-secret", BODY, hashlib.sha256).hexdigest()
    headers = {"x-hub-signature-256": "sha256=" + digest, "x-github-delivery": "d-1"}
    assert GitHub().verify(headers, BODY, ["gh-secret"], NOW).delivery_id == "d-1"
    refused("missing-signature", lambda: GitHub().verify({}, BODY, ["gh-secret"], NOW))
    refused("bad-signature", lambda: GitHub().verify(headers, BODY + b" ", ["gh-secret"], NOW))


def test_shopify_base64_signature() -> None:
    digest = base64.b64encode(hmac.new(b"shop", BODY, hashlib.sha256).digest()).decode()
    headers = {"x-shopify-hmac-sha256": digest, "x-shopify-webhook-id": "w-1"}
    assert Shopify().verify(headers, BODY, ["shop"], NOW).delivery_id == "w-1"
    refused(
        "bad-signature",
        lambda: Shopify().verify({"x-shopify-hmac-sha256": "not base64!"}, BODY, ["shop"], NOW),
    )


def test_slack_v0_signature_over_timestamp_and_body() -> None:
    stamp = str(int(NOW))
    digest = hmac.new(b"slack", f"v0:{stamp}:".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"x-slack-signature": "v0=" + digest, "x-slack-request-timestamp": stamp}
    assert Slack().verify(headers, BODY, ["slack"], NOW)
    refused("stale-timestamp", lambda: Slack().verify(headers, BODY, ["slack"], NOW + 600))


# -- the generic scheme ---------------------------------------------------------------------


def test_generic_hmac_in_a_header_with_a_prefix() -> None:
    scheme = Hmac(header="X-Acme-Signature", algorithm="sha512", prefix="sha512=")
    digest = hmac.new(b"acme", BODY, hashlib.sha512).hexdigest()
    assert scheme.verify({"x-acme-signature": "sha512=" + digest}, BODY, ["acme"], NOW)
    refused(
        "bad-signature", lambda: scheme.verify({"x-acme-signature": digest}, BODY, ["acme"], NOW)
    )


def test_generic_hmac_carried_in_the_body_over_chosen_fields() -> None:
    stamp, token = str(int(NOW)), "tok-123"
    signature = hmac.new(b"mg", f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    body = (
        f'{{"signature": {{"timestamp": "{stamp}", "token": "{token}",'
        f' "signature": "{signature}"}}, "event-data": {{"id": "e-9"}}}}'
    ).encode()
    scheme = Hmac(
        body_field="/signature/signature",
        timestamp_field="/signature/timestamp",
        signed="{/signature/timestamp}{/signature/token}",
        id_field="/event-data/id",
    )
    verified = scheme.verify({}, body, ["mg"], NOW)
    assert verified.delivery_id == "e-9"
    refused("stale-timestamp", lambda: scheme.verify({}, body, ["mg"], NOW + 3600))
    refused("missing-signature", lambda: scheme.verify({}, b"not json", ["mg"], NOW))


def test_generic_hmac_refuses_unusable_settings() -> None:
    with pytest.raises(ConfigError):
        Hmac(algorithm="md5")
    with pytest.raises(ConfigError):
        Hmac(encoding="rot13")
    with pytest.raises(ConfigError):
        Hmac(signed="{body}{cookie}")
    with pytest.raises(ConfigError):
        Hmac(header=None)
