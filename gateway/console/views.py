"""HTTP of the console: parse → call the service → render; and the public joint-use notice.

Sessions are Flask's signed cookies (secret: :mod:`gateway.console.secret`), opened only under
``/console``: ``HttpOnly``, ``SameSite=Strict``, ``Secure`` (and the ``__Host-`` name) when
the issuer is https. A session holds the staff name, the account's session generation (raised
by sign-out and disable, which ends every session of the account), when it began and when it
was last used: it ends after :data:`SESSION_LIFETIME`, or after :data:`IDLE_LIMIT` unused.

Every POST form carries the session's CSRF token, compared in constant time; a post without
it is refused and logged. Every page viewed and every action is logged through the spine.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit import anomalies as anomaly_rules
from gateway.audit import answers, leaks, reports, subjects
from gateway.audit.checkpoint import CheckpointKeys
from gateway.audit.export import ExportFilter, export_log
from gateway.audit.reading import snapshot
from gateway.audit.service import verify_log
from gateway.audit.spine import Event, Outcome, Subject, record
from gateway.audit.window import Window, parse_bound
from gateway.console import service
from gateway.console.secret import session_secret
from gateway.customers import erasure
from gateway.customers import service as customer_service
from gateway.designations.service import withdraw_designation
from gateway.errors import AuditUnavailable, GatewayError, InvalidInput
from gateway.notice import item_labels
from gateway.partners.service import ended_without_destruction, revoke_partner
from gateway.policy import JOINT_USE_PURPOSES
from gateway.ratelimit.service import RULE as RATE_LIMIT_RULE
from gateway.rights import service as rights
from gateway.rights.models import KINDS, OUTCOMES
from gateway.runtime import Runtime

SESSION_LIFETIME = timedelta(hours=8)
IDLE_LIMIT = timedelta(minutes=30)
CONSOLE = "/console"

blueprint = Blueprint("console", __name__, url_prefix=CONSOLE, template_folder="templates",
                      static_folder="static", static_url_path="/static")  # fmt: skip
public = Blueprint("notice", __name__, template_folder="templates")

_SECURITY_HEADERS = {
    # No scripts but our own file, no frames, no assets from anywhere else.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, opened only for the console, with the secret read
    lazily from the key directory (so the partner API never touches it)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._secret: bytes | None = None

    def get_signing_serializer(self, app: Flask):  # type: ignore[no-untyped-def]
        if self._secret is None:
            self._secret = session_secret(self._runtime.config.keys_dir)
        app.secret_key = self._secret
        return super().get_signing_serializer(app)

    def open_session(self, app: Flask, request):  # type: ignore[no-untyped-def]
        if not request.path.startswith(CONSOLE + "/") or request.path.startswith(
            CONSOLE + "/static/"
        ):
            return self.null_session_class()
        return super().open_session(app, request)


def init_app(app: Flask, runtime: Runtime) -> None:
    secure = runtime.config.issuer.startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME="__Host-console" if secure else "console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.session_interface = ConsoleSessionInterface(runtime)
    labels = item_labels()
    app.add_template_filter(
        lambda name: f"{name}（{labels[name]}）" if name in labels else name, "item_label"
    )
    app.register_blueprint(blueprint)
    app.register_blueprint(public)
    _publish_notice(app, runtime)


def _publish_notice(app: Flask, runtime: Runtime) -> None:
    """Record the day the notice took its current form; say so when it is incomplete."""
    missing = runtime.config.notice_missing
    if missing:
        app.logger.warning(
            "the public joint-use notice is incomplete (APPI art. 27(5)(iii)): set %s",
            " and ".join(missing),
        )
    try:
        with runtime.transaction() as db:
            service.publish_notice(db, runtime.clock, runtime.config)
    except SQLAlchemyError:  # another worker recorded it first, or the database is not ready
        app.logger.info("notice revision not recorded at start")


def _runtime() -> Runtime:
    return current_app.extensions["gateway"]


def _now() -> int:
    return int(_runtime().clock.now().timestamp())


def _record(event_kw: dict[str, Any]) -> None:
    runtime = _runtime()
    with runtime.transaction() as db:
        record(db, Event(request_id=g.request_id, **event_kw), clock=runtime.clock)


# --- every console response -------------------------------------------------------------------


@blueprint.after_request
@public.after_request
def _headers(response: Response) -> Response:
    response.headers.update(_SECURITY_HEADERS)
    if request.blueprint == "console" and request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.app_context_processor
def _context() -> dict[str, Any]:
    return {
        "csrf_token": session.get("csrf", "") if request.path.startswith(CONSOLE) else "",
        "staff": getattr(g, "staff", None),
        "can": lambda permission: (
            getattr(g, "staff", None) is not None and service.allowed(g.staff["role"], permission)
        ),
    }


@blueprint.before_request
def _csrf() -> Response | None:
    """Every POST carries the session's token (the synchroniser-token pattern)."""
    if request.method != "POST":
        return None
    expected = session.get("csrf")
    offered = request.form.get("csrf_token", "")
    if expected and hmac.compare_digest(expected.encode(), offered.encode()):
        return None
    name = session.get("staff")
    with contextlib.suppress(AuditUnavailable):  # a refusal stands even unlogged
        _record(dict(
            action="console.refused",
            actor=service.staff_actor(name) if name else service.ANONYMOUS,
            outcome=Outcome.DENIED, rule="csrf_token",
            details={"path": request.path[:200]},
        ))  # fmt: skip
    return _page("refused.html", 400, reason="csrf")


