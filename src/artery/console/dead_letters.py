"""Console pages for dead letters: the list an operator filters, one letter with every
attempt's error, and the two things a person does to them (redrive, purge).

Everything shown goes through the same code as the admin API and the CLI: rows are
``DeadLetter.summary()`` (no payload), a letter's page is ``dead_letter_detail`` (its
event and errors redacted by the topic's contract). A redrive is noted as an intervention
and in the audit trail in the redrive's own transaction, so the record cannot be missing
for a redrive that happened; a purge writes its audit entry with the delete, and only
after the operator confirmed it on a page that shows what is about to go.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from artery.admin.delivery import dead_letter_detail, dead_letter_id
from artery.console.web import Console, Page, back, int_param, viewer
from artery.delivery.dead_letters import DeadLetter, DeadLetters, Filter, Purged
from artery.errors import ConfigError
from artery.gateway.policy import CONSOLE_DESTROY, CONSOLE_WRITE
from artery.govern import audit
from artery.numbers import whole
from artery.observe import interventions
from artery.observe.log_context import trace_id_of
from artery.store import LARGEST_INTEGER, Tx

PAGE = 100  # rows per page: a page stays fast however many letters the store holds
MAX_SELECTED = 1000  # ids one form may carry (bounds the statement's IN list)
_FILTERS = ("integration", "group", "event_type", "error_type", "since", "until")


def pages(console: Console) -> list[Page]:
    view = DeadLetterPages(console)
    return [
        Page("/dead-letters", view.index),
        Page("/dead-letters/redrive", view.redrive, ("POST",), CONSOLE_WRITE),
        Page("/dead-letters/purge", view.purge, ("POST",), CONSOLE_DESTROY),
        Page("/dead-letters/{id}", view.show),
    ]


class DeadLetterPages:
    """The endpoints, sharing the console and one ``DeadLetters`` over its store."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.letters = DeadLetters(console.runtime.store)

    async def index(self, request: Request) -> Response:
        """Newest first, ``PAGE`` at a time; "older" pages on from the last id shown."""
        query = request.query_params
        where = filter_of(query)
        limit = int_param(request, "limit", PAGE)
        before = int_param(request, "before", 0, 1, LARGEST_INTEGER) if "before" in query else None
        found = await self.letters.list(where, limit, newest_first=True, before_id=before)
        declared = self.console.declared
        context = {
            "letters": [letter.summary() for letter in found],
            "older": found[-1].id if len(found) == limit else None,
            "paged": before is not None,
            "chosen": {name: query.get(name, "") for name in _FILTERS},
            "redriven": where.include_redriven,
            "integrations": sorted(declared.integrations),
            "groups": sorted({group for group, _ in declared.consumers}),
        }
        return self.console.templates.render(request, "dead_letters.html", context)

    async def show(self, request: Request) -> Response:
        letter = await self.letters.get(dead_letter_id(request.path_params["id"]))
        detail = await dead_letter_detail(self.console.runtime.log, letter)
        context = {"letter": detail, "trace_id": trace_id_of(letter.event.traceparent)}
        return self.console.templates.render(request, "dead_letter.html", context)

    async def redrive(self, request: Request) -> Response:
        ids = await selected(request)
        noted = interventions.redriven(viewer(request).subject)

        def record(tx: Tx, letters: Sequence[DeadLetter]) -> None:
            noted(tx, letters)
            self._audit(tx, request, "redrive", [(x.id, x.integration) for x in letters])

        count = await self.letters.redrive(Filter(ids=ids), record=record)
        message = f"Redrove {_letters(count)}."
        if count < len(ids):
            message += f" {_letters(len(ids) - count)} had been redriven or purged already."
        return back("/dead-letters", done=message)

    async def purge(self, request: Request) -> Response:
        """Without the confirmation ticked, a page showing what would be deleted (nothing
        is); with it, the delete and its audit entry, in one transaction."""
        ids = await selected(request)
        form = await request.form()
        if form.get("confirm") != "yes":
            return await self._confirm_purge(request, ids, asked="asked" in form)

        def record(tx: Tx, purged: Sequence[Purged]) -> None:
            self._audit(tx, request, "purge", purged)

        where = Filter(ids=ids, include_redriven=True)
        count = await self.letters.purge(where, confirm=True, record=record)
        return back("/dead-letters", done=f"Purged {_letters(count)} for good.")

    async def _confirm_purge(self, request: Request, ids: tuple[int, ...], asked: bool) -> Response:
        found = await self.letters.list(Filter(ids=ids, include_redriven=True), len(ids))
        context = {"letters": [letter.summary() for letter in found], "asked": asked}
        status = 400 if asked else 200  # asked: the confirmation came back unticked
        return self.console.templates.render(request, "dead_letter_purge.html", context, status)

    def _audit(
        self, tx: Tx, request: Request, action: str, letters: Sequence[tuple[int, str | None]]
    ) -> None:
        """One entry per integration touched, so each team's trail holds its own letters."""
        for integration, ids in by_integration(letters).items():
            shown = ", ".join(map(str, ids[:20])) + (", ..." if len(ids) > 20 else "")
            target = f"dead letter{'s' if len(ids) > 1 else ''} {shown}"
            entry = self.console.entry(
                request, action, target=target, integration=integration, detail=_letters(len(ids))
            )
            audit.write(tx, entry)


def filter_of(query: Mapping[str, str]) -> Filter:
    """The list's filters from the query string; an empty field filters nothing."""
    since, until = moment(query, "since"), moment(query, "until")
    if since is not None and until is not None and since >= until:
        raise ConfigError(
            f"since={query['since']!r} is not before until={query['until']!r}",
            fix="give a since earlier than until, or leave one of them empty",
        )
    return Filter(
        integration=_text(query, "integration"),
        group=_text(query, "group"),
        event_type=_text(query, "event_type"),
        error_type=_text(query, "error_type"),
        since=since,
        until=until,
        include_redriven=bool(query.get("redriven")),
    )


def _text(query: Mapping[str, str], name: str) -> str | None:
    return (query.get(name) or "").strip() or None


def moment(query: Mapping[str, str], name: str) -> float | None:
    """A time filter in seconds since the epoch: ISO 8601, UTC unless it names a zone."""
    text = (query.get(name) or "").strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{name}={text!r} is not a time",
            fix=f"give a UTC time such as {name}=2025-01-31T14:00, or a date (2025-01-31)",
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


async def selected(request: Request) -> tuple[int, ...]:
    """The dead letter ids a form's checkboxes (or its one hidden ``id``) carry."""
    given = (await request.form()).getlist("id")
    if not given:
        raise ConfigError(
            "no dead letter is selected",
            fix="tick the box of each dead letter to act on, then press the button again",
        )
    if len(given) > MAX_SELECTED:
        raise ConfigError(
            f"{len(given)} dead letters are selected; one action takes at most {MAX_SELECTED}",
            fix="select fewer, or filter the list and act on it page by page",
        )
    ids: list[int] = []
    for value in given:
        found = whole(value) if isinstance(value, str) else None
        if found is None:
            raise ConfigError(
                f"dead letter id {str(value)[:40]!r} is not a whole number",
                fix="select dead letters from the list",
            )
        ids.append(found)
    return tuple(dict.fromkeys(ids))


def by_integration(letters: Sequence[tuple[int, str | None]]) -> dict[str | None, list[int]]:
    found: dict[str | None, list[int]] = {}
    for letter_id, integration in letters:
        found.setdefault(integration, []).append(letter_id)
    return found


def _letters(count: int) -> str:
    return f"{count} dead letter{'' if count == 1 else 's'}"
