"""Governance of personal data and secrets: what a person may see of a payload."""

from artery.govern.redaction import (
    REDACTED,
    Redactor,
    contract_redactor,
    for_storing,
    topic_paths,
    topic_redactor,
)

__all__ = [
    "REDACTED",
    "Redactor",
    "contract_redactor",
    "for_storing",
    "topic_paths",
    "topic_redactor",
]