def _page(template: str, http_status: int = 200, **context: Any) -> Response:
    return Response(render_template(f"console/{template}", **context), status=http_status,
                    mimetype="text/html")  # fmt: skip


# --- who is signed in -------------------------------------------------------------------------


def _signed_in() -> dict[str, Any] | None:
    name, generation = session.get("staff"), session.get("gen")
    issued, seen = session.get("issued", 0), session.get("seen", 0)
    if not name or generation is None:
        return None
    now = _now()
    if now - issued > SESSION_LIFETIME.total_seconds() or now - seen > IDLE_LIMIT.total_seconds():
        return None
    with _runtime().reading() as db:
        account = service.active_account(db, name, generation)
        if account is None:
            return None
        staff = {"name": account.name, "role": account.role}
    session["seen"] = now
    return staff


def requires(permission: str | None, page: str) -> Callable[[Callable[..., Any]], Any]:
    """Sign-in, then the role's permission; the view (or its refusal) is logged."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            staff = _signed_in()
            if staff is None:
                session.pop("staff", None)
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            g.staff = staff
            g.actor = service.staff_actor(staff["name"])
            if permission is not None and not service.allowed(staff["role"], permission):
                _record(dict(action="console.view", actor=g.actor, outcome=Outcome.DENIED,
                             rule="staff_role",
                             details={"page": page, "role": staff["role"]}))  # fmt: skip
                return _page("refused.html", 403, reason="role")
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _viewed(page: str, **details: Any) -> None:
    _record(dict(action="console.view", actor=g.actor, details={"page": page, **details}))


def _safe_next(target: str | None) -> str:
    if target and target.startswith(CONSOLE + "/") and "//" not in target and "\\" not in target:
        return target
    return url_for("console.home")


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    next_page = request.values.get("next")
    if request.method == "GET":
        return _page("login.html", next_page=next_page)
    name = request.form.get("name", "")[:200]
    password = request.form.get("password", "")[:2000]
    runtime = _runtime()
    # Too many failed sign-ins from this address: refused before the password's slow hash.
    limits = current_app.extensions["rate_limits"]
    address = request.remote_addr or "unknown"
    limited = limits.failures_allowed(address)
    if limited is not None:
        if limited.logged:
            with runtime.transaction() as db:
                service.sign_in_refused(db, runtime.clock, rule=RATE_LIMIT_RULE,
                                        details=limited.details("address") | {"source": address},
                                        request_id=g.request_id)  # fmt: skip
        response = _page("login.html", 429, retry_after=limited.retry_after, next_page=next_page)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    with runtime.reading() as db:
        password_ok = service.password_matches(db, name, password)
    with runtime.transaction() as db:
        result = service.sign_in(db, runtime.clock, name=name, password_ok=password_ok,
                                 request_id=g.request_id)  # fmt: skip
        account = result.account
        staff = (account.name, account.session_generation) if result.ok and account else None
    if staff is None:
        limits.failed(address)
        return _page("login.html", 401, failed=True, next_page=next_page)
    session.clear()  # a new session on sign-in: nothing carried over from before
    now = _now()
    session.update(staff=staff[0], gen=staff[1], issued=now, seen=now,
                   csrf=secrets.token_urlsafe(32))  # fmt: skip
    session.permanent = True
    return redirect(_safe_next(next_page))


@blueprint.post("/logout")
@requires(None, "logout")
def logout() -> Any:
    runtime = _runtime()
    with runtime.transaction() as db:
        service.sign_out(db, runtime.clock, name=g.staff["name"], request_id=g.request_id)
    session.clear()
    return redirect(url_for("console.login", signed_out=1))


@blueprint.get("/")
@requires(None, "home")
def home() -> Any:
    _viewed("home")
    return _page("home.html", notice_missing=_runtime().config.notice_missing)


# --- the privacy desk -------------------------------------------------------------------------


def _bound(name: str, *, until: bool, errors: list[str]) -> Any:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_bound(raw, until=until)
    except GatewayError as error:
        errors.append(error.detail)
        return None


def _arg(name: str, limit: int = 128) -> str | None:
    value = request.args.get(name, "").strip()[:limit]
    return value or None


@blueprint.get("/log")
@requires("log.read", "log")
def log() -> Any:
    errors: list[str] = []
    outcome = _arg("outcome")
    purpose = _arg("purpose")
    if outcome and outcome not in service.OUTCOMES:
        errors.append("outcome: allowed or denied")
        outcome = None
    if purpose and purpose not in JOINT_USE_PURPOSES:
        errors.append("purpose: " + " or ".join(sorted(JOINT_USE_PURPOSES)))
        purpose = None
    filt = service.LogFilter(
        since=_bound("since", until=False, errors=errors),
        until=_bound("until", until=True, errors=errors),
        partner=_arg("partner"), customer=_arg("customer"), action=_arg("action", 64),
        outcome=outcome, purpose=purpose,
    )  # fmt: skip
    with snapshot(_runtime().engine) as connection:
        choices = subjects.partner_choices(connection)
        for check in (
            (lambda: subjects.require_partner(connection, filt.partner)) if filt.partner else None,
            (lambda: subjects.require_customer(connection, filt.customer))
            if filt.customer else None,
        ):  # fmt: skip
            unknown = _unknown(check) if check else None
            if unknown is not None:
                errors.append(unknown.detail)
    before_raw = request.args.get("before", "")
    before = int(before_raw) if before_raw.isdigit() and len(before_raw) <= 18 else None
    # Reading the log is an access too: logged before the page is read.
    _record(dict(action="audit.browse", actor=g.actor, subjects=filt.subjects(),
                 details=filt.as_details() | {"before": before}))  # fmt: skip
    with snapshot(_runtime().engine) as connection:
        page = service.log_page(connection, filt, before=before)
    query = {k: v for k, v in request.args.items() if k != "before" and v}
    older = None
    if page.older is not None:
        older = url_for("console.log") + "?" + urlencode(query | {"before": page.older})
    newest = url_for("console.log") + ("?" + urlencode(query) if query else "")
    return _page("log.html", page=page, args=request.args, errors=errors, older=older,
                 choices=choices,
                 newest=newest if before else None, actions=service.KNOWN_ACTIONS,
                 purposes=sorted(JOINT_USE_PURPOSES), outcomes=service.OUTCOMES)  # fmt: skip


@blueprint.get("/reports/customer")
@requires("report.customer", "report.customer")
def customer_report() -> Any:
    customer_id, query = _arg("customer_id"), _arg("q", 200)
    result, matches, unknown = None, None, None
    runtime = _runtime()
    if customer_id:
        with snapshot(runtime.engine) as connection:
            unknown = _unknown(lambda: subjects.require_customer(connection, customer_id))
    linked = _arg("request", 16)
    if customer_id and unknown is None and linked:
        try:  # the disclosure answer to a request in the register
            with runtime.transaction() as db:
                rights.link(
                    db,
                    runtime.clock,
                    g.actor,
                    request=linked,
                    customer_id=customer_id,
                    action="disclosure_report",
                    request_id=g.request_id,
                )
        except GatewayError as refused:
            return _page(
                "customer_report.html",
                409,
                result=None,
                customer_id=customer_id,
                query="",
                matches=None,
                unknown=None,
                generated_at=runtime.clock.now(),
                link_error=refused.detail,
            )
    if customer_id and unknown is None:
        _record(dict(action="audit.report", actor=g.actor,
                     subjects=(Subject("customer", customer_id),),
                     details={"report": "customer", "via": "console"}))  # fmt: skip
        with snapshot(runtime.engine) as connection:
            result = answers.customer_answer(connection, customer_id, runtime.config.zone,
                                             runtime.clock.now())  # fmt: skip
        config = runtime.config
        result["letter"] = answers.letter(result, config.controller_name,
                                          config.privacy_desk_contact)  # fmt: skip
    elif query:
        # Searching the store by the customer's own data is a reading too: logged, with the
        # number found, never the words searched for (they may be a name or a phone number).
        with snapshot(runtime.engine) as connection:
            matches = subjects.find_customers(connection, query)
        _viewed("report.customer", search=True, found=len(matches))
    else:
        _viewed("report.customer")
    return _page("customer_report.html", 404 if unknown else 200, result=result,
                 customer_id=customer_id or "", query=query or "", matches=matches,
                 unknown=unknown, generated_at=runtime.clock.now())  # fmt: skip


def _unknown(check: Callable[[], None]) -> subjects.UnknownSubject | None:
    try:
        check()
    except subjects.UnknownSubject as refused:
        return refused
    return None


@blueprint.get("/reports/breach")
@requires("report.breach", "report.breach")
def breach_report() -> Any:
    """A leak sized for the regulator: one reseller (or one of its clients), a window that
    defaults to its first disclosure up to today, the reporting test and the deadlines."""
    partner_id, client_id = _arg("partner"), _arg("client", 64)
    since, until, learnt = _arg("since", 40), _arg("until", 40), _arg("learnt_on", 10)
    wants_csv = request.args.get("format") == "csv"
    runtime = _runtime()
    zone = runtime.config.zone
    today = runtime.clock.now().astimezone(zone).date()
    result, error, unknown, clients = None, None, None, []
    with snapshot(runtime.engine) as connection:
        choices = subjects.partner_choices(connection)
        if partner_id:
            unknown = _unknown(lambda: subjects.require_partner(connection, partner_id))
            clients = service.partner_clients(connection, partner_id)
            first = reports.first_disclosure(connection, partner_id)
    if partner_id and unknown is None:
        try:
            findings = leaks.OfficersFindings(
                learnt_on=date.fromisoformat(learnt) if learnt else today,
                unlawful_purpose=bool(request.args.get("unlawful_purpose")),
                sensitive=bool(request.args.get("sensitive")),
                financial_harm=bool(request.args.get("financial_harm")),
            )  # fmt: skip
            window = Window.parse(since or first or today.isoformat(),
                                  until or today.isoformat(), zone)  # fmt: skip
        except ValueError:
            error = "learnt on: a date, YYYY-MM-DD"
        except GatewayError as refused:
            error = refused.detail
        else:
            _record(dict(action="audit.report", actor=g.actor,
                         subjects=(Subject("partner", partner_id),)
                         + ((Subject("client", client_id),) if client_id else ()),
                         details={"report": "breach", "since": window.start_at,
                                  "until": window.last_at, "via": "console",
                                  "format": "csv" if wants_csv else "html"}))  # fmt: skip
            with snapshot(runtime.engine) as connection:
                result = leaks.leak_report(connection, partner_id, window, findings, zone,
                                           client_id)  # fmt: skip
                if wants_csv:
                    return _breach_csv(connection, result, zone)
    if result is None:
        _viewed("report.breach")
    return _page("breach_report.html", 404 if unknown else (400 if error else 200),
                 result=result, error=error, unknown=unknown, choices=choices, clients=clients,
                 args=request.args, today=today.isoformat(),
                 csv_url=url_for("console.breach_report",
                                 **(request.args.to_dict() | {"format": "csv"})))  # fmt: skip


def _breach_csv(connection: Any, result: dict[str, Any], zone: Any) -> Response:
    name = f"breach-{result['partner_id']}-{result['since'][:10]}-{result['until'][:10]}.csv"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return Response(
        leaks.notification_csv(connection, result, zone),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )


@blueprint.get("/anomalies")
@requires("anomalies", "anomalies")
def anomalies() -> Any:
    runtime = _runtime()
    zone = runtime.config.zone
    day = runtime.clock.now().astimezone(zone).date()
    since = _arg("since", 40) or (day - timedelta(days=6)).isoformat()
    until = _arg("until", 40) or day.isoformat()
    flags, error = [], None
    try:
        window = Window.parse(since, until, zone)
    except GatewayError as refused:
        error = refused.detail
        _viewed("anomalies")
    else:
        _record(dict(action="audit.report", actor=g.actor,
                     details={"report": "anomalies", "since": window.start_at,
                              "until": window.last_at, "via": "console"}))  # fmt: skip
        with snapshot(runtime.engine) as connection:
            found = anomaly_rules.find_anomalies(connection, window, zone,
                                                 runtime.config.removal_due_days, day)  # fmt: skip
            flags = [f.as_dict() | {"entries": _flag_entries(f)} for f in found]
    return _page("anomalies.html", flags=flags, since=since, until=until, error=error,
                 reviewed=request.args.get("reviewed"))  # fmt: skip


def _flag_entries(flag: anomaly_rules.Flag) -> str:
    """The log page filtered to the entries behind a flag."""
    query: dict[str, str] = {"since": flag.first, "until": flag.last}
    if flag.partner:
        query["partner"] = flag.partner
    if flag.customer:
        query["customer"] = flag.customer
    if flag.rule in ("denials", "withheld"):
        query["outcome"] = "denied"
    elif flag.rule == "off_hours":
        query["action"] = "customers.read"
    return url_for("console.log") + "?" + urlencode(query)


@blueprint.post("/anomalies/review")
@requires("anomalies", "anomalies.review")
def review_anomaly() -> Any:
    """Mark a flag reviewed: by whom (the signed-in officer), when, a note; logged."""
    runtime = _runtime()
    flag_id = request.form.get("flag", "")[:64]
    try:
        with runtime.transaction() as db:
            anomaly_rules.review(db, runtime.clock, g.actor, flag_id=flag_id,
                                 note=request.form.get("note", "")[:2000],
                                 request_id=g.request_id)  # fmt: skip
    except GatewayError as refused:
        return _page("anomalies.html", 400, flags=[], since="", until="", error=refused.detail,
                     reviewed=None)  # fmt: skip
    back = {k: v for k in ("since", "until") if (v := request.form.get(k, "")[:40])}
    return redirect(url_for("console.anomalies", reviewed=flag_id, **back) + f"#{flag_id}")


@blueprint.route("/verification", methods=["GET", "POST"])
@requires("verify", "verification")
def verification() -> Any:
    runtime = _runtime()
    report = None
    if request.method == "POST":
        trusted = CheckpointKeys(runtime.config.keys_dir).trusted()
        result = verify_log(runtime.engine, trusted)
        problem = result.first_break
        # Logged after it ran, with its verdict, as from the CLI (gateway.audit.service).
        with contextlib.suppress(AuditUnavailable):
            _record(dict(action="audit.verify", actor=g.actor,
                         details={"intact": result.intact, "entries": result.entries,
                                  "first_break": problem.seq if problem else None,
                                  "via": "console"}))  # fmt: skip
        report = result.as_dict()
    else:
        _viewed("verification")
    with snapshot(runtime.engine) as connection:
        status = service.verification_status(connection)
    return _page("verification.html", status=status, report=report)


@blueprint.get("/verification/checkpoint-keys.json")
@requires("verify", "checkpoint-keys")
def checkpoint_keys() -> Any:
    """The published checkpoint public keys, for an auditor's offline verification."""
    keys = CheckpointKeys(_runtime().config.keys_dir)
    if not keys.published_path.exists():
        _viewed("checkpoint-keys", found=False)
        return _page("refused.html", 404, reason="missing")
    _viewed("checkpoint-keys")
    return Response(
        keys.published_path.read_bytes(),
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="checkpoint-keys.json"'},
    )


