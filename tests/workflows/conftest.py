"""These tests run on every log backend (``tests/backends.py``)."""

from backends import backend_name, store_url  # noqa: F401  (fixtures)
