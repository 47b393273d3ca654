"""The console: server-rendered pages under ``/console`` where owners see their
integrations and operators fix them (catalog, health, events, dead letters, workflow runs,
webhooks, audit).

Starlette routes and Jinja2 templates, plain HTML forms, inline CSS and SVG: no script, no
build step, no CDN; everything the pages need ships in this package. Each page is a
``Page`` (``web.py``) naming the scope it needs; ``app.mount`` puts every one behind the
gate, with session cookies as the credential (``sessions.py``) and a CSRF token on every
form. This module stays light: the store imports ``console.schema`` through it.
"""
