"""The text of an alert message: a title and one line per alert, in Chinese, English or both.

Labels (severity names, titles) come from config/alerts.yml; the alert's own words from marts.alerts
(`message`, `message_zh`).
"""

from __future__ import annotations

from typing import Any

MAX_LINE_CHARS = 300  # a chat robot's message has a size limit (WeCom: 4,096 bytes)


def _label(config: dict[str, Any], group: str, key: str, language: str) -> str:
    labels = config.get("labels", {}).get(group, {}).get(key, {})
    return labels.get(language) or labels.get("en") or key


def title(alerts: list[dict[str, Any]], config: dict[str, Any], language: str) -> str:
    """E.g. "S2S 预警: 2 条 (截至 2026-10-30)"; "both" gives the Chinese then the English title."""
    if language == "both":
        return f"{title(alerts, config, 'zh')} / {title(alerts, config, 'en')}"
    as_of = next((str(a["as_of_date"]) for a in alerts if a.get("as_of_date")), "")
    template = _label(config, "title", "alerts", language)
    return template.format(count=len(alerts), as_of=as_of)


def line(alert: dict[str, Any], config: dict[str, Any], language: str) -> str:
    """One alert: severity, its message, and what it is about (rule, subject, period)."""
    if language == "both":
        return f"{line(alert, config, 'zh')}\n  {line(alert, config, 'en')}"
    severity = _label(config, "severity", alert.get("severity") or "", language)
    text = (alert.get("message_zh") if language == "zh" else None) or alert.get("message") or alert["rule_code"]
    where = " · ".join(str(alert[k]) for k in ("rule_code", "subject", "period") if alert.get(k))
    return f"[{severity}] {text} ({where})"[:MAX_LINE_CHARS]


def plain_text(alerts: list[dict[str, Any]], config: dict[str, Any], language: str) -> str:
    return "\n".join([title(alerts, config, language), *(f"- {line(a, config, language)}" for a in alerts)])


def markdown(alerts: list[dict[str, Any]], config: dict[str, Any], language: str) -> str:
    return "\n".join([f"### {title(alerts, config, language)}", *(f"- {line(a, config, language)}" for a in alerts)])
