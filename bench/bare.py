"""The ceiling: a bare Flask endpoint returning a ~1 KB JSON document from memory, served by
the same gunicorn settings as the gateway. Every gateway case is reported as a ratio to it."""

from __future__ import annotations

from flask import Flask, Response

DOCUMENT = {
    "customer_id": "C-00000001",
    "updated_at": "2026-04-01T09:00:00.000000Z",
    "account_id": "acct-00000001",
    "company_name": "Example Trading K.K.",
    "department": "General Affairs",
    "title": "Manager",
    "name": "Example Person",
    "address": "1-2-3 Example-cho, Chiyoda-ku, Tokyo 101-0041",
    "email": "person@example.com",
    "phone": "03-0000-0000",
    "fax": "03-0000-0001",
    "contract": {
        "application_date": "2025-01-10",
        "contract_date": "2025-02-01",
        "services": ["sync", "backup", "support"],
        "usage_status": "active",
        "payment_method": "invoice",
    },
    "fees": {"plan": "business", "monthly_amount": "12000", "currency": "JPY"},
    "inquiries": [
        {
            "inquiry_id": "Q-1",
            "received_at": "2026-03-01T10:00:00+09:00",
            "content": "How do I add a device?",
            "investigation": "Checked the account's device limit.",
            "answer": "Devices are added from the settings page.",
            "answered_at": "2026-03-01T15:00:00+09:00",
        }
    ],
}

app = Flask(__name__)


@app.get("/bare")
def bare() -> Response:
    return app.json.response(DOCUMENT)


@app.get("/healthz")
def healthz() -> Response:
    return app.json.response({"status": "ok"})
