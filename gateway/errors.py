"""Domain errors, and the one place they become RFC 9457 problem+json or a CLI line.

Each error has a stable ``type`` (a URI reference partners may branch on), a ``title`` that
never changes for that type, an HTTP status and a human ``detail``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

PROBLEM_BASE = "https://gateway.invalid/problems/"
PROBLEM_JSON = "application/problem+json"


class GatewayError(Exception):
    type: ClassVar[str] = "about:blank"
    title: ClassVar[str] = "Error"
    status: ClassVar[int] = 400

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extensions)
        return body


class ConfigurationError(GatewayError):
    type = PROBLEM_BASE + "configuration"
    title = "The gateway is misconfigured"
    status = 500


class InvalidInput(GatewayError):
    type = PROBLEM_BASE + "invalid-input"
    title = "The input is not valid"
    status = 400


class NotFound(GatewayError):
    type = PROBLEM_BASE + "not-found"
    title = "No such resource"
    status = 404


class Conflict(GatewayError):
    type = PROBLEM_BASE + "conflict"
    title = "The request conflicts with the current state"
    status = 409


class AuditUnavailable(GatewayError):
    """The access log could not be written, so nothing may happen (DESIGN: the log comes first)."""

    type = PROBLEM_BASE + "audit-unavailable"
    title = "The access log cannot be written"
    status = 503


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = Response(
        json.dumps(body), status=body["status"], mimetype=PROBLEM_JSON, headers=headers
    )
    return response


def _allow_header(error: HTTPException) -> dict[str, str] | None:
    methods = getattr(error, "valid_methods", None)
    return {"Allow": ", ".join(methods)} if methods else None


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(GatewayError)
    def _domain(error: GatewayError) -> Response:
        return problem_response(error.problem())

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        return problem_response(
            {
                "type": "about:blank",
                "title": error.name,
                "status": status,
                "detail": error.description,
            },
            headers=_allow_header(error),
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        # Logged with its traceback for operators; the caller sees no internals.
        app.logger.exception("unhandled error")
        return problem_response(
            {
                "type": "about:blank",
                "title": "Internal Server Error",
                "status": 500,
                "detail": "The gateway could not complete the request.",
            }
        )
