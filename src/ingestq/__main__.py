from __future__ import annotations

from ingestq.cli import entry

if __name__ == "__main__":
    entry()
