"""Redaction: classified fields are hidden where a payload is shown, and their values are
scrubbed out of every text and result shown with it."""

from __future__ import annotations

from artery.errors import StoreUnavailable
from artery.govern import REDACTED, Redactor, for_storing
from artery.govern.redaction import classified_values, redact

CARD = "4111111111111111"
EMAIL = "alice@example.com"


def test_redact_replaces_sensitive_values_under_wildcards_and_keeps_the_input() -> None:
    data = {"customer": {"email": "a@b", "name": "Al"}, "lines": [{"card": "1"}, {"card": "2"}]}
    redacted, paths = redact(data, ["/customer/email", "/lines/*/card"])
    assert redacted == {
        "customer": {"email": REDACTED, "name": "Al"},
        "lines": [{"card": REDACTED}, {"card": REDACTED}],
    }
    assert paths == ["/customer/email", "/lines/0/card", "/lines/1/card"]
    assert data["customer"]["email"] == "a@b"  # type: ignore[index]


def test_redact_replaces_a_whole_classified_object() -> None:
    redacted, paths = redact({"billing": {"iban": "DE00", "bic": "X"}, "n": 1}, ["/billing"])
    assert redacted == {"billing": REDACTED, "n": 1} and paths == ["/billing"]


def test_redact_without_sensitive_paths_changes_nothing() -> None:
    assert redact({"a": [1, {"b": 2}]}, []) == ({"a": [1, {"b": 2}]}, [])


def test_redact_matches_escaped_pointers_of_property_names_with_a_slash() -> None:
    redacted, paths = redact({"a/b": "secret value", "a": {"b": "public"}}, ["/a~1b"])
    assert redacted == {"a/b": REDACTED, "a": {"b": "public"}} and paths == ["/a~1b"]


def test_classified_values_are_the_scalars_under_sensitive_paths() -> None:
    data = {"billing": {"iban": "DE0012345", "number": 12345678}, "n": 1, "flag": True}
    assert classified_values(data, ["/billing", "/flag"]) == {"DE0012345", "12345678"}


def test_error_messages_have_the_payloads_classified_values_scrubbed() -> None:
    payload = {"email": EMAIL, "card": CARD, "n": 7}
    redactor = Redactor.of(payload, ["/email", "/card"])
    error = {"type": "ValueError", "message": f"{EMAIL} cannot pay with {CARD}", "traceback": []}
    assert redactor.error(error) == {
        "type": "ValueError",
        "message": f"{REDACTED} cannot pay with {REDACTED}",
        "traceback": [],
    }


def test_results_have_classified_values_scrubbed_wherever_they_sit() -> None:
    redactor = Redactor.of({"email": EMAIL, "card": CARD}, ["/email", "/card"])
    result = {"contact": EMAIL, "notes": [f"card {CARD} ok"], "card_last": int(CARD), "n": 3}
    assert redactor.value(result) == {
        "contact": REDACTED,
        "notes": [f"card {REDACTED} ok"],
        "card_last": REDACTED,
        "n": 3,
    }


def test_an_unknown_contract_hides_payload_and_results_whole() -> None:
    redactor = Redactor.of({"email": EMAIL}, None)
    assert redactor.payload({"email": EMAIL}) == (REDACTED, [""])
    assert redactor.value({"contact": EMAIL}) == REDACTED
    assert redactor.value(None) is None


def test_a_longer_classified_value_is_scrubbed_before_its_prefix() -> None:
    redactor = Redactor.of({"a": "4111", "b": CARD}, ["/a", "/b"])
    assert redactor.text(f"card {CARD}") == f"card {REDACTED}"


def test_nested_error_messages_are_scrubbed_too() -> None:
    redactor = Redactor.of({"email": EMAIL}, ["/email"])
    error = {"message": "x", "compensating": {"message": f"undo for {EMAIL} failed"}}
    assert redactor.error(error) == {
        "message": "x",
        "compensating": {"message": f"undo for {REDACTED} failed"},
    }


def test_a_message_cut_inside_a_classified_value_loses_that_tail() -> None:
    redactor = Redactor.of({"email": EMAIL}, ["/email"])
    assert redactor.text("mail to alice@exa") == f"mail to {REDACTED}"
    assert redactor.text("mail to al") == "mail to al"  # under 3 characters says nothing
    assert redactor.text("mail to bob") == "mail to bob"


async def test_when_the_classification_cannot_be_learned_stored_text_is_hidden() -> None:
    async def lookup() -> Redactor:
        raise StoreUnavailable("store down", fix="start it")

    redactor = await for_storing(lookup())
    assert redactor.text(f"declined {CARD}") == REDACTED
    assert redactor.error({"message": "anything", "type": "X"}) == {
        "message": REDACTED,
        "type": "X",
    }
