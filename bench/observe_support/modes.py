"""The observability settings the benchmarks compare, as environment variables for the
processes they start: ``off`` (no metrics, no tracing), ``on`` (the defaults: metrics, and
trace context carried without recording spans, as when no collector is configured),
``sampled`` (a tenth of the traces recorded and sent over OTLP/HTTP to a local sink, the
usual setting at volume) and ``exported`` (every span recorded and sent)."""

from __future__ import annotations

MODES = ("off", "on", "sampled", "exported")


def environment(mode: str, sink: str | None = None) -> dict[str, str]:
    if mode == "off":
        return {"ARTERY_METRICS": "false", "ARTERY_TRACING": "false"}
    if mode == "on":
        return {"ARTERY_METRICS": "true", "ARTERY_TRACING": "true"}
    if mode in ("sampled", "exported"):
        assert sink is not None, f"the {mode} mode needs a sink URL"
        ratio = "0.1" if mode == "sampled" else "1.0"
        return {
            "ARTERY_METRICS": "true",
            "ARTERY_TRACING": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink,
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": ratio,
        }
    raise ValueError(f"unknown observability mode {mode!r}; use one of {MODES}")
