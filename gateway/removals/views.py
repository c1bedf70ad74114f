"""``POST /v1/events``: a reseller polls its removal events (RFC 8936) and acknowledges them.

The request body (RFC 8936 §2.4): ``maxEvents`` (0–100; default 20), ``returnImmediately``
(this transmitter always answers at once), ``ack`` (jtis the reseller has acted on) and
``setErrs`` (jti → ``{"err", "description"}`` for events it could not process). The answer:
``{"sets": {jti: SET, …}, "moreAvailable": bool}``; each SET is a JWT signed with the
gateway's token key, ``typ: secevent+jwt`` (RFC 8417).

Any token of the reseller's active clients may poll — a reseller must always be able to learn
of a removal — with the same sender constraint and live checks as the rest of the partner API.
Acknowledging is the reseller's statement that its copy of the customer is deleted (for a stop
of use: no longer used). An ack or error for an unknown jti, or another reseller's, changes
nothing and reveals nothing. The poll is logged (``events.poll``: delivered, acknowledged,
errors); the acknowledgements are written by the commit that logs it.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request
from joserfc import jwt
from marshmallow import ValidationError, fields, validate

from gateway.audit.spine import Event
from gateway.clock import isoformat
from gateway.db import RawTransaction
from gateway.oauth.keys import ALGORITHM
from gateway.oauth.resource import Access, require_token
from gateway.problems import problem_response
from gateway.removals import service
from gateway.sharing.views import REQUEST_VALID
from gateway.validation import StrictSchema, describe

blueprint = Blueprint("removals", __name__, url_prefix="/v1")

DEFAULT_MAX_EVENTS = 20
MAX_EVENTS = 100
MAX_ACKS = 1000
_JTI = validate.Length(min=1, max=64)


class _SetError(StrictSchema):
    err = fields.String(required=True, validate=validate.Length(min=1, max=64))
    description = fields.String(load_default="", validate=validate.Length(max=500))


class PollRequest(StrictSchema):
    """RFC 8936 §2.4, strictly: wrong types, unknown members or absurd sizes are refused."""

    maxEvents = fields.Integer(strict=True, load_default=DEFAULT_MAX_EVENTS,
                               validate=validate.Range(min=0, max=MAX_EVENTS))  # noqa: N815  # fmt: skip
    returnImmediately = fields.Boolean(truthy={True}, falsy={False},  # noqa: N815
                                       load_default=True)  # fmt: skip
    ack = fields.List(fields.String(validate=_JTI), load_default=list,
                      validate=validate.Length(max=MAX_ACKS))  # fmt: skip
    setErrs = fields.Dict(keys=fields.String(validate=_JTI),  # noqa: N815
                          values=fields.Nested(_SetError), load_default=dict,
                          validate=validate.Length(max=MAX_ACKS))  # fmt: skip


_POLL = PollRequest()


@blueprint.post("/events")
@require_token("events.poll")
def poll() -> Response:
    access: Access = g.access
    body = request.get_json(silent=True) if request.mimetype == "application/json" else None
    try:
        if not isinstance(body, dict):
            raise ValidationError({"_schema": ["a JSON object (RFC 8936 §2.4)"]})
        asked = _POLL.load(body)
    except ValidationError as error:
        return _refuse(access, describe(error.messages))
    runtime = current_app.extensions["gateway"]
    config = runtime.config
    now = runtime.clock.now()
    acks = set(asked["ack"])
    errors = {jti: e for jti, e in asked["setErrs"].items() if jti not in acks}
    waiting = service.waiting(
        access.session, access.partner_id, asked["maxEvents"] + len(acks) + 1, config.zone,
        config.removal_due_days,
    )  # fmt: skip
    waiting = [event for event in waiting if event.jti not in acks]
    delivered = waiting[: asked["maxEvents"]]
    keys = current_app.extensions["oauth"].keys
    kid, key = keys.current()
    issuer = config.issuer
    sets = {
        event.jti: jwt.encode({"alg": ALGORITHM, "typ": "secevent+jwt", "kid": kid},
                              service.set_claims(event, issuer, int(now.timestamp())), key)
        for event in delivered
    }  # fmt: skip
    partner, client = access.partner_id, access.token.client_id
    at = isoformat(now)

    def acknowledge(connection: RawTransaction) -> None:
        if acks:
            service.ACKNOWLEDGE.executemany(connection, [
                {"event_jti": jti, "partner": partner, "at": at, "client": client}
                for jti in sorted(acks)])  # fmt: skip
        if errors:
            service.RECORD_ERROR.executemany(connection, [
                {"event_jti": jti, "partner": partner,
                 "error": f"{e['err']}: {e['description']}"[:600]}
                for jti, e in sorted(errors.items())])  # fmt: skip

    access.write_on_commit(acknowledge)
    access.log(
        Event(
            action="events.poll",
            actor=access.actor,
            subjects=access.subjects,
            request_id=g.get("request_id"),
            details={"delivered": len(sets), "acks": len(acks), "errors": len(errors)},
        )
    )
    response = jsonify(sets=sets, moreAvailable=len(waiting) > len(delivered))
    response.headers["Cache-Control"] = "no-store"
    return response


def _refuse(access: Access, detail: str) -> Response:
    access.deny(REQUEST_VALID, action="events.poll")
    # RFC 8936 §2.4.4's shape beside RFC 9457's: the same refusal, for SET clients.
    return problem_response(400, REQUEST_VALID.name, detail, err="invalid_request",
                            description=detail)  # fmt: skip
