"""The HTTP API and the web page of ``ingestq serve``, on FastAPI.

Only ``ingestq serve`` imports this package, inside its command: FastAPI and
Starlette cost a few hundred milliseconds to import, which ``add`` must not pay.
Routes are thin: they check who asks, call the same :mod:`ingestq.ops` functions
the CLI calls, and answer the CLI's ``--json`` objects.
"""
