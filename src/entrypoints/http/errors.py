"""Every error the HTTP API answers, in the one JSON shape of the contract, mapped once.

``STATUS`` maps domain errors to statuses (looked up along the MRO); three app-level
handlers turn domain errors, Litestar's own HTTP exceptions (router 404/405, validation)
and unexpected exceptions into ``{"success": false, "errors": [code], "data": null,
"message": ...}``. Nothing else builds an error response.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException

from flextype_core.errors import (
    AccessTokenInvalid,
    AuthFailure,
    BadRequest,
    CallLimitExceeded,
    Conflict,
    FlextypeError,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    QueryTooLong,
    ResyncRequired,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)

__all__ = [
    "CHALLENGE",
    "CLIENT_CLOSED_REQUEST",
    "EXCEPTION_HANDLERS",
    "STATUS",
    "ClientDisconnected",
    "domain_error",
    "error_document",
    "error_response",
    "unexpected_error",
]

log = logging.getLogger("flextype.http")

STATUS: dict[type[FlextypeError], int] = {
    BadRequest: 400,
    AccessTokenInvalid: 401,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    PayloadTooLarge: 413,
    QueryTooLong: 414,
    UnsupportedMediaType: 415,
    ValidationFailed: 422,
    CallLimitExceeded: 429,
    ServiceUnavailable: 503,
    ResyncRequired: 410,
}

# Litestar raises HTTPException for routing and parsing; these are its statuses' codes.
_HTTP_CODES = {
    400: "BadRequest",
    401: "AccessTokenInvalid",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    413: "PayloadTooLarge",
    414: "URITooLong",
    415: "UnsupportedMediaType",
    422: "ValidationFailed",
    429: "CallLimitExceeded",
    503: "ServiceUnavailable",
}


CHALLENGE = 'Bearer realm="flextype"'
"""``WWW-Authenticate`` of every 401 (RFC 9110 section 11.6.1). Basic is accepted too (for
writes: token and access token), but a Basic challenge makes browsers show a login
prompt, for a page's image or script requests too; Bearer names the scheme without one."""

_HOW_TO: dict[AuthFailure, str] = {
    "missing": "Send it as the 'token' parameter or an 'Authorization: Bearer TOKEN' header;"
    " `flextype tokens create` prints a new one.",
    "invalid": "Check it, or create one with `flextype tokens create`.",
    "disabled": "Enable it with `flextype tokens enable TOKEN` (or PATCH /api/tokens).",
    "expired": "Move its expires_at later (PATCH /api/tokens), or create a new token with"
    " `flextype tokens create`.",
    "scope": "Add this API to the token's apis (PATCH /api/tokens), or use another token.",
    "access_token": "Writes need the token and its access token: Basic authorization"
    " (curl -u TOKEN:ACCESS_TOKEN) or 'token' and 'access_token' parameters. The access"
    " token is shown once, when the token is created (`flextype tokens create`).",
    "signature": "Sign the URL with `flextype images sign`, or send a token for the images API.",
}

CLIENT_CLOSED_REQUEST = 499
"""nginx's status for a request whose client went away first: only logs ever see it."""


class ClientDisconnected(Exception):  # noqa: N818 - named for what happened
    """The client closed the connection before it had sent the whole request body."""


def error_document(code: str, message: str, details: list[str] | None = None) -> dict[str, Any]:
    """Return the one error shape of the contract, as data."""
    body: dict[str, Any] = {"success": False, "errors": [code], "data": None, "message": message}
    if details:
        body["details"] = details
    return body


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """Build the one error shape of the contract."""
    body = error_document(code, message, details)
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def status_of(error: FlextypeError) -> int:
    """Return the HTTP status of a domain error (500 for one not in ``STATUS``)."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def domain_error(exc: FlextypeError) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """The status, error document and headers that answer the domain error ``exc``."""
    status = status_of(exc)
    if status == 500:
        log.error("storage or internal error: %s", exc.message, exc_info=exc)
        return 500, error_document("InternalError", exc.message), None
    headers = None
    message = exc.message
    if isinstance(exc, CallLimitExceeded | ServiceUnavailable) and exc.retry_after is not None:
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, AccessTokenInvalid):
        message = f"{message} {_HOW_TO[exc.reason]}"
        # RFC 6750 section 3.1: no error code when the request carried no credentials.
        given = exc.reason not in ("missing", "signature")  # a signature is no bearer token
        error = ', error="invalid_token"' if given else ""
        headers = {"WWW-Authenticate": CHALLENGE + error}
    return status, error_document(exc.code, message, exc.details), headers


def unexpected_error(method: str, path: str, exc: BaseException) -> dict[str, Any]:
    """Log an exception no handler expected; return the document of its 500."""
    log.error("unexpected error on %s %s", method, path, exc_info=exc)
    return error_document("InternalError", "The server failed to answer this request.")


def _domain_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, FlextypeError)
    status, document, headers = domain_error(exc)
    return Response(document, status_code=status, media_type=MediaType.JSON, headers=headers)


def _http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status >= 500:
        return _unexpected(request, exc)
    code = _HTTP_CODES.get(status, "BadRequest")
    if status == 404:
        message = f"No route for {request.method} {request.url.path}."
    elif status == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", CHALLENGE)
    return error_response(status, code, message, headers=headers or None)


def _client_gone(request: Request[Any, Any, Any], _: Exception) -> Response[dict[str, Any]]:
    # Clients do go away (a closed tab, a lost network): one line, no stack, no error.
    log.warning(
        "client disconnected before sending its whole body: %s %s", request.method, request.url.path
    )
    return error_response(
        CLIENT_CLOSED_REQUEST, "ClientClosedRequest", "The client closed the connection."
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    document = unexpected_error(request.method, request.url.path, exc)
    return Response(document, status_code=500, media_type=MediaType.JSON)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ClientDisconnected: _client_gone,
    FlextypeError: _domain_error,
    HTTPException: _http_error,
    500: _unexpected,
    Exception: _unexpected,
}
