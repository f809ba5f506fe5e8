"""What a user can do, one module per operation: the library under the CLI and the API.

Each function takes :class:`~ingestq.config.Settings` and returns plain data;
none prints. :mod:`submit` and :mod:`sync` queue work, :mod:`control` steers
jobs, :mod:`status`, :mod:`watch`, :mod:`stats` and :mod:`inventory` read what
is there, :mod:`search` and :mod:`ask` query it, :mod:`prune` reclaims space,
:mod:`extract` shows a document's text, and :mod:`wait` runs jobs in process.
"""
