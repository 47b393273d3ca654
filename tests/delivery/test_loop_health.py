"""Every delivery loop survives an unexpected error: it reports the process unhealthy, backs
off, tries again, and delivery carries on once the error stops."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from delivery_helpers import eventually, make_app

from artery import App, DeliveryContext, Event, Retry
from artery.delivery import retry_schedule
from artery.delivery.worker import Worker
from artery.log.coordinator import StoreCoordinator

N = 20


class Fault:
    """Makes a real method raise ``times`` times, noting whether the process already
    reported itself unhealthy when the loop came back for another try."""

    def __init__(self, app: App, times: int = 3) -> None:
        self.app = app
        self.left = times
        self.unhealthy_seen = False

    def _trip(self) -> None:
        self.left -= 1
        if not self.app.health.healthy:
            self.unhealthy_seen = True
        raise RuntimeError("injected fault")

    def wrap(self, method: Callable[..., Any], when: Callable[..., bool] = lambda *a, **k: True):  # type: ignore[no-untyped-def]
        if inspect.iscoroutinefunction(method):

            async def flaky_async(*args: Any, **kwargs: Any) -> Any:
                if self.left and when(*args, **kwargs):
                    self._trip()
                return await method(*args, **kwargs)

            return flaky_async

        def flaky(*args: Any, **kwargs: Any) -> Any:
            if self.left and when(*args, **kwargs):
                self._trip()
            return method(*args, **kwargs)

        return flaky


def inject(loop: str, app: App, fault: Fault, monkeypatch: pytest.MonkeyPatch) -> None:
    worker = next(s for s in app.services if isinstance(s, Worker))
    if loop == "fetch":
        monkeypatch.setattr(app.log.backend, "read", fault.wrap(app.log.backend.read))
    elif loop == "heads":
        monkeypatch.setattr(app.log, "appended", fault.wrap(app.log.appended))
    elif loop == "retries":
        due_only = lambda *a, **k: k.get("due_before") is not None  # noqa: E731
        monkeypatch.setattr(retry_schedule, "pending", fault.wrap(retry_schedule.pending, due_only))
    elif loop == "commits":
        monkeypatch.setattr(StoreCoordinator, "commit", fault.wrap(StoreCoordinator.commit))
    elif loop == "balance":
        monkeypatch.setattr(worker.leases, "heartbeat", fault.wrap(worker.leases.heartbeat))


@pytest.mark.parametrize("loop", ["fetch", "heads", "retries", "commits", "balance"])
async def test_delivery_loop_survives_an_unexpected_error_and_reports_unhealthy(
    store_url: str, loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, orders = make_app(store_url, partitions=2)
    calls: Counter[int] = Counter()

    @app.consumer(orders, group="erp", retry=Retry(attempts=5, base="10ms", cap="20ms"))
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        calls[event.data["n"]] += 1
        if calls[event.data["n"]] == 1:
            raise ConnectionError("partner flaked")  # every event goes through a retry

    async def settled() -> bool:
        lag = await app.log.lag("erp", "orders")
        return len(calls) == N and all(c == 2 for c in calls.values()) and not any(lag.values())

    async with app.running():
        fault = Fault(app)
        inject(loop, app, fault, monkeypatch)
        for n in range(N):
            await app.publish(orders, {"n": n}, key=f"k{n}")
        await eventually(lambda: fault.left == 0, timeout=10, what=f"the {loop} loop to retry")
        assert fault.unhealthy_seen, "the failing loop marks the process unhealthy"
        await eventually(settled, timeout=20, what="delivery to resume")
        await eventually(lambda: app.health.healthy, timeout=10, what="health to recover")
