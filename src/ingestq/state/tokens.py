"""API tokens in the state database: who they belong to, and only their digests.

A token's secret is never stored: only the SHA-256 of the whole token, which
:mod:`ingestq.ops.tokens` compares in constant time. A revoked token stays,
with ``revoked_at`` set, so ``tokens list`` still shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingestq.state.db import Database, Row, fetchval
from ingestq.times import now


@dataclass(frozen=True)
class TokenRecord:
    id: str
    owner: str
    digest: str
    admin: bool
    created_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> TokenRecord:
        return cls(**(dict(row) | {"admin": bool(row["admin"])}))


def insert(db: Database, token_id: str, owner: str, digest: str, admin: bool) -> TokenRecord:
    """Record a new token."""
    record = TokenRecord(token_id, owner, digest, admin, now())
    db.execute(
        "INSERT INTO tokens (id, owner, digest, admin, created_at) VALUES (?, ?, ?, ?, ?)",
        (record.id, owner, digest, int(admin), record.created_at),
    )
    return record


def find(db: Database, token_id: str) -> TokenRecord | None:
    """The token with this id, revoked or not."""
    row = db.fetchone("SELECT * FROM tokens WHERE id = ?", (token_id,))
    return TokenRecord.from_row(row) if row else None


def all_tokens(db: Database) -> list[TokenRecord]:
    """Every token, oldest first."""
    return [
        TokenRecord.from_row(r) for r in db.fetchall("SELECT * FROM tokens ORDER BY created_at, id")
    ]


def active_count(db: Database) -> int:
    """How many tokens are not revoked."""
    return int(fetchval(db, "SELECT count(*) FROM tokens WHERE revoked_at IS NULL") or 0)


def revoke(db: Database, token_id: str) -> bool:
    """Revoke one token; False if there is no such token still active."""
    changed = db.execute(
        "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now(), token_id)
    )
    return changed > 0


def revoke_owner(db: Database, owner: str) -> int:
    """Revoke every active token of ``owner``; how many."""
    return db.execute(
        "UPDATE tokens SET revoked_at = ? WHERE owner = ? AND revoked_at IS NULL", (now(), owner)
    )


def touch(db: Database, token_id: str) -> None:
    """Record that the token was just used."""
    # In a transaction so that it takes the write turn as other writers do, and a
    # caller that will not wait (:func:`ingestq.state.waiting_at_most`) is not held.
    with db.transaction():
        db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (now(), token_id))
