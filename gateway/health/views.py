"""``/healthz``: the process is up. ``/readyz``: the database answers, its schema is current
and the token-signing key is loaded."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gateway import db
from gateway.errors import GatewayError

blueprint = Blueprint("health", __name__)


class NotReady(GatewayError):
    rule = "service_ready"
    status = 503


@blueprint.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    engine = current_app.extensions["gateway"].engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        db.require_current(engine)
    except (SQLAlchemyError, GatewayError):
        return NotReady("the database is unreachable or not migrated").response()
    try:
        current_app.extensions["oauth"].keys.require_ready()
    except GatewayError:
        return NotReady("no token-signing key: run 'gateway keys init'").response()
    return jsonify(status="ready")
