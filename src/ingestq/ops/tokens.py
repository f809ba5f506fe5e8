"""API tokens: create (shown once), list, revoke, and check a presented one.

A token reads ``iq_<id>_<secret>``. The id is public (``tokens list`` shows it,
``tokens revoke`` takes it) and finds the record; the whole token's SHA-256 is
all the record keeps, compared with :func:`hmac.compare_digest` so the time a
check takes says nothing about how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from ingestq.config import Settings
from ingestq.errors import AuthError, NotFoundError, UsageError
from ingestq.state import open_state
from ingestq.state import tokens as records
from ingestq.state.tokens import TokenRecord
from ingestq.times import ago

#: An owner's name: it also prefixes the owner's collections (see ops/owners.py),
#: so it holds no '.' and fits a collection name.
_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?")
_TOKEN = re.compile(r"iq_([0-9a-f]{12})_[A-Za-z0-9_-]{20,100}")


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: an owner, and whether it may see everything."""

    owner: str | None  # None: the local admin (the CLI, or a server without tokens)
    admin: bool
    token_id: str | None = None

    @property
    def key(self) -> str:
        """What rate limits count by."""
        return self.token_id or "local"


LOCAL = Principal(owner=None, admin=True)


def check_owner(owner: str) -> str:
    if not _OWNER.fullmatch(owner):
        raise UsageError(
            f"invalid owner {owner!r}: use 1-64 ASCII letters, digits, '_' or '-',"
            " starting and ending with a letter or digit"
        )
    return owner


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(settings: Settings, owner: str, *, admin: bool = False) -> tuple[str, TokenRecord]:
    """A new token for ``owner``: the token itself (to show once) and its record."""
    check_owner(owner)
    token_id = secrets.token_hex(6)
    token = f"iq_{token_id}_{secrets.token_urlsafe(32)}"
    db = open_state(settings)
    try:
        with db.transaction():
            record = records.insert(db, token_id, owner, digest(token), admin)
    finally:
        db.close()
    return token, record


def list_tokens(settings: Settings) -> list[TokenRecord]:
    db = open_state(settings)
    try:
        return records.all_tokens(db)
    finally:
        db.close()


def revoke_tokens(settings: Settings, *, token_id: str | None, owner: str | None) -> int:
    """Revoke one token by id, or every token of an owner; how many were revoked."""
    if bool(token_id) == bool(owner):
        raise UsageError("name a token id, or pass {owner} (not both)", params=("owner",))
    db = open_state(settings)
    try:
        with db.transaction():
            if token_id:
                if not records.revoke(db, token_id.removeprefix("iq_")[:12]):
                    raise NotFoundError(f"no active token has the id {token_id!r}")
                return 1
            return records.revoke_owner(db, check_owner(owner or ""))
    finally:
        db.close()


def tokens_configured(settings: Settings) -> bool:
    """Whether any token is active: then every API request must present one."""
    db = open_state(settings)
    try:
        return records.active_count(db) > 0
    finally:
        db.close()


def authenticate(settings: Settings, token: str) -> Principal:
    """The principal ``token`` stands for; :class:`AuthError` if it is unknown or revoked."""
    found = _TOKEN.fullmatch(token.strip())
    db = open_state(settings)
    try:
        record = records.find(db, found[1]) if found else None
        # Compared even when nothing was found, so a miss costs what a hit does.
        stored = record.digest if record else digest("")
        matches = hmac.compare_digest(stored, digest(token.strip()))
        if record is None or not matches or record.revoked_at:
            raise AuthError("the token is unknown or revoked")
        # At most one write a minute per token: status polling must not write.
        if not record.last_used_at or record.last_used_at < ago(60):
            records.touch(db, record.id)
    finally:
        db.close()
    return Principal(owner=record.owner, admin=record.admin, token_id=record.id)
