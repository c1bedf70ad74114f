"""The Joint-Use Gateway: the one door through which designated resellers reach the joint-use
items of clause 22, paragraph 3 of the company's terms — and nothing else."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway import logs
from gateway.audit.group_commit import GroupCommit
from gateway.clock import Clock
from gateway.config import Config
from gateway.errors import register_error_handlers
from gateway.ratelimit.service import RateLimits
from gateway.runtime import Runtime

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}\Z")


def create_app(config: Config | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the gateway from ``config`` (default: the environment)."""
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["JSON_SORT_KEYS"] = False
    runtime = Runtime.open(config, clock)
    app.extensions["gateway"] = runtime

    app.extensions["group_commit"] = GroupCommit(runtime)
    app.extensions["rate_limits"] = RateLimits(config)
    if config.trusted_proxies:
        # The client's address for the per-address limits: the one the nearest trusted proxy
        # appended to X-Forwarded-For. Nothing else is taken from forwarded headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=0, x_host=0, x_port=0, x_prefix=0)  # fmt: skip

    register_error_handlers(app)
    _register_request_ids(app)
    if config.issuer.startswith("https://"):
        _register_strict_transport(app)
    logs.configure(app)

    from gateway.audit import sealing
    from gateway.console import views as console
    from gateway.health.views import blueprint as health
    from gateway.oauth import views as oauth
    from gateway.problems import blueprint as problems
    from gateway.removals.views import blueprint as removals
    from gateway.sharing.openapi import blueprint as openapi
    from gateway.sharing.views import blueprint as sharing

    app.register_blueprint(health)
    oauth.init_app(app, runtime)
    app.register_blueprint(sharing)
    app.register_blueprint(removals)
    app.register_blueprint(openapi)
    app.register_blueprint(problems)
    console.init_app(app, runtime)
    sealing.init_app(app, runtime)  # checkpoints on the schedule, from every worker
    return app


def shutdown(app: Flask) -> None:
    """Stop what :func:`create_app` started — the sealing thread, the database pool — for a
    process that built an app and is done with it (the demo's first sync, tests)."""
    app.extensions["gateway.sealer"].stop()
    app.extensions["gateway"].close()


def runtime_of(app: Flask) -> Runtime:
    return app.extensions["gateway"]


# RFC 6797: browsers and clients that honour it never speak plain HTTP to the gateway again
# for a year. Sent on every answer once the public URL is https (TLS may end at a proxy).
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def _register_strict_transport(app: Flask) -> None:
    @app.after_request
    def _strict_transport(response: Response) -> Response:
        response.headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
        return response


def _register_request_ids(app: Flask) -> None:
    """Every request carries an id into the log and back to the caller (``X-Request-Id``);
    a caller's own id is kept when it is well-formed, so both sides can match records."""

    @app.before_request
    def _assign() -> None:
        offered = request.headers.get("X-Request-Id", "")
        g.request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex

    @app.after_request
    def _echo(response: Response) -> Response:
        request_id = getattr(g, "request_id", None)
        if request_id:
            response.headers["X-Request-Id"] = request_id
        return response
