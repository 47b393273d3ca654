"""Webhooks in: verified sources that map vendor payloads to contracts and notice when
they go silent (``sources``, ``schemes``, ``generic``, ``mapping``, ``inbound``,
``ledger``)."""

from artery.webhooks.generic import Hmac
from artery.webhooks.mapping import MappingFailed
from artery.webhooks.schemes import SignatureRefused
from artery.webhooks.sources import Source

__all__ = ["Hmac", "MappingFailed", "SignatureRefused", "Source"]
