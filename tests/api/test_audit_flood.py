"""Nobody can flood the audit trail without signing in (issue 15, hole 8): refusals that
anyone can cause are kept on the record, folded into one event per source and minute."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.app import create_app
from bgcheck.models import AuditEvent
from bgcheck.platform.settings import Settings


def test_a_burst_of_unsigned_webhooks_is_one_audit_event(fresh_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    app = create_app(Settings(data_dir=tmp_path, embedded_worker=False), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = [
            client.post("/api/v1/vendors/sandbox/webhook", content=b'{"forged": true}').status_code
            for _ in range(50)
        ]
    assert answers == [401] * 50
    with Session(engine) as session:
        refused = session.exec(
            select(AuditEvent).where(AuditEvent.action == "vendor.webhook_refused")
        ).all()
    assert len(refused) == 1
    assert refused[0].data["folded"] == 0
