"""``ingestq tokens create|list|revoke``: the HTTP API's tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import Json
from ingestq.config import load_settings

tokens_app = typer.Typer(
    name="tokens",
    help="Create, list and revoke the tokens of the HTTP API (`ingestq serve`).\n\n"
    "Example: ingestq tokens create --owner alice",
    no_args_is_help=True,
)
app.add_typer(tokens_app)


@tokens_app.command()
def create(
    owner: Annotated[
        str,
        typer.Option("--owner", help="Whose token: its jobs and collections are theirs."),
    ],
    admin: Annotated[
        bool, typer.Option("--admin", help="It sees and acts on every owner's jobs.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Create a token for OWNER and print it, once: only its hash is stored.

    Example: ingestq tokens create --owner alice
    """
    from ingestq.ops.tokens import create_token

    token, record = create_token(load_settings(), owner, admin=admin)
    if as_json:
        render.print_json({"owner": record.owner, "token": token, "admin": record.admin})
        return
    kind = "admin token" if admin else "token"
    render.out.print(f"{kind} for {render.text(owner)} (id {record.id}):")
    render.out.print(token, soft_wrap=True)
    render.err.print("Keep it now: it is not stored and cannot be shown again.")


@tokens_app.command("list")
def list_(as_json: Json = False) -> None:
    """List tokens: id, owner, admin, when created, last used and revoked (never the token).

    Example: ingestq tokens list
    """
    from ingestq.ops.tokens import list_tokens

    found = list_tokens(load_settings())
    if as_json:
        keys = ("id", "owner", "admin", "created_at", "last_used_at", "revoked_at")
        render.print_json([{k: getattr(t, k) for k in keys} for t in found])
        return
    if not found:
        render.out.print("no tokens: `ingestq serve` listens on 127.0.0.1 only")
        return
    t = render.table("id", "owner", "admin", "created", "last used", "revoked")
    for tok in found:
        t.add_row(
            tok.id,
            render.text(tok.owner),
            "yes" if tok.admin else "",
            render.age(tok.created_at),
            render.age(tok.last_used_at) if tok.last_used_at else "",
            render.age(tok.revoked_at) if tok.revoked_at else "",
        )
    render.out.print(t)


@tokens_app.command()
def revoke(
    token_id: Annotated[
        str | None, typer.Argument(metavar="[TOKEN_ID]", help="The token's id (see `tokens list`).")
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Revoke every token of this owner.")
    ] = None,
) -> None:
    """Revoke a token by its id, or every token of an owner; requests with it get 401.

    Example: ingestq tokens revoke 3f9a1c0b7d2e
    """
    from ingestq.ops.tokens import revoke_tokens

    count = revoke_tokens(load_settings(), token_id=token_id, owner=owner)
    render.out.print(f"revoked {count} token{'s' if count != 1 else ''}")
