"""ingestq: turn documents into a searchable vector store, in the background.

The package is a library first; :mod:`ingestq.cli` is a thin Typer layer over it.
Heavy dependencies (torch, sentence-transformers, chromadb) are imported lazily by
the modules that need them, so importing :mod:`ingestq` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"
