"""What a person does by hand is on the record, in the transaction that does it: a signal
sent through the admin API names the caller and the run's integration; a signal a program
sends (``app.workflows.signal``) is not a person's and is not recorded. (The redrive is in
``test_roi.py``, resend and replay in ``tests/webhooks/test_outbound.py``, the CLI's in
``tests/cli/test_report_cli.py``.)"""

from __future__ import annotations

from roi_harness import Partner, Running, running

from support import eventually


async def waiting_run(run: Running) -> str:
    started = await run.admin.post("/workflows/runs", json={"workflow": "approve"})
    assert started.status_code == 201, started.text
    run_id: str = started.json()["run_id"]

    async def waiting() -> bool:
        return (await run.admin.get(f"/workflows/runs/{run_id}")).json()["run"]["status"] == (
            "waiting"
        )

    await eventually(waiting, "the run waiting for its approval")
    return run_id


async def test_a_signal_through_the_admin_api_is_recorded_with_who_sent_it(
    store_url: str,
) -> None:
    async with running(store_url, Partner()) as run:
        run_id = await waiting_run(run)
        answer = await run.admin.post(f"/workflows/runs/{run_id}/signals/approval", json="yes")
        assert answer.status_code == 202, answer.text
        assert await run.app.workflows.handle(run_id).result(timeout=10) == "yes"
        assert await run.interventions() == [
            ("signal", "erp-sync", "tests", f"signal 'approval' to run {run_id!r}")
        ]


async def test_a_signal_a_program_sends_is_not_an_intervention(sqlite_url: str) -> None:
    async with running(sqlite_url, Partner()) as run:
        run_id = await waiting_run(run)
        await run.app.workflows.signal(run_id, "approval", "yes")
        assert await run.app.workflows.handle(run_id).result(timeout=10) == "yes"
        assert await run.interventions() == []


async def test_a_signal_refused_records_nothing(sqlite_url: str) -> None:
    async with running(sqlite_url, Partner()) as run:
        run_id = await waiting_run(run)
        await run.admin.post(f"/workflows/runs/{run_id}/signals/approval", json="yes")
        await run.app.workflows.handle(run_id).result(timeout=10)
        late = await run.admin.post(f"/workflows/runs/{run_id}/signals/approval", json="no")
        assert late.status_code == 409
        assert [row[0] for row in await run.interventions()] == ["signal"]
