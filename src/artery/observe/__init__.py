"""Observability in business terms: metrics per integration and partner (``metrics``),
traces across every hop (``tracing``), the runtime's own records of outcomes (``records``),
SLOs with error budgets (``slo``), and the status and ROI read from those records."""
