"""Helpers for ``bench/delivery.py``: the shared payload and contract, the Artery worker
script and the Celery app. ``bench/`` is put on ``sys.path`` by every entry point, so these
import as ``delivery_support.*``."""