@blueprint.post("/verification/export")
@requires("verify", "export")
def export() -> Any:
    """The whole log as JSON lines, anchored by a checkpoint sealed for it: what an auditor
    verifies offline with the public keys above. Logged first, as from the CLI."""
    runtime = _runtime()
    keys = CheckpointKeys(runtime.config.keys_dir)
    if keys.current() is None:
        _viewed("export", found=False)
        return _page("refused.html", 409, reason="no-checkpoint-key")
    anchor, _, chunks = export_log(runtime, g.actor, keys, ExportFilter(), "jsonl",
                                   request_id=g.request_id, details={"via": "console"})  # fmt: skip
    name = f"access-log-{anchor.statement.size}.jsonl"
    return Response(
        stream_with_context(chunks),
        mimetype="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- the rights register ----------------------------------------------------------------------

_SHOW = ("open", "overdue", "closed", "all")


@blueprint.get("/rights")
@requires("rights", "rights")
def rights_register() -> Any:
    """The register of paragraph-6 requests: open, overdue, closed; and a form to open one."""
    runtime = _runtime()
    show = request.args.get("show", "open")
    show = show if show in _SHOW else "open"
    with runtime.reading() as db:
        views = rights.register(
            db,
            runtime.clock,
            runtime.config,
            only_open=show == "open",
            only_overdue=show == "overdue",
        )
    if show == "closed":
        views = [v for v in views if v.request.status == "closed"]
    _viewed("rights", show=show)
    today = runtime.clock.now().astimezone(runtime.config.zone).date()
    return _page(
        "rights.html",
        views=[v.as_dict() for v in views],
        show=show,
        kinds=KINDS,
        today=today.isoformat(),
        error=request.args.get("error"),
    )


@blueprint.post("/rights")
@requires("rights", "rights.open")
def rights_open() -> Any:
    runtime = _runtime()
    try:
        received = date.fromisoformat(request.form.get("received_on", "")[:10])
        with runtime.transaction() as db:
            opened = rights.open_request(
                db,
                runtime.clock,
                runtime.config,
                g.actor,
                customer_id=request.form.get("customer_id", "").strip()[:64],
                kind=request.form.get("kind", ""),
                received_on=received,
                reference=request.form.get("reference", "")[:200] or None,
                request_id=g.request_id,
            )
    except ValueError:
        return redirect(url_for("console.rights_register", error="received on: YYYY-MM-DD"))
    except GatewayError as refused:
        return redirect(url_for("console.rights_register", error=refused.detail[:300]))
    return redirect(url_for("console.rights_request", request_id=opened.id))


@blueprint.get("/rights/<request_id>")
@requires("rights", "rights.request")
def rights_request(request_id: str) -> Any:
    runtime = _runtime()
    with runtime.reading() as db:
        found = rights.register(db, runtime.clock, runtime.config, request=request_id[:16])
        resellers = rights.designated_resellers(db, found[0].request.customer_id) if found else []
    if not found:
        _viewed("rights.request", found=False)
        return _page("refused.html", 404, reason="missing")
    _viewed("rights.request", request=request_id)
    return _page(
        "rights_request.html",
        view=found[0].as_dict(),
        resellers=resellers,
        outcomes=OUTCOMES,
        error=request.args.get("error"),
    )


@blueprint.post("/rights/<request_id>/act")
@requires("rights", "rights.act")
def rights_act(request_id: str) -> Any:
    """Stop use, erase, or withdraw a designation for the request — through the same services
    as the CLI, linked to the request in the same transaction."""
    runtime = _runtime()
    action = request.form.get("action", "")
    partner_id = request.form.get("partner", "")[:64]
    try:
        with runtime.transaction() as db:
            found = rights.get_request(db, request_id[:16])
            customer_id = found.customer_id
            if action == "erase" and request.form.get("confirm") != "yes":
                raise InvalidInput("tick the confirmation: an erasure cannot be undone")
            rights.link(
                db,
                runtime.clock,
                g.actor,
                request=found.id,
                customer_id=customer_id,
                action=action,
                detail=partner_id or None,
                request_id=g.request_id,
            )
            if action == "stop_use":
                customer_service.stop_use(
                    db, runtime.clock, g.actor, customer_id=customer_id, request_id=g.request_id
                )
            elif action == "erase":
                erasure.erase(
                    db,
                    runtime.clock,
                    g.actor,
                    customer_id=customer_id,
                    request=found.id,
                    request_id=g.request_id,
                )
            elif action == "withdraw":
                withdraw_designation(
                    db,
                    runtime.clock,
                    g.actor,
                    customer_id=customer_id,
                    partner_id=partner_id,
                    request_id=g.request_id,
                )
            else:
                raise InvalidInput("action: stop_use, erase or withdraw")
    except GatewayError as refused:
        return redirect(
            url_for(
                "console.rights_request", request_id=request_id[:16], error=refused.detail[:300]
            )
        )
    if action == "erase":
        erasure.scrub(runtime)
    return redirect(url_for("console.rights_request", request_id=request_id[:16]))


@blueprint.post("/rights/<request_id>/close")
@requires("rights", "rights.close")
def rights_close(request_id: str) -> Any:
    runtime = _runtime()
    try:
        with runtime.transaction() as db:
            rights.close_request(
                db,
                runtime.clock,
                g.actor,
                request=request_id[:16],
                outcome=request.form.get("outcome", ""),
                note=request.form.get("note", "")[:2000],
                request_id=g.request_id,
            )
    except GatewayError as refused:
        return redirect(
            url_for(
                "console.rights_request", request_id=request_id[:16], error=refused.detail[:300]
            )
        )
    return redirect(url_for("console.rights_request", request_id=request_id[:16]))


# --- the operators ----------------------------------------------------------------------------


@blueprint.get("/resellers")
@requires("resellers.read", "resellers")
def resellers() -> Any:
    _viewed("resellers")
    runtime = _runtime()
    with runtime.reading() as db:
        overview = service.reseller_overview(db, runtime.clock)
        ended = ended_without_destruction(db, runtime.clock)
    return _page("resellers.html", resellers=overview, ended=ended,
                 revoked=request.args.get("revoked"))


@blueprint.route("/resellers/<partner_id>/revoke", methods=["GET", "POST"])
@requires("resellers.revoke", "resellers.revoke")
def revoke(partner_id: str) -> Any:
    """Two steps: the reason, then a confirmation naming the reseller; only the second POST
    revokes, through the same service as ``gateway partners revoke``."""
    runtime = _runtime()
    with runtime.reading() as db:
        found = [r for r in service.reseller_overview(db, runtime.clock) if r["id"] == partner_id]
    if not found:
        _viewed("resellers.revoke", partner=partner_id[:64], found=False)
        return _page("refused.html", 404, reason="missing")
    reseller = found[0]
    reason = request.form.get("reason", "").strip()
    step = request.form.get("step") if request.method == "POST" else None
    error = None
    if step == "revoke" and request.form.get("confirm") == "yes" and reason:
        try:
            with runtime.transaction() as db:
                revoke_partner(db, runtime.clock, g.actor, partner_id=partner_id, reason=reason,
                               request_id=g.request_id)  # fmt: skip
        except GatewayError as refused:
            error = refused.detail
        else:
            return redirect(url_for("console.resellers", revoked=partner_id))
    elif step in ("confirm", "revoke") and not reason:
        error = "give a reason"
    elif step == "revoke":
        error = "tick the confirmation box"
    confirming = step in ("confirm", "revoke") and bool(reason)
    _viewed("resellers.revoke", partner=partner_id, step=step or "reason")
    return _page("revoke.html", 400 if error else 200, reseller=reseller, reason=reason,
                 error=error, confirming=confirming)  # fmt: skip


# --- the public notice ------------------------------------------------------------------------


@public.get("/joint-use")
def joint_use() -> Any:
    """The joint-use notice (APPI art. 27(5)(iii)): no sign-in, nothing logged about the
    reader, generated from the allowlist and the resellers in force today."""
    runtime = _runtime()
    config = runtime.config
    with runtime.reading() as db:  # a public page takes no write lock
        notice = service.notice(db, runtime.clock)
        published_on = service.notice_published_on(db, config)
    return Response(
        render_template("console/notice.html", notice=notice, controller=config.controller_name,
                        address=config.controller_address,
                        representative=config.controller_representative,
                        contact=config.privacy_desk_contact, published_on=published_on,
                        missing=config.notice_missing),
        mimetype="text/html",
    )  # fmt: skip
