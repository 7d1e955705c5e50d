"""Alerts by email (SMTP), for the managers who read mail: one UTF-8 plain-text message per batch."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from dagster_project.alerts import message
from dagster_project.alerts.webhooks import DeliveryError


class EmailNotifier:
    """SMTP with STARTTLS (port 587), implicit TLS (`security: ssl`, port 465) or none (a local relay)."""

    def __init__(
        self,
        host: str,
        recipients: list[str],
        config: dict[str, Any],
        *,
        port: int = 587,
        security: str = "starttls",
        sender: str = "s2s-warehouse@localhost",
        username: str | None = None,
        password: str | None = None,
        language: str = "both",
        timeout: float = 20.0,
    ):
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"email notifier: security must be starttls, ssl or none, not {security!r}")
        self.host, self.port, self.security = host, port, security
        self.recipients, self.sender = recipients, sender
        self.username, self.password = username, password
        self.config, self.language, self.timeout = config, language, timeout

    def compose(self, alerts: list[dict[str, Any]]) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.title(alerts, self.config, self.language)
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail.set_content(message.plain_text(alerts, self.config, self.language))
        return mail

    def send(self, alerts: list[dict[str, Any]]) -> None:
        mail = self.compose(alerts)
        try:
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from exc
        if refused:
            raise DeliveryError(f"SMTP {self.host}:{self.port} refused recipients: {', '.join(refused)}")
