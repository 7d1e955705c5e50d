"""Chat group robots: WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书), each by its published
webhook format. A robot's webhook URL carries its key, so URL and signing secret come from
environment variables named in config/alerts.yml, never from the file itself.

Each `send` posts one message for the alerts given and raises `DeliveryError` unless the service
answers that it accepted it (HTTP 200 and its own success code): the alerts then stay pending.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from dagster_project.alerts import message


class DeliveryError(RuntimeError):
    """A notifier could not hand its message over; the alerts stay pending for the next run."""


def post_json(url: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """POST the payload as UTF-8 JSON and return the JSON answer; any failure is a DeliveryError."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8") or "{}")
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"cannot reach the webhook: {getattr(exc, 'reason', exc)}") from exc
    except ValueError as exc:
        raise DeliveryError("the webhook answered with something other than JSON") from exc


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc  # for messages: never the path, which holds the key


class WeComNotifier:
    """企业微信群机器人: POST {"msgtype": "markdown", "markdown": {"content": ...}}; success is errcode 0."""

    def __init__(self, url: str, config: dict[str, Any], language: str = "zh"):
        self.url, self.config, self.language = url, config, language

    def payload(self, alerts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": message.markdown(alerts, self.config, self.language)}}

    def send(self, alerts: list[dict[str, Any]]) -> None:
        answer = post_json(self.url, self.payload(alerts))
        if answer.get("errcode") != 0:
            raise DeliveryError(f"WeCom ({_host(self.url)}) refused: {answer.get('errcode')} {answer.get('errmsg')}")


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk's signature: HMAC-SHA256 of "timestamp\\nsecret" keyed by the secret, base64, URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode("ascii"))


class DingTalkNotifier:
    """钉钉自定义机器人: POST {"msgtype": "markdown", "markdown": {"title", "text"}} to the webhook, with
    `&timestamp=<ms>&sign=<signature>` added when the robot has a signing secret (加签); success is errcode 0."""

    def __init__(self, url: str, config: dict[str, Any], secret: str | None = None, language: str = "zh"):
        self.url, self.config, self.secret, self.language = url, config, secret, language

    def payload(self, alerts: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "msgtype": "markdown",
            "markdown": {
                "title": message.title(alerts, self.config, self.language),
                "text": message.markdown(alerts, self.config, self.language),
            },
        }

    def signed_url(self, timestamp_ms: int) -> str:
        if not self.secret:
            return self.url
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}timestamp={timestamp_ms}&sign={dingtalk_sign(timestamp_ms, self.secret)}"

    def send(self, alerts: list[dict[str, Any]]) -> None:
        answer = post_json(self.signed_url(int(time.time() * 1000)), self.payload(alerts))
        if answer.get("errcode") != 0:
            raise DeliveryError(f"DingTalk ({_host(self.url)}) refused: {answer.get('errcode')} {answer.get('errmsg')}")


def feishu_sign(timestamp_s: int, secret: str) -> str:
    """Feishu's signature: HMAC-SHA256 keyed by "timestamp\\nsecret" over an empty message, base64."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class FeishuNotifier:
    """飞书自定义机器人: POST {"msg_type": "text", "content": {"text": ...}}, plus "timestamp" and "sign"
    when the robot has a signing secret (签名校验); success is code 0."""

    def __init__(self, url: str, config: dict[str, Any], secret: str | None = None, language: str = "zh"):
        self.url, self.config, self.secret, self.language = url, config, secret, language

    def payload(self, alerts: list[dict[str, Any]], timestamp_s: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "msg_type": "text",
            "content": {"text": message.plain_text(alerts, self.config, self.language)},
        }
        if self.secret:
            body = {"timestamp": str(timestamp_s), "sign": feishu_sign(timestamp_s, self.secret), **body}
        return body

    def send(self, alerts: list[dict[str, Any]]) -> None:
        answer = post_json(self.url, self.payload(alerts, int(time.time())))
        code = answer.get("code", answer.get("StatusCode"))
        if code != 0:
            raise DeliveryError(f"Feishu ({_host(self.url)}) refused: {code} {answer.get('msg')}")
