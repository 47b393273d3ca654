"""The observability settings the benchmarks compare, as environment variables for the
processes they start: ``off`` (no metrics, no tracing), ``on`` (the defaults: metrics, and
trace context carried without recording spans, as when no collector is configured) and
``exported`` (every span recorded and sent over OTLP/HTTP to a local sink)."""

from __future__ import annotations

MODES = ("off", "on", "exported")


def environment(mode: str, sink: str | None = None) -> dict[str, str]:
    if mode == "off":
        return {"ARTERY_METRICS": "false", "ARTERY_TRACING": "false"}
    if mode == "on":
        return {"ARTERY_METRICS": "true", "ARTERY_TRACING": "true"}
    if mode == "exported":
        assert sink is not None, "the exported mode needs a sink URL"
        return {
            "ARTERY_METRICS": "true",
            "ARTERY_TRACING": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink,
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
        }
    raise ValueError(f"unknown observability mode {mode!r}; use one of {MODES}")
