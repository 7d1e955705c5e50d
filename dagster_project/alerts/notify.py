"""Notifiers for alerts: a log line, a JSON-lines file, chat group robots (WeCom, DingTalk, Feishu),
email, or any class named in config/alerts.yml offering `send(alerts)` (raising when it fails)."""

from __future__ import annotations

import importlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from dagster_project.yaml_text import parse_yaml

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
    return parse_yaml(ALERTS_CONFIG.read_text(encoding="utf-8"))


@dataclass
class NamedNotifier:
    """A configured notifier and the name its deliveries are recorded under (`name`, else its type)."""

    name: str
    notifier: Notifier


def _env(spec: dict[str, Any], key: str) -> str | None:
    """The value of the environment variable that spec[key] names (None when unset or not named)."""
    variable = spec.get(key)
    return os.environ.get(variable) or None if variable else None


def _chat_robot(kind: str, spec: dict[str, Any], config: dict[str, Any]) -> Notifier | None:
    from dagster_project.alerts.webhooks import DingTalkNotifier, FeishuNotifier, WeComNotifier

    url = _env(spec, "url_env")
    if not url:
        return None
    language = spec.get("language", "zh")
    if kind == "wecom":
        return WeComNotifier(url, config, language=language)
    robot = DingTalkNotifier if kind == "dingtalk" else FeishuNotifier
    return robot(url, config, secret=_env(spec, "secret_env"), language=language)


def _email(spec: dict[str, Any], config: dict[str, Any]) -> Notifier | None:
    from dagster_project.alerts.email import EmailNotifier

    host, recipients = _env(spec, "host_env"), _env(spec, "recipients_env")
    if not (host and recipients):
        return None
    return EmailNotifier(
        host,
        [r.strip() for r in recipients.split(",") if r.strip()],
        config,
        port=int(_env(spec, "port_env") or spec.get("port", 587)),
        security=spec.get("security", "starttls"),
        sender=_env(spec, "sender_env") or spec.get("sender", "s2s-warehouse@localhost"),
        username=_env(spec, "username_env"),
        password=_env(spec, "password_env"),
        language=spec.get("language", "both"),
    )


def build_notifiers(warehouse_dir: Path, config: dict[str, Any] | None = None) -> list[NamedNotifier]:
    """The notifiers of config/alerts.yml that are on. A chat robot or email notifier is on when the
    environment variables holding its address are set; log, jsonl and custom classes always are."""
    config = config or alerts_config()
    notifiers: list[NamedNotifier] = []
    for spec in config["notifiers"]:
        spec = dict(spec)
        kind = spec.get("type")
        name = spec.pop("name", None) or kind or spec.get("class", "").rpartition(".")[2]
        if kind == "log":
            notifier: Notifier | None = LogNotifier()
        elif kind == "jsonl":
            notifier = JsonLinesNotifier(spec["path"].format(warehouse_dir=warehouse_dir))
        elif kind in ("wecom", "dingtalk", "feishu"):
            notifier = _chat_robot(kind, spec, config)
        elif kind == "email":
            notifier = _email(spec, config)
        elif "class" in spec:
            module, _, class_name = spec.pop("class").rpartition(".")
            notifier = getattr(importlib.import_module(module), class_name)(**spec)
        else:
            raise ValueError(
                f"{ALERTS_CONFIG}: notifier needs a type (log, jsonl, wecom, dingtalk, feishu, email) "
                f"or a class: {spec}"
            )
        if notifier is None:
            log.debug(f"notifier {name}: off (its environment variables are not set)")
            continue
        if any(n.name == name for n in notifiers):
            raise ValueError(f"{ALERTS_CONFIG}: two notifiers named {name!r}; give each a distinct `name`")
        notifiers.append(NamedNotifier(name, notifier))
    return notifiers
