"""Helpers for ``bench/workflows.py``: the measuring process (one per system and store) and
the two workloads (Artery and DBOS Transact). ``bench/`` is put on ``sys.path`` by every
entry point, so these import as ``workflows_support.*``."""
