"""Alerts go out from the published snapshot only, once per notifier, through the log, a JSONL file,
custom classes, WeCom / DingTalk / Feishu group robots and SMTP email: checked against local HTTP and
SMTP servers with each service's published webhook format; a failed send stays pending."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import urllib.parse
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.alerts.delivery import deliver, ensure_deliveries, pending_deliveries, published_alerts
from dagster_project.alerts.notify import alerts_config, build_notifiers
from dagster_project.publish.snapshot import publish_snapshot
from dagster_project.warehouse import ensure_meta

CHURN = [
    "annual_churn",
    "critical",
    "华北",
    "2026-10-30",
    0.19,
    0.15,
    "Annual churn of 华北 is 19.0%",
    "华北年流失率 19.0%",
]
RETURNS = ["product_return_rate", "warning", "SKU-1", "2026-08-02~2026-10-30", 0.07, 0.05, "Returns 7%", "退货率 7%"]
CRM = ["crm_completeness", "warning", "crm.leads.industry", "2026-10-30", 0.9, 0.95, "CRM 90%", "CRM 完整率 90%"]


class Collecting:
    """A custom notifier, as a user would plug one in by class name."""

    received: list = []

    def __init__(self, channel: str):
        self.channel = channel

    def send(self, alerts):
        Collecting.received.append((self.channel, [a["rule_code"] for a in alerts]))


def make_alerts(con, rows) -> None:
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.alerts (rule_code varchar, severity varchar, subject varchar, period varchar, "
        "observed_value double, threshold double, message varchar, message_zh varchar, as_of_date date)"
    )
    con.executemany("insert into marts.alerts values (?, ?, ?, ?, ?, ?, ?, ?, '2026-10-30')", rows)


def publish_alerts(con, bi: Path, rows) -> None:
    make_alerts(con, rows)
    publish_snapshot(con, bi, run_id="r")


def delivered(con) -> set[tuple[str, str]]:
    return set(con.execute("select alert_key, notifier from meta.alert_deliveries").fetchall())


def test_published_alerts_are_delivered_once_per_notifier(con, tmp_path, caplog):
    Collecting.received = []
    bi = tmp_path / "bi"
    publish_alerts(con, bi, [CHURN, RETURNS])
    config = {
        "notifiers": [
            {"type": "log"},
            {"type": "jsonl", "path": "{warehouse_dir}/alerts.jsonl"},
            {"class": f"{__name__}.Collecting", "channel": "ops", "name": "ops"},
        ]
    }
    notifiers = build_notifiers(tmp_path, config)

    with caplog.at_level(logging.WARNING, logger="s2s.alerts"):
        reports = deliver(con, published_alerts(bi), notifiers)

    assert [(r.notifier, r.delivered, r.pending, r.error) for r in reports] == [
        ("log", 2, 0, None),
        ("jsonl", 2, 0, None),
        ("ops", 2, 0, None),
    ]
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(a["rule_code"], a["subject"], a["message_zh"]) for a in lines] == [
        ("annual_churn", "华北", "华北年流失率 19.0%"),
        ("product_return_rate", "SKU-1", "退货率 7%"),
    ]
    assert "[critical] annual_churn 华北 2026-10-30: Annual churn of 华北 is 19.0%" in caplog.text
    assert Collecting.received == [("ops", ["annual_churn", "product_return_rate"])]

    # the next publish: one alert is still there, one is new; only the new one goes out
    publish_alerts(con, bi, [CHURN, CRM])
    reports = deliver(con, published_alerts(bi), notifiers)
    assert [(r.notifier, r.delivered) for r in reports] == [("log", 1), ("jsonl", 1), ("ops", 1)]
    assert Collecting.received[-1] == ("ops", ["crm_completeness"])


def test_alerts_of_the_working_warehouse_are_not_sent_until_published(con, tmp_path):
    """Issue 9 item 8: a run whose gate blocked the publish built marts.alerts, but sends none of it."""
    make_alerts(con, [CHURN])  # built by dbt in the warehouse, not published
    bi = tmp_path / "bi"
    notifiers = build_notifiers(tmp_path, {"notifiers": [{"type": "jsonl", "path": "{warehouse_dir}/a.jsonl"}]})

    assert published_alerts(bi) == []
    assert [r.delivered for r in deliver(con, published_alerts(bi), notifiers)] == [0]
    assert not (tmp_path / "a.jsonl").exists()

    publish_snapshot(con, bi, run_id="after the fix")  # the fixed run publishes: now they go out, once
    assert [r.delivered for r in deliver(con, published_alerts(bi), notifiers)] == [1]
    assert delivered(con) == {("annual_churn|华北|2026-10-30", "jsonl")}


# ----------------------------------------------------------------------------- Dagster: gate -> alerts
def gate_assets(passed: bool) -> list:
    """Stand-ins for the assets that carry the blocking checks; the real publish and alerts assets."""
    from dagster_project.defs.alerts.assets import alerts_sent
    from dagster_project.defs.publish.assets import build_publish_asset
    from dagster_project.defs.quality.assets import AUDIT_KEY, DQ_KEY, ORPHANS_KEY

    @dg.asset(key=DQ_KEY, check_specs=[dg.AssetCheckSpec("completeness", asset=DQ_KEY, blocking=True)])
    def dq():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR)

    @dg.multi_asset(specs=[dg.AssetSpec(AUDIT_KEY), dg.AssetSpec(ORPHANS_KEY)])
    def integrity():
        yield dg.MaterializeResult(asset_key=AUDIT_KEY)
        yield dg.MaterializeResult(asset_key=ORPHANS_KEY)

    return [dq, integrity, build_publish_asset([]), alerts_sent]


def run_gate(tmp_path: Path, passed: bool) -> dg.ExecuteInProcessResult:
    from dagster_project.resources import WarehouseResource

    warehouse = WarehouseResource(
        path=str(tmp_path / "warehouse" / "warehouse.duckdb"),
        raw_dir=str(tmp_path / "raw"),
        bi_dir=str(tmp_path / "bi"),
    )
    return dg.materialize(gate_assets(passed), resources={"warehouse": warehouse}, raise_on_error=False)


def test_a_blocked_publish_sends_no_alert_and_the_fixed_run_sends_them(con, tmp_path):
    ensure_meta(con)  # the publish step fingerprints the drop manifest
    make_alerts(con, [CHURN, RETURNS])
    con.close()

    blocked = run_gate(tmp_path, passed=False)

    materialized = {e.asset_key for e in blocked.get_asset_materialization_events()}
    assert dg.AssetKey(["bi", "marts_snapshot"]) not in materialized
    assert dg.AssetKey(["meta", "alerts_sent"]) not in materialized
    assert not (tmp_path / "warehouse" / "alerts.jsonl").exists()

    fixed = run_gate(tmp_path, passed=True)

    assert dg.AssetKey(["meta", "alerts_sent"]) in {e.asset_key for e in fixed.get_asset_materialization_events()}
    sent = (tmp_path / "warehouse" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["rule_code"] for line in sent] == ["annual_churn", "product_return_rate"]
    [check] = fixed.get_asset_check_evaluations()[-1:]
    assert check.check_name == "alerts_delivered" and check.passed


# ------------------------------------------------------------------------------- local HTTP robots
class Robot(BaseHTTPRequestHandler):
    """Answers like the services do; records every request."""

    requests: list[dict] = []
    answers: list[tuple[int, dict]] = []  # consumed one per request; then {"errcode": 0, ...}

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Robot.requests.append(
            {
                "path": self.path,
                "content_type": self.headers["Content-Type"],
                "json": json.loads(body.decode("utf-8")),
            }
        )
        status, answer = Robot.answers.pop(0) if Robot.answers else (200, {"errcode": 0, "errmsg": "ok", "code": 0})
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def robot_server():
    Robot.requests, Robot.answers = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Robot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def robots(base: str, monkeypatch, **extra: str):
    monkeypatch.setenv("S2S_WECOM_WEBHOOK_URL", f"{base}/cgi-bin/webhook/send?key=WECOMKEY")
    monkeypatch.setenv("S2S_DINGTALK_WEBHOOK_URL", f"{base}/robot/send?access_token=DINGTOKEN")
    monkeypatch.setenv("S2S_FEISHU_WEBHOOK_URL", f"{base}/open-apis/bot/v2/hook/FEISHUHOOK")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    chat = [n for n in alerts_config()["notifiers"] if n["type"] in ("wecom", "dingtalk", "feishu")]
    return build_notifiers(Path("."), {**alerts_config(), "notifiers": chat})


def test_chat_robots_are_off_until_their_webhook_variables_are_set(monkeypatch):
    for name in ("S2S_WECOM_WEBHOOK_URL", "S2S_DINGTALK_WEBHOOK_URL", "S2S_FEISHU_WEBHOOK_URL", "S2S_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert [n.name for n in build_notifiers(Path("."))] == ["log", "jsonl"]
    monkeypatch.setenv("S2S_FEISHU_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    assert [n.name for n in build_notifiers(Path("."))] == ["log", "jsonl", "feishu"]


def test_wecom_dingtalk_and_feishu_get_their_published_payloads(con, tmp_path, robot_server, monkeypatch):
    bi = tmp_path / "bi"
    publish_alerts(con, bi, [CHURN, RETURNS])
    notifiers = robots(robot_server, monkeypatch, S2S_DINGTALK_SECRET="SECdingtalk", S2S_FEISHU_SECRET="feishu-secret")

    reports = deliver(con, published_alerts(bi), notifiers)

    assert [(r.notifier, r.delivered, r.error) for r in reports] == [
        ("wecom", 2, None),
        ("dingtalk", 2, None),
        ("feishu", 2, None),
    ]
    wecom, dingtalk, feishu = Robot.requests
    assert all(r["content_type"].startswith("application/json") for r in Robot.requests)

    # WeCom group robot: {"msgtype": "markdown", "markdown": {"content": ...}} to .../send?key=<key>
    assert wecom["path"] == "/cgi-bin/webhook/send?key=WECOMKEY"
    assert set(wecom["json"]) == {"msgtype", "markdown"} and wecom["json"]["msgtype"] == "markdown"
    content = wecom["json"]["markdown"]["content"]
    assert content.splitlines() == [
        "### S2S 预警：2 条（截至 2026-10-30）",
        "- [严重] 华北年流失率 19.0% (annual_churn · 华北 · 2026-10-30)",
        "- [警告] 退货率 7% (product_return_rate · SKU-1 · 2026-08-02~2026-10-30)",
    ]

    # DingTalk: markdown with title and text; signed: &timestamp=<ms>&sign=urlencode(base64(hmac))
    path, _, query = dingtalk["path"].partition("?")
    params = dict(pair.split("=", 1) for pair in query.split("&"))
    assert path == "/robot/send" and params["access_token"] == "DINGTOKEN"
    timestamp = params["timestamp"]
    assert len(timestamp) == 13  # milliseconds
    expected = base64.b64encode(
        hmac.new(b"SECdingtalk", f"{timestamp}\nSECdingtalk".encode(), hashlib.sha256).digest()
    ).decode()
    assert urllib.parse.unquote_plus(params["sign"]) == expected
    assert dingtalk["json"]["msgtype"] == "markdown"
    assert dingtalk["json"]["markdown"]["title"] == "S2S 预警：2 条（截至 2026-10-30）"
    assert dingtalk["json"]["markdown"]["text"] == content

    # Feishu: {"timestamp", "sign", "msg_type": "text", "content": {"text"}}; sign keyed by "timestamp\nsecret"
    assert feishu["path"] == "/open-apis/bot/v2/hook/FEISHUHOOK"
    body = feishu["json"]
    assert set(body) == {"timestamp", "sign", "msg_type", "content"} and body["msg_type"] == "text"
    assert len(body["timestamp"]) == 10  # seconds
    key = f"{body['timestamp']}\nfeishu-secret".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["content"]["text"].splitlines()[0] == "S2S 预警：2 条（截至 2026-10-30）"
    assert "- [警告] 退货率 7% (product_return_rate · SKU-1 · 2026-08-02~2026-10-30)" in body["content"]["text"]


def test_unsigned_robots_send_no_signature(con, tmp_path, robot_server, monkeypatch):
    publish_alerts(con, tmp_path / "bi", [CHURN])
    monkeypatch.delenv("S2S_DINGTALK_SECRET", raising=False)
    monkeypatch.delenv("S2S_FEISHU_SECRET", raising=False)
    deliver(con, published_alerts(tmp_path / "bi"), robots(robot_server, monkeypatch))
    _, dingtalk, feishu = Robot.requests
    assert dingtalk["path"] == "/robot/send?access_token=DINGTOKEN"
    assert set(feishu["json"]) == {"msg_type", "content"}


def test_a_failed_send_stays_pending_is_reported_and_goes_out_next_run(con, tmp_path, robot_server, monkeypatch):
    bi = tmp_path / "bi"
    publish_alerts(con, bi, [CHURN, RETURNS, CRM])
    notifiers = robots(robot_server, monkeypatch)
    # WeCom: the first of two messages goes through, the second is refused; DingTalk: HTTP 500;
    # Feishu: its error code for a bad signature
    Robot.answers = [
        (200, {"errcode": 0, "errmsg": "ok"}),
        (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
        (500, {"errcode": -1}),
        (200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}),
    ]

    reports = deliver(con, published_alerts(bi), notifiers, per_message=2)

    assert [(r.notifier, r.delivered, r.pending) for r in reports] == [
        ("wecom", 2, 1),
        ("dingtalk", 0, 3),
        ("feishu", 0, 3),
    ]
    assert (
        reports[0].error
        == "DeliveryError: WeCom (127.0.0.1:"
        + robot_server.rsplit(":", 1)[1]
        + ") refused: 45009 api freq out of limit"
    )
    assert reports[1].error == "DeliveryError: HTTP 500 Internal Server Error"
    assert "19021 sign match fail" in reports[2].error
    assert "WECOMKEY" not in reports[0].error  # the key in the URL is a secret
    assert pending_deliveries(con, bi, notifiers) == 7
    assert delivered(con) == {
        ("annual_churn|华北|2026-10-30", "wecom"),
        ("crm_completeness|crm.leads.industry|2026-10-30", "wecom"),
    }

    Robot.requests = []
    reports = deliver(con, published_alerts(bi), notifiers, per_message=2)  # the next run, services back

    assert [(r.notifier, r.delivered, r.pending, r.error) for r in reports] == [
        ("wecom", 1, 0, None),
        ("dingtalk", 3, 0, None),
        ("feishu", 3, 0, None),
    ]
    assert "退货率 7%" in Robot.requests[0]["json"]["markdown"]["content"]
    assert "华北年流失率" not in Robot.requests[0]["json"]["markdown"]["content"]  # not sent twice
    assert pending_deliveries(con, bi, notifiers) == 0


def test_alerts_recorded_by_the_previous_version_are_not_resent(con, tmp_path):
    con.execute("create schema if not exists meta")
    con.execute("create table meta.alerts_sent (alert_key varchar primary key, sent_at timestamp)")
    con.execute("insert into meta.alerts_sent values ('annual_churn|华北|2026-10-30', '2026-10-30 06:00:00')")
    publish_alerts(con, tmp_path / "bi", [CHURN])
    ensure_deliveries(con)
    notifiers = build_notifiers(
        tmp_path, {"notifiers": [{"type": "log"}, {"class": f"{__name__}.Collecting", "channel": "new", "name": "new"}]}
    )
    Collecting.received = []
    reports = deliver(con, published_alerts(tmp_path / "bi"), notifiers)
    assert [(r.notifier, r.delivered) for r in reports] == [("log", 0), ("new", 1)]


# ------------------------------------------------------------------------------------ local SMTP
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_email_reaches_a_local_smtp_server(con, tmp_path, monkeypatch):
    from aiosmtpd.controller import Controller

    received: list = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            received.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("S2S_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("S2S_SMTP_PORT", str(port))
        monkeypatch.setenv("S2S_ALERT_EMAIL_TO", "sales-managers@example.cn, cfo@example.cn")
        monkeypatch.setenv("S2S_ALERT_EMAIL_FROM", "warehouse@example.cn")
        spec = {**next(n for n in alerts_config()["notifiers"] if n["type"] == "email"), "security": "none"}
        notifiers = build_notifiers(tmp_path, {**alerts_config(), "notifiers": [spec]})
        publish_alerts(con, tmp_path / "bi", [CHURN, RETURNS])

        reports = deliver(con, published_alerts(tmp_path / "bi"), notifiers)
    finally:
        controller.stop()

    assert [(r.notifier, r.delivered, r.error) for r in reports] == [("email", 2, None)]
    [envelope] = received
    assert envelope.mail_from == "warehouse@example.cn"
    assert envelope.rcpt_tos == ["sales-managers@example.cn", "cfo@example.cn"]
    mail = message_from_bytes(envelope.original_content, policy=policy.default)
    assert mail["Subject"] == "S2S 预警：2 条（截至 2026-10-30） / S2S alerts: 2 (as of 2026-10-30)"
    body = mail.get_content()
    assert "- [严重] 华北年流失率 19.0% (annual_churn · 华北 · 2026-10-30)" in body
    assert "  [critical] Annual churn of 华北 is 19.0% (annual_churn · 华北 · 2026-10-30)" in body


def test_an_unreachable_smtp_server_leaves_the_alerts_pending(con, tmp_path, monkeypatch):
    port = free_port()  # nothing listens there
    monkeypatch.setenv("S2S_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("S2S_SMTP_PORT", str(port))
    monkeypatch.setenv("S2S_ALERT_EMAIL_TO", "sales-managers@example.cn")
    spec = {**next(n for n in alerts_config()["notifiers"] if n["type"] == "email"), "security": "none"}
    notifiers = build_notifiers(tmp_path, {**alerts_config(), "notifiers": [spec]})
    publish_alerts(con, tmp_path / "bi", [CHURN])

    [report] = deliver(con, published_alerts(tmp_path / "bi"), notifiers)

    assert (report.delivered, report.pending) == (0, 1)
    assert report.error.startswith(f"DeliveryError: SMTP 127.0.0.1:{port}:")
    assert pending_deliveries(con, tmp_path / "bi", notifiers) == 1


def test_a_run_with_nothing_new_still_sends_what_earlier_runs_could_not(
    con, raw_dir, tmp_path, robot_server, monkeypatch, capsys
):
    from test_automation import published_warehouse

    from dagster_project.cli import main

    published_warehouse(con, raw_dir, tmp_path)  # loaded, published, delivered to the log and the JSONL file
    monkeypatch.setenv("S2S_FEISHU_WEBHOOK_URL", f"{robot_server}/open-apis/bot/v2/hook/FEISHUHOOK")
    Robot.answers = [(200, {"code": 19024, "msg": "Key Words Not Found"})]

    assert main(["run"]) == 0
    assert main(["run"]) == 0

    out = capsys.readouterr().out
    assert out.count("nothing new: no new drop") == 2
    assert "alerts to feishu: 0 delivered, 1 pending (DeliveryError: Feishu (127.0.0.1:" in out
    assert "alerts to feishu: 1 delivered, 0 pending (ok)" in out
    assert [r["json"]["content"]["text"].splitlines()[1] for r in Robot.requests] == [
        "- [严重] 流失率 19% (annual_churn · 华北 · 2026-10-30)"
    ] * 2
