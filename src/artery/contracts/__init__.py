"""Contracts: versioned JSON Schema documents, compatibility modes, classification."""

from artery.contracts.classification import (
    Classification,
    ClassifiedPath,
    classified_paths,
    classify,
    sensitive_paths,
)
from artery.contracts.compatibility import Compatibility, Incompatibility
from artery.contracts.registry import ContractVersion, Registry, Subject
from artery.contracts.validation import CompiledSchema, check_schema

__all__ = [
    "Classification",
    "ClassifiedPath",
    "Compatibility",
    "CompiledSchema",
    "ContractVersion",
    "Incompatibility",
    "Registry",
    "Subject",
    "check_schema",
    "classified_paths",
    "classify",
    "sensitive_paths",
]
