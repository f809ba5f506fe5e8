"""One job attempt, from a document to chunks in the store.

:func:`~ingestq.pipeline.attempt.ingest` gets the text (a stored PDF, or a URL
fetched now), :mod:`index` chunks, embeds and writes it (parsing runs ahead in
a :mod:`prefetch` thread), and :mod:`topics` names what it is about. The
attempt checks in with its :mod:`checkpoint` between pages and batches, and
uses the worker's long-lived :mod:`resources`.
"""
