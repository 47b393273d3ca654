"""Circuit breakers: stop calling a partner that is failing, then probe until it recovers.

A breaker is CLOSED while calls mostly succeed. Once at least ``min_calls`` outcomes were
seen within the sliding ``window`` and the share of failures reaches ``failure_ratio``, it
OPENs: calls are refused (events wait; they do not burn attempts). After ``open_for`` it is
HALF_OPEN and lets ``half_open_probes`` calls through at a time: a successful probe closes
it with a fresh window, a failed probe opens it again for ``open_for``.

Breakers live in memory per process; ``Breakers`` writes each state change to the
``breaker_states`` table so the CLI and admin API can show them across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypedDict

from artery.durations import seconds
from artery.errors import ConfigError
from artery.store.protocol import Row, Store, Tx

__all__ = [
    "BreakerPolicy",
    "BreakerRecord",
    "BreakerSnapshot",
    "BreakerState",
    "Breakers",
    "CircuitBreaker",
]

log = logging.getLogger("artery.breaker")

OnChange = Callable[[str, "BreakerState", int, int], Awaitable[None]]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, init=False)
class BreakerPolicy:
    """When a breaker opens and how it recovers; ``window`` and ``open_for`` take durations."""

    failure_ratio: float
    min_calls: int
    window: float
    open_for: float
    half_open_probes: int

    def __init__(
        self,
        failure_ratio: float = 0.5,
        min_calls: int = 10,
        window: float | str = 30.0,
        open_for: float | str = 15.0,
        half_open_probes: int = 1,
    ) -> None:
        if not 0 < failure_ratio <= 1:
            raise ConfigError(
                f"breaker failure_ratio must be in (0, 1], not {failure_ratio!r}",
                fix="give the share of failed calls that opens the breaker, e.g. 0.5",
            )
        for field, count in (("min_calls", min_calls), ("half_open_probes", half_open_probes)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConfigError(
                    f"breaker {field} must be a whole number of at least 1, not {count!r}",
                    fix=f"set {field}=1 or more",
                )
        window_s, open_for_s = seconds(window), seconds(open_for)
        if window_s <= 0 or open_for_s <= 0:
            raise ConfigError(
                f"breaker window and open_for must be longer than zero, not {window!r}, "
                f"{open_for!r}",
                fix='give durations such as window="30s", open_for="15s"',
            )
        object.__setattr__(self, "failure_ratio", float(failure_ratio))
        object.__setattr__(self, "min_calls", min_calls)
        object.__setattr__(self, "window", window_s)
        object.__setattr__(self, "open_for", open_for_s)
        object.__setattr__(self, "half_open_probes", half_open_probes)


class BreakerSnapshot(TypedDict):
    name: str
    state: str
    failures: int  # failed calls within the window
    calls: int  # calls within the window
    opened_at: float | None  # wall-clock seconds when it last opened; None when closed


class BreakerRecord(TypedDict):
    name: str
    state: str
    failures: int
    calls: int
    changed_at: int  # wall-clock microseconds of the last state change
    reported_by: str  # the worker that made it


class CircuitBreaker:
    """One partner's breaker. ``record_*`` are synchronous; persistence runs in tasks.

    Outcomes recorded while OPEN (calls that started before it opened) are ignored. A
    half-open probe that never reports back frees its slot after ``open_for``, so a lost
    probe cannot wedge the breaker.
    """

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy = BreakerPolicy(),
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: OnChange | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._outcomes: deque[tuple[float, bool]] = deque()  # (when, failed)
        self._failures = 0
        self._opened_at = 0.0  # clock() when it last opened
        self._opened_wall: float | None = None
        self._probes = 0  # probe calls in flight while half-open
        self._probe_started = 0.0
        self._changed = asyncio.Event()  # set and replaced on every transition
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.policy.open_for
        ):
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    def allow(self) -> bool:
        """Whether a call may go now; in HALF_OPEN a True takes one probe slot."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self._clock()
        if self._probes >= self.policy.half_open_probes:
            if now - self._probe_started < self.policy.open_for:
                return False
            self._probes = 0  # the probes never reported back; let new ones go
        self._probes += 1
        self._probe_started = now
        return True

    async def wait_until_allowed(self) -> None:
        """Return at once while CLOSED; otherwise sleep until a call is allowed."""
        while True:
            changed = self._changed
            if self.allow():
                return
            if self._state is BreakerState.OPEN:
                timeout = self.policy.open_for - (self._clock() - self._opened_at)
            else:
                timeout = self.policy.open_for - (self._clock() - self._probe_started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(timeout, 0.001))

    def record_success(self) -> None:
        self._record(failed=False)

    def record_failure(self) -> None:
        self._record(failed=True)

    def snapshot(self) -> BreakerSnapshot:
        state = self.state
        self._prune(self._clock())
        return {
            "name": self.name,
            "state": str(state),
            "failures": self._failures,
            "calls": len(self._outcomes),
            "opened_at": None if state is BreakerState.CLOSED else self._opened_wall,
        }

    async def flush(self) -> None:
        """Wait until every state change so far has been handed to ``on_change``."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    # -- internals ---------------------------------------------------------------------

    def _record(self, *, failed: bool) -> None:
        state = self.state
        now = self._clock()
        if state is BreakerState.HALF_OPEN and self._probes > 0:
            self._probes -= 1
            if failed:
                self._open(now)
            else:
                self._outcomes.clear()
                self._failures = 0
                self._transition(BreakerState.CLOSED)
        elif state is BreakerState.CLOSED:
            self._outcomes.append((now, failed))
            self._failures += failed
            self._prune(now)
            calls = len(self._outcomes)
            if calls >= self.policy.min_calls and self._failures >= (
                self.policy.failure_ratio * calls
            ):
                self._open(now)

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._opened_wall = time.time()
        self._probes = 0
        self._transition(BreakerState.OPEN)

    def _prune(self, now: float) -> None:
        horizon = now - self.policy.window
        while self._outcomes and self._outcomes[0][0] <= horizon:
            _, failed = self._outcomes.popleft()
            self._failures -= failed

    def _transition(self, state: BreakerState) -> None:
        self._state = state
        failures, calls = self._failures, len(self._outcomes)
        level = logging.WARNING if state is BreakerState.OPEN else logging.INFO
        log.log(
            level, "breaker %s is %s (%d of %d calls failed)", self.name, state, failures, calls
        )
        self._wake()
        if self._on_change is not None:
            self._notify(self._on_change, state, failures, calls)

    def _notify(self, on_change: OnChange, state: BreakerState, failures: int, calls: int) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            log.warning(
                "breaker %s became %s outside an event loop; not reported", self.name, state
            )
            return
        task = asyncio.create_task(self._report(on_change(self.name, state, failures, calls)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self, change: Awaitable[None]) -> None:
        try:
            await change
        except Exception:
            log.exception("could not report the state of breaker %s", self.name)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


class Breakers:
    """The breakers of one App, by partner name; state changes are written to the store."""

    def __init__(self, store: Store | None, worker_id: str) -> None:
        self._store = store
        self._worker_id = worker_id
        self._breakers: dict[str, CircuitBreaker] = {}
        self._changed_at: dict[str, int] = {}

    def get(self, name: str, policy: BreakerPolicy | None = None) -> CircuitBreaker:
        """The breaker called ``name``, created with ``policy`` on first use."""
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(name, policy or BreakerPolicy(), on_change=self._persist)
            self._breakers[name] = breaker
        elif policy is not None and policy != breaker.policy:
            raise ConfigError(
                f"breaker {name!r} is declared with two different policies",
                fix="give every consumer that calls this partner the same BreakerPolicy",
            )
        return breaker

    async def states(self) -> list[BreakerRecord]:
        """Every breaker's last reported state (all workers' when there is a store)."""
        if self._store is None:
            return [self._local_record(b) for _, b in sorted(self._breakers.items())]
        rows = await self._store.read(_read_states)
        return [
            {
                "name": str(name),
                "state": str(state),
                "failures": int(failures),
                "calls": int(calls),
                "changed_at": int(changed_at),
                "reported_by": str(reported_by),
            }
            for name, state, failures, calls, changed_at, reported_by in rows
        ]

    async def flush(self) -> None:
        """Wait until every state change so far is written (for shutdown and tests)."""
        for breaker in list(self._breakers.values()):
            await breaker.flush()

    def _persist(
        self, name: str, state: BreakerState, failures: int, calls: int
    ) -> Awaitable[None]:
        # A plain function, so the time is taken at the change, not when the write runs.
        changed_at = time.time_ns() // 1000
        self._changed_at[name] = changed_at
        if self._store is None:
            return asyncio.sleep(0)
        return self._store.write(
            _save_state(name, str(state), failures, calls, changed_at, self._worker_id)
        )

    def _local_record(self, breaker: CircuitBreaker) -> BreakerRecord:
        snap = breaker.snapshot()
        return {
            "name": snap["name"],
            "state": snap["state"],
            "failures": snap["failures"],
            "calls": snap["calls"],
            "changed_at": self._changed_at.get(breaker.name, 0),
            "reported_by": self._worker_id,
        }


def _save_state(
    name: str, state: str, failures: int, calls: int, changed_at: int, worker_id: str
) -> Callable[[Tx], None]:
    def save(tx: Tx) -> None:
        # The WHERE keeps a late write of an older change from hiding a newer one.
        tx.execute(
            """INSERT INTO breaker_states (name, state, failures, calls, changed_at, reported_by)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET state = excluded.state,
                   failures = excluded.failures, calls = excluded.calls,
                   changed_at = excluded.changed_at, reported_by = excluded.reported_by
               WHERE breaker_states.changed_at <= excluded.changed_at""",
            (name, state, failures, calls, changed_at, worker_id),
        )

    return save


def _read_states(tx: Tx) -> list[Row]:
    return tx.execute(
        "SELECT name, state, failures, calls, changed_at, reported_by"
        " FROM breaker_states ORDER BY name"
    )
