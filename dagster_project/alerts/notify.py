"""Notifiers for alerts: a log line, a JSON-lines file, or any class named in config/alerts.yml."""

from __future__ import annotations

import importlib
import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import duckdb
import yaml

from dagster_project.warehouse import insert_rows

ALERTS_CONFIG = Path(__file__).parent.parent / "config" / "alerts.yml"
log = logging.getLogger("s2s.alerts")


class Notifier(Protocol):
    def send(self, alerts: list[dict[str, Any]]) -> None: ...


class LogNotifier:
    """One warning log line per alert."""

    def __init__(self, logger: logging.Logger | None = None):
        self.logger = logger or log

    def send(self, alerts: list[dict[str, Any]]) -> None:
        for a in alerts:
            self.logger.warning(f"[{a['severity']}] {a['rule_code']} {a['subject']} {a['period']}: {a['message']}")


def _json_default(value: object) -> object:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


class JsonLinesNotifier:
    """Appends each alert as one JSON object per line (for a log shipper or a chat bot to pick up)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def send(self, alerts: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for a in alerts:
                fh.write(json.dumps(a, ensure_ascii=False, default=_json_default) + "\n")


@cache
def alerts_config() -> dict[str, Any]:
    return yaml.safe_load(ALERTS_CONFIG.read_text(encoding="utf-8"))


def build_notifiers(warehouse_dir: Path, config: dict[str, Any] | None = None) -> list[Notifier]:
    notifiers: list[Notifier] = []
    for spec in (config or alerts_config())["notifiers"]:
        spec = dict(spec)
        if spec.get("type") == "log":
            notifiers.append(LogNotifier())
        elif spec.get("type") == "jsonl":
            notifiers.append(JsonLinesNotifier(spec["path"].format(warehouse_dir=warehouse_dir)))
        elif "class" in spec:
            module, _, name = spec.pop("class").rpartition(".")
            notifiers.append(getattr(importlib.import_module(module), name)(**spec))
        else:
            raise ValueError(f"{ALERTS_CONFIG}: notifier needs a type (log, jsonl) or a class: {spec}")
    return notifiers


ALERT_KEY_SQL = "rule_code || '|' || coalesce(subject, '') || '|' || coalesce(period::varchar, '')"


def pending_alerts(con: duckdb.DuckDBPyConnection, send_once: bool = True) -> list[dict[str, Any]]:
    """Rows of marts.alerts not sent before (all of them when send_once is off)."""
    con.execute("create schema if not exists meta")
    con.execute("create table if not exists meta.alerts_sent (alert_key varchar primary key, sent_at timestamp)")
    where = f"where {ALERT_KEY_SQL} not in (select alert_key from meta.alerts_sent)" if send_once else ""
    cursor = con.execute(f"select * from marts.alerts {where} order by severity, rule_code, subject")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def mark_sent(con: duckdb.DuckDBPyConnection, alerts: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    keys = [f"{a['rule_code']}|{a.get('subject') or ''}|{a.get('period') or ''}" for a in alerts]
    insert_rows(con, "insert or ignore into meta.alerts_sent values (?, ?)", [[k, now] for k in keys])
