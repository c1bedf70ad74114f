"""Domain errors, and the one place they become RFC 9457 problem+json or a CLI line.

Each error names the ``rule`` of the error catalogue (:mod:`gateway.problems`) it breaks: the
problem's ``type`` is that rule's page, its ``title`` the status's reason phrase, its
``detail`` the human explanation of this case.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from gateway.problems import problem_response


class GatewayError(Exception):
    rule: ClassVar[str] = "request_valid"
    status: ClassVar[int] = 400

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    def response(self) -> Response:
        return problem_response(self.status, self.rule, self.detail, **self.extensions)


class ConfigurationError(GatewayError):
    rule = "internal_error"
    status = 500


class InvalidInput(GatewayError):
    rule = "request_valid"
    status = 400


class NotFound(GatewayError):
    rule = "resource_exists"
    status = 404


class Conflict(GatewayError):
    rule = "state_unchanged"
    status = 409


class AuditUnavailable(GatewayError):
    """The access log could not be written, so nothing may happen (DESIGN: the log comes first)."""

    rule = "log_available"
    status = 503


# An HTTP error of the framework (no route, wrong method, body too large), by status.
_HTTP_RULES = {404: "resource_exists", 405: "method_allowed", 413: "request_size"}


def _allow_header(error: HTTPException) -> dict[str, str] | None:
    methods = getattr(error, "valid_methods", None)
    return {"Allow": ", ".join(methods)} if methods else None


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(GatewayError)
    def _domain(error: GatewayError) -> Response:
        return error.response()

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        rule = _HTTP_RULES.get(status, "request_valid" if status < 500 else "internal_error")
        return problem_response(status, rule, error.description or "", headers=_allow_header(error))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        # Logged with its traceback for operators; the caller sees no internals.
        app.logger.exception("unhandled error")
        return problem_response(500, "internal_error",
                                "The gateway could not complete the request.")  # fmt: skip
