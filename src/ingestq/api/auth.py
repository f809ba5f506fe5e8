"""Who a request acts for: ``Authorization: Bearer <token>``, or the local admin.

Without a token a request acts as the local admin only while no token is
configured at all and the server listens on loopback alone; once one token
exists, every request needs one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ingestq.errors import AuthError, NotFoundError
from ingestq.ops.tokens import LOCAL, Principal, authenticate, tokens_configured

bearer = HTTPBearer(auto_error=False, description="A token from `ingestq tokens create`.")


#: The bearer credentials of a request, if it sent any.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def principal(request: Request, credentials: Credentials) -> Principal:
    """The principal of the request; :class:`AuthError` (401) without a valid token."""
    config = request.app.state.config
    if credentials is not None:
        return authenticate(config.settings, credentials.credentials)
    if request.headers.get("authorization"):
        raise AuthError("use the header Authorization: Bearer <token>")
    if config.public or tokens_configured(config.settings):
        raise AuthError(
            "a token is required: send Authorization: Bearer <token>"
            " (an admin makes one with `ingestq tokens create --owner NAME`)"
        )
    return LOCAL


Who = Annotated[Principal, Depends(principal)]


def admin(who: Who) -> Principal:
    """The principal, if it is an admin; else 404, as for anything it may not see."""
    if not who.admin:
        raise NotFoundError("not found (this endpoint is for admin tokens)")
    return who


Admin = Annotated[Principal, Depends(admin)]


router = APIRouter(prefix="/v1", tags=["auth"])


@router.get("/me", summary="Who the token is")
def me(request: Request, who: Who) -> dict[str, Any]:
    """The token's owner (null: the local admin), whether it is an admin, and whether
    `ask` is available (an LLM is configured)."""
    settings = request.app.state.config.settings
    return {"owner": who.owner, "admin": who.admin, "ask": bool(settings.llm_model)}
