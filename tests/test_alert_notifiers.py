"""Alerts go out through the configured notifiers, each alert once."""

import json
import logging

from dagster_project.alerts.notify import build_notifiers, mark_sent, pending_alerts


class Collecting:
    """A custom notifier, as a user would plug one in by class name."""

    received: list = []

    def __init__(self, channel: str):
        self.channel = channel

    def send(self, alerts):
        Collecting.received.append((self.channel, [a["rule_code"] for a in alerts]))


def make_alerts(con, rows):
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.alerts (rule_code varchar, severity varchar, subject varchar, period date, "
        "observed_value double, threshold double, message varchar, message_zh varchar)"
    )
    con.executemany("insert into marts.alerts values (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def test_alerts_are_sent_once_to_log_jsonl_and_a_custom_class(con, tmp_path, caplog):
    make_alerts(
        con,
        [
            ["annual_churn_high", "high", "*", "2026-10-31", 0.18, 0.15, "Churn 18% > 15%", "年流失率 18% > 15%"],
            ["product_return_rate_high", "medium", "SKU-1", "2026-10-31", 0.07, 0.05, "Returns 7%", "退货率 7%"],
        ],
    )
    config = {
        "notifiers": [
            {"type": "log"},
            {"type": "jsonl", "path": "{warehouse_dir}/alerts.jsonl"},
            {"class": f"{__name__}.Collecting", "channel": "ops"},
        ]
    }
    notifiers = build_notifiers(tmp_path, config)

    with caplog.at_level(logging.WARNING, logger="s2s.alerts"):
        alerts = pending_alerts(con)
        for n in notifiers:
            n.send(alerts)
        mark_sent(con, alerts)

    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(a["rule_code"], a["subject"], a["message_zh"]) for a in lines] == [
        ("annual_churn_high", "*", "年流失率 18% > 15%"),
        ("product_return_rate_high", "SKU-1", "退货率 7%"),
    ]
    assert "[high] annual_churn_high * 2026-10-31: Churn 18% > 15%" in caplog.text
    assert Collecting.received == [("ops", ["annual_churn_high", "product_return_rate_high"])]

    # the next run: one alert is still there, one is new; only the new one goes out
    make_alerts(
        con,
        [
            ["annual_churn_high", "high", "*", "2026-10-31", 0.18, 0.15, "Churn 18% > 15%", "年流失率 18% > 15%"],
            ["crm_completeness_low", "high", "crm.leads.industry", "2026-10-31", 0.9, 0.95, "CRM 90%", "CRM 90%"],
        ],
    )
    assert [a["rule_code"] for a in pending_alerts(con)] == ["crm_completeness_low"]
