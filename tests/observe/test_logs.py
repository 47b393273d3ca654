"""Structured logs: the JSON lines of a real app run carry the delivery's correlation id,
trace id, integration and event id; classified values and secrets never reach a line,
however they were logged; the console format is for people; no context outlives its
delivery or request."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog

from artery import App, Integration, RetryLater, WorkerOptions
from artery.delivery.consumer import DeliveryContext
from artery.delivery.middleware import Attempt
from artery.envelope import Event
from artery.errors import ConfigError, StoreUnavailable
from artery.govern import topic_paths
from artery.observe import logs
from artery.observe.log_context import LogContext, request_context
from artery.observe.log_redaction import REDACTED
from support import eventually

EMAIL = "alice@example.com"
CARD_TOKEN = "tok_4242abcd9999"
API_KEY = "ak-7d1f0c2e55"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
ORDER = {
    "type": "object",
    "properties": {
        "order": {"type": "string"},
        "customer": {
            "type": "object",
            "properties": {"email": {"type": "string", "x-artery-classification": "pii"}},
        },
        "card_token": {"type": "string", "x-artery-classification": "secret"},
    },
    "required": ["order"],
}
PAYLOAD = {"order": "o-1", "customer": {"email": EMAIL}, "card_token": CARD_TOKEN}
HANDLER_LOGGERS = ("artery.handler.erp-sync", "tests.observe.shop")
module_log = logging.getLogger("tests.observe.shop")


@dataclass
class Lines:
    """What the configured process wrote to its stderr."""

    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]

    def all_saying(self, words: str) -> list[dict[str, Any]]:
        return [line for line in self.json() if words in line["message"]]

    def saying(self, words: str) -> dict[str, Any]:
        found = self.all_saying(words)
        assert len(found) == 1, (words, self.text)
        return found[0]


@pytest.fixture
def restored() -> Iterator[None]:
    """The root logger and structlog as they were before the test configured them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.fixture
def json_lines(restored: None) -> Lines:
    lines = Lines(io.StringIO())
    assert logs.configure("json", stream=lines.stream) == "json"
    return lines


@pytest.fixture
def console_lines(restored: None) -> Lines:
    lines = Lines(io.StringIO())
    assert logs.configure("console", stream=lines.stream) == "console"
    return lines


# -- a real app run -----------------------------------------------------------------------


def shop_app(url: str, handled: list[int]) -> App:
    """A consumer whose handler logs the classified values every way it can, and fails
    its first attempt so a retry follows."""
    erp = Integration("erp-sync", owner="team-erp", partners=["erp"])
    orders = erp.contract("shop.order", schema=ORDER)

    @erp.consumer(orders, group="erp-writer")
    async def write_to_erp(event: Event, ctx: DeliveryContext) -> None:
        email, token = event.data["customer"]["email"], event.data["card_token"]
        ctx.log.info("posting the invoice of %s", email)  # a message argument
        ctx.log.info(f"charging card {token} of {email}", extra={"payer": email})  # f-string
        module_log.warning(
            "the ERP answered", extra={"customer": email, "api_key": API_KEY, "card": [token]}
        )
        try:
            raise ValueError(f"the ERP refused {email} paying with {token}")
        except ValueError:
            module_log.exception("invoice refused")  # an exception's message
        structlog.get_logger("tests.observe.shop").info("structlog too", contact=email)
        handled.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RetryLater(0.01, "the ERP is busy")

    def context() -> LogContext:
        # as LogContext.reading(runtime.log, consumers) does, but the runtime's log only
        # exists once the app runs: looked up at each attempt
        consumers = app.declared.consumers.values()
        integrations = {c.group: c.integration for c in consumers}
        return LogContext(integrations, lambda topic: topic_paths(app.log, topic))

    app = App("shop", store=url)
    app.include(erp)
    app.worker_options = WorkerOptions(middleware=[context()])
    return app


@pytest.fixture
async def run(sqlite_url: str, json_lines: Lines) -> tuple[Lines, Event]:
    handled: list[int] = []
    app = shop_app(sqlite_url, handled)
    async with app.running("worker"):
        event = await app.publish(
            "shop.order", PAYLOAD, correlation_id="corr-1", traceparent=TRACEPARENT
        )
        await eventually(lambda: handled == [1, 2], "the first attempt and its retry")
    logging.getLogger("tests.observe").info("after the run")
    return json_lines, event


