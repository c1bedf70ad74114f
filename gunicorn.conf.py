"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Each setting can be changed from the environment (GATEWAY_BIND, GATEWAY_WORKERS,
GATEWAY_THREADS). The schema is migrated once, by the master process before any worker
starts; workers then only check that it is current (GATEWAY_AUTO_MIGRATE=false for them), so
workers never race to migrate. Several nodes on one PostgreSQL may still start together: the
migration itself holds a database-wide advisory lock.
"""

import os
import sys

bind = os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GATEWAY_WORKERS", "2"))
# Threads let one process hand several requests' log entries to one durable commit
# (group commit); see README "Performance".
worker_class = "gthread"
threads = int(os.environ.get("GATEWAY_THREADS", "8"))
timeout = 30
graceful_timeout = 20  # SIGTERM: finish requests in flight (and their log commits), then exit
keepalive = 5
max_requests = 20_000  # recycle workers now and then, staggered
max_requests_jitter = 2_000
# The app writes its own access log (JSON, with request ids and route rules, never the
# path's ids or the query string); gunicorn's would carry both.
accesslog = None
errorlog = "-"
loglevel = "info"
proc_name = "joint-use-gateway"
# TLS ends at a proxy: only the proxy's address may say the original scheme, and only through
# X-Forwarded-Proto (README "TLS and proxies"). URLs are never built from forwarded headers.
forwarded_allow_ips = os.environ.get("GATEWAY_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}


def on_starting(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    from gateway import db
    from gateway.config import Config
    from gateway.errors import ConfigurationError

    try:
        config = Config.from_env()
    except ConfigurationError as error:  # refuse to start, in one line
        print(f"error: {error.detail}", file=sys.stderr)
        sys.exit(1)
    if config.auto_migrate:
        engine = db.create_gateway_engine(config.database_url)
        try:
            before, after = db.upgrade(engine)
        finally:
            engine.dispose()
        server.log.info("database schema %s (was %s)", after, before or "empty")
    os.environ["GATEWAY_AUTO_MIGRATE"] = "false"
