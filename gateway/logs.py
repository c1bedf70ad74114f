"""Structured application logs: one JSON object a line on stderr.

What goes here is for operators: request ids, routes (the rule, ``/v1/customers/<customer_id>``,
never the path with its ids or the query string), statuses, timings, errors. Never personal
data values, tokens or secrets — the access log of record is the hash-chained audit log, not
this.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, Response, g, request

_CONFIGURED = "_gateway_json_logging"


class JsonFormatter(logging.Formatter):
    _second: tuple[int, str] = (-1, "")  # the last second formatted (one line per request)

    def format(self, record: logging.LogRecord) -> str:
        second, stamp = self._second
        if second != int(record.created):
            second = int(record.created)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, stamp)
        body = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        body.update(getattr(record, "fields", {}))
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


def configure(app: Flask) -> None:
    """JSON lines for the ``gateway`` loggers and the app's own, once per process."""
    root = logging.getLogger("gateway")
    if not getattr(root, _CONFIGURED, False):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
        setattr(root, _CONFIGURED, True)
    app.logger.handlers = root.handlers
    app.logger.propagate = False
    access = logging.getLogger("gateway.access")

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _access(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule else None
        started = g.get("started")
        access.info(
            "request",
            extra={
                "fields": {
                    "request_id": g.get("request_id"),
                    "method": request.method,
                    "route": rule or "(unmatched)",
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2)
                    if started
                    else None,
                }
            },
        )
        return response
