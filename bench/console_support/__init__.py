"""Helpers for ``bench/console.py``: the shop app it serves and how its store is filled.
``bench/`` is on ``sys.path`` when the bench runs, so these import as ``console_support.*``."""
