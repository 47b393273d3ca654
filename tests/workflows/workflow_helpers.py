"""Shared pieces for workflow tests."""

from __future__ import annotations

from artery import App

FAST = {"lease_ttl": 2.0, "poll_interval": 0.05}


def make_app(store_url: str) -> App:
    app = App("workflow-test", store=store_url)
    app.workflow_options = dict(FAST)
    app.worker_options = {
        "lease_ttl": 2.0,
        "poll_interval": 0.02,
        "commit_interval": 0.02,
        "retry_poll": 0.03,
    }
    return app
