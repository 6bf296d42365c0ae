"""The Prometheus alert rules shipped in docs/prometheus/alerts.yml: valid YAML in Prometheus's rule-file shape, on
the metric names the application exposes, with a rule for a dead beat."""
import re
from pathlib import Path

import yaml

RULES = Path(__file__).resolve().parents[2] / "docs" / "prometheus" / "alerts.yml"
METRICS = {
    "freehold_beat_job_last_run_timestamp_seconds", "freehold_beat_job_last_success_timestamp_seconds",
    "freehold_webhook_inbox_oldest_age_seconds", "freehold_webhook_inbox_backlog", "freehold_failed_tasks_open",
    "freehold_ledger_verify_violations", "freehold_audit_verify_ok", "freehold_celery_tasks_total",
    "freehold_http_request_duration_seconds",
}
DURATION = re.compile(r"^\d+[smhd]$")


def _rules():
    document = yaml.safe_load(RULES.read_text())
    assert set(document) == {"groups"}
    for group in document["groups"]:
        assert group["name"] and group["rules"]
        yield from group["rules"]


def test_every_rule_is_complete_and_uses_known_metrics():
    rules = list(_rules())
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)) >= 10
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        expr = str(rule["expr"])
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        if "for" in rule:
            assert DURATION.match(rule["for"]), rule["alert"]
        used = set(re.findall(r"\bfreehold_[a-z_]+", expr))
        used = {re.sub(r"_(bucket|sum|count)$", "", m) if m.startswith("freehold_http_") else m for m in used}
        assert used <= METRICS, (rule["alert"], used - METRICS)
    used_anywhere = {m for rule in rules for m in re.findall(r"\bfreehold_[a-z_]+", str(rule["expr"]))}
    assert {re.sub(r"_bucket$", "", m) for m in used_anywhere} | {"up"} >= METRICS
    assert any(str(rule["expr"]).strip() == "up == 0" for rule in rules)


def test_a_dead_beat_fires_after_ten_minutes_without_any_job():
    dead = {rule["alert"]: rule for rule in _rules()}["FreeholdBeatDead"]
    assert dead["expr"] == "time() - max(freehold_beat_job_last_run_timestamp_seconds) > 600"
    assert dead["labels"]["severity"] == "critical"