def test_every_line_of_a_delivery_carries_its_correlation_trace_integration_and_event(
    run: tuple[Lines, Event],
) -> None:
    lines, event = run
    delivered = [line for line in lines.json() if line["logger"] in HANDLER_LOGGERS]
    assert len(delivered) == 10, lines.text  # five lines in each of two attempts
    for line in delivered:
        assert line["correlation_id"] == "corr-1", line
        assert line["trace_id"] == TRACE_ID, line
        assert line["integration"] == "erp-sync", line
        assert line["event_id"] == event.id, line
        assert line["group"] == "erp-writer", line
        assert line["level"] in ("info", "warning", "error"), line
        assert line["timestamp"].endswith("Z"), line
    assert sorted({line["attempt"] for line in delivered}) == [1, 2]


def test_classified_values_and_secrets_never_reach_a_line_however_they_were_logged(
    run: tuple[Lines, Event],
) -> None:
    lines, _ = run
    for value in (EMAIL, CARD_TOKEN, API_KEY):
        assert value not in lines.text
    said = lines.all_saying  # each twice: once an attempt
    assert [line["message"] for line in said("posting the invoice")] == [
        f"posting the invoice of {REDACTED}"  # a message argument
    ] * 2
    assert [(line["message"], line["payer"]) for line in said("charging card")] == [
        (f"charging card {REDACTED} of {REDACTED}", REDACTED)  # an f-string; ctx.log's extra
    ] * 2
    for answered in said("the ERP answered"):  # extra fields, by value and by name
        assert answered["customer"] == answered["api_key"] == REDACTED
        assert answered["card"] == [REDACTED]
    for refused in said("invoice refused"):  # an exception's message, in its traceback
        assert refused["exception"].endswith(
            f"ValueError: the ERP refused {REDACTED} paying with {REDACTED}"
        )
    assert [line["contact"] for line in said("structlog too")] == [REDACTED] * 2


def test_a_line_after_the_run_carries_no_context_of_its_deliveries(
    run: tuple[Lines, Event],
) -> None:
    lines, _ = run
    after = lines.saying("after the run")
    assert set(after) == {"timestamp", "level", "logger", "message"}


# -- one attempt after another --------------------------------------------------------------


def attempt_of(event: Event, number: int = 1) -> Attempt:
    return Attempt(event, "erp-writer", "write_to_erp", number, False, 0.0)


def order_event(email: str, **attrs: Any) -> Event:
    return Event("shop.order", "test", {"order": "o", "customer": {"email": email}}, **attrs)


async def email_paths(topic: str | None) -> Collection[str]:
    return ["/customer/email"]


async def logging_email(event: Event) -> None:
    module_log.info("handling %s", event.data["customer"]["email"])


async def test_a_binding_ends_with_its_attempt_even_in_the_same_task(json_lines: Lines) -> None:
    context = LogContext({"erp-writer": "erp-sync"}, email_paths)
    first = order_event(EMAIL, correlationid="corr-1", traceparent=TRACEPARENT)
    second = order_event("bob@example.com")
    with request_context("req-1", TRACEPARENT):
        await context.around_attempt(attempt_of(first), lambda: logging_email(first))
        module_log.info("between the attempts")
        await context.around_attempt(attempt_of(second), lambda: logging_email(second))
    module_log.info("after the request")
    handled = [line for line in json_lines.json() if line["message"].startswith("handling")]
    assert [line["message"] for line in handled] == [f"handling {REDACTED}"] * 2
    assert handled[0]["correlation_id"] == "corr-1" and handled[0]["event_id"] == first.id
    assert "correlation_id" not in handled[1] and "trace_id" not in handled[1]
    assert handled[1]["event_id"] == second.id
    assert not {"request_id"} & (set(handled[0]) | set(handled[1]))
    between = json_lines.saying("between the attempts")
    assert between["request_id"] == between["correlation_id"] == "req-1"
    assert between["trace_id"] == TRACE_ID and "event_id" not in between
    after = json_lines.saying("after the request")
    assert set(after) == {"timestamp", "level", "logger", "message"}


async def refusing(topic: str | None) -> Collection[str] | None:
    raise StoreUnavailable("the store is down", fix="start it")


async def unknown(topic: str | None) -> Collection[str] | None:
    return None


@pytest.mark.parametrize("paths", [refusing, unknown], ids=["store-down", "unknown-contract"])
async def test_when_the_classification_is_not_known_every_value_of_the_event_is_kept_out(
    json_lines: Lines,
    paths: Callable[[str | None], Awaitable[Collection[str] | None]],
) -> None:
    event = Event("shop.order", "test", {"order": "o-778", "note": "fragile parcel"})

    async def handler() -> None:
        module_log.info("order %s: %s", event.data["order"], event.data["note"])

    await LogContext({}, paths).around_attempt(attempt_of(event), handler)
    assert json_lines.json()[0]["message"] == f"order {REDACTED}: {REDACTED}"


