"""`make audit-export`: the audit trail as JSON lines, oldest first, optionally since a date."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from chatops.state import AuditLog, Database, sqlite_url
from scripts import audit_export


def test_exports_every_event_as_one_json_line(tmp_path, monkeypatch, capsys):
    db_file = tmp_path / "state.db"
    monkeypatch.setenv("CHATOPS_DB", str(db_file))
    monkeypatch.delenv("CHATOPS_DB_URL", raising=False)
    db = Database.open(sqlite_url(db_file))
    log = AuditLog(db)
    old = datetime(2026, 10, 1, 12, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    log.record("deploy", "refused", actor_id="x", message="把订单服务发到生产", now=old)
    log.record("deploy", "triggered", actor_id="u1", workflow_key="mall-test", task_id=3)
    db.dispose()

    assert audit_export.main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["decision"] for line in lines] == ["refused", "triggered"]
    assert json.loads(lines[0])["message"] == "把订单服务发到生产"

    assert audit_export.main(["--since", "2026-11-01"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["task_id"] == 3
