"""The access log's actions: the one list of names an entry may carry.

The spine refuses any other (a misspelt action would be a silent hole in the privacy desk's
reports); the console offers these as choices, the reports and the anomaly rules read the
data actions from here. What each action's entry holds is described in
:mod:`gateway.audit.spine`.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    PARTNER_ADD = "partner.add"
    PARTNER_NDA = "partner.nda"
    PARTNER_REVOKE = "partner.revoke"
    PARTNER_LIMITS = "partner.limits"
    PARTNER_DESTRUCTION = "partner.destruction"
    CLIENT_ADD = "client.add"
    CLIENT_CONSTRAIN = "client.constrain"
    CLIENT_DISABLE = "client.disable"
    CLIENT_KEYS = "client.keys"
    KEY_INIT = "key.init"
    KEY_ROTATE = "key.rotate"
    CUSTOMERS_LIST = "customers.list"
    CUSTOMERS_READ = "customers.read"
    CUSTOMERS_IMPORT = "customers.import"
    CUSTOMERS_STOP_USE = "customers.stop_use"
    CUSTOMERS_RESUME_USE = "customers.resume_use"
    CUSTOMERS_ERASE = "customers.erase"
    CUSTOMERS_READMIT = "customers.readmit"
    DESIGNATION_ADD = "designation.add"
    DESIGNATION_WITHDRAW = "designation.withdraw"
    DESIGNATIONS_IMPORT = "designations.import"
    TOKEN_ISSUE = "token.issue"  # noqa: S105 - an action name
    TOKEN_INTROSPECT = "token.introspect"  # noqa: S105 - an action name
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an action name
    EVENTS_POLL = "events.poll"
    REMOVAL_NOTIFY = "removal.notify"
    AUDIT_CHECKPOINT = "audit.checkpoint"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_EXPORT = "audit.export"
    AUDIT_REPORT = "audit.report"
    AUDIT_BROWSE = "audit.browse"
    ANOMALY_REVIEW = "anomaly.review"
    RIGHTS_OPEN = "rights.open"
    RIGHTS_ACT = "rights.act"
    RIGHTS_CLOSE = "rights.close"
    CONSOLE_LOGIN = "console.login"
    CONSOLE_LOGOUT = "console.logout"
    CONSOLE_VIEW = "console.view"
    CONSOLE_REFUSED = "console.refused"
    STAFF_ADD = "staff.add"
    STAFF_DISABLE = "staff.disable"


# The actions that disclose customer data to a reseller.
DATA_ACTIONS = (Action.CUSTOMERS_LIST, Action.CUSTOMERS_READ)