async def test_nothing_is_scrubbed_when_the_contract_classifies_nothing(
    json_lines: Lines,
) -> None:
    async def nothing(topic: str | None) -> Collection[str]:
        return []

    event = order_event(EMAIL)
    await LogContext({}, nothing).around_attempt(attempt_of(event), lambda: logging_email(event))
    assert json_lines.json()[0]["message"] == f"handling {EMAIL}"


# -- secrets by name, anywhere ----------------------------------------------------------------


def test_fields_and_pairs_that_name_a_secret_lose_their_value(json_lines: Lines) -> None:
    module_log.info(
        "calling with Authorization: Bearer abc.def and ?token=t0k3n&page=2",
        extra={"headers": {"Cookie": "sid=s3ss10n", "Accept": "json"}, "client_secret": "cs"},
    )
    line = json_lines.json()[0]
    assert line["message"] == (
        f"calling with Authorization: {REDACTED} and ?token={REDACTED}&page=2"
    )
    assert line["headers"] == {"Cookie": REDACTED, "Accept": "json"}
    assert line["client_secret"] == REDACTED


# -- the console format and the choice of format -------------------------------------------


async def test_the_console_format_is_for_people_and_redacts_the_same(
    console_lines: Lines,
) -> None:
    event = order_event(EMAIL, correlationid="corr-1")

    async def failing() -> None:
        local_only = "LOCAL-VALUE-31337"  # a pretty traceback would print it
        try:
            raise ValueError(f"refused {event.data['customer']['email']} ({len(local_only)})")
        except ValueError:
            module_log.exception("refused")

    await LogContext({"erp-writer": "erp-sync"}, email_paths).around_attempt(
        attempt_of(event), failing
    )
    text = console_lines.text
    first = text.splitlines()[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)
    assert "refused" in first and "correlation_id=corr-1" in first
    assert "integration=erp-sync" in first and f"event_id={event.id}" in first
    assert f"ValueError: refused {REDACTED} (17)" in text
    assert EMAIL not in text and "LOCAL-VALUE-31337" not in text


def test_the_format_follows_the_variable_else_whether_stderr_is_a_terminal(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(logs.FORMAT_VARIABLE, raising=False)
    assert logs.configure(stream=io.StringIO()) == "json"  # not a terminal
    monkeypatch.setenv(logs.FORMAT_VARIABLE, "console")
    assert logs.configure(stream=io.StringIO()) == "console"
    assert logs.configure("json", stream=io.StringIO()) == "json"  # the argument wins
    assert len(logging.getLogger().handlers) == 1, "configuring again replaces, not adds"


def test_an_unknown_format_or_level_is_refused_naming_the_choices(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(logs.FORMAT_VARIABLE, "xml")
    with pytest.raises(ConfigError, match="ARTERY_LOG_FORMAT is 'xml'") as refused:
        logs.configure(stream=io.StringIO())
    assert refused.value.fix is not None and "json, console" in refused.value.fix
    monkeypatch.delenv(logs.FORMAT_VARIABLE)
    with pytest.raises(ConfigError, match="'LOUD' is not a level"):
        logs.configure(level="loud", stream=io.StringIO())


# -- the serving commands ------------------------------------------------------------------

APP = """
from artery import App
app = App("quiet")
"""


def artery(directory: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    (directory / "quiet.py").write_text(textwrap.dedent(APP))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ARTERY_")}
    environ.update(ARTERY_STORE=f"sqlite:///{directory}/artery.db", PYTHONUNBUFFERED="1")
    environ.update(env)
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("artery")), *args],
        cwd=directory,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_artery_run_writes_json_lines_to_a_stderr_that_is_not_a_terminal(
    tmp_path: Path,
) -> None:
    process = artery(tmp_path, "run", "quiet:app", "--port", "0")
    try:
        assert process.stdout is not None
        assert "admin API at" in process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    written = [json.loads(line) for line in stderr.splitlines()]
    assert any("no API key exists yet" in line["message"] for line in written), stderr
    for line in written:
        assert {"timestamp", "level", "logger", "message"} <= set(line), line


def test_artery_worker_refuses_an_unknown_log_format(tmp_path: Path) -> None:
    process = artery(tmp_path, "worker", "quiet:app", ARTERY_LOG_FORMAT="xml")
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2, stderr
    assert "ARTERY_LOG_FORMAT is 'xml'" in stderr and "json, console" in stderr
