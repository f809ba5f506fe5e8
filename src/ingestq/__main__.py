from __future__ import annotations

from ingestq.cli import main

main()
