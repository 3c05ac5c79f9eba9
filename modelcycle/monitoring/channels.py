"""Where notifications go: the log, a generic webhook (Alertmanager's JSON), Slack, DingTalk
(with its signed-URL mode), WeCom, e-mail over SMTP and SMS through an HTTP gateway; and the
channels of a YAML or dict configuration, checked with errors that name the field."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
import string
import urllib.parse
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Mapping, Sequence

from modelcycle.exceptions import InvalidInput
from modelcycle.store.clock import now_ms
from modelcycle.monitoring.notify import FIRING, Batch, DeliveryError, Notification, RateLimit, iso, parse_duration

log = logging.getLogger("modelcycle.monitoring")

ROBOT_RATE_LIMIT = (20, 60.0)  # DingTalk and WeCom group robots: 20 messages a minute
MAX_ALERTS_SHOWN = 20
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert still firing


class Channel:
    type = "channel"

    def __init__(self, name: str | None = None, rate_limit: tuple[int, float] | None = None, timeout: float = 10.0):
        self.name = name or self.type
        self.rate_limit = RateLimit(*rate_limit) if rate_limit else None
        self.timeout = timeout

    def send(self, batch: Batch) -> int | None:
        """Deliver one message; returns the receiver's status code (if it has one), raises
        DeliveryError (or any error of the transport) when not delivered."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


# -- rendering -----------------------------------------------------------------------------


def _shown(batch: Batch) -> tuple[list[Notification], int]:
    alerts = list(batch.alerts)
    return alerts[:MAX_ALERTS_SHOWN], max(0, len(alerts) - MAX_ALERTS_SHOWN)


def render_text(batch: Batch) -> str:
    shown, more = _shown(batch)
    parts = [batch.title()]
    for n in shown:
        lines = [n.title()] if len(batch.alerts) > 1 or batch.digest else []
        lines += [f"{name}: {text}" for name, text in n.facts()]
        parts.append("\n".join(lines))
    if more:
        parts.append(f"... and {more} more alerts")
    return "\n\n".join(parts)


def render_markdown(batch: Batch) -> str:
    """The Markdown that DingTalk and WeCom robots show."""
    shown, more = _shown(batch)
    parts = [f"### {batch.title()}"]
    for n in shown:
        lines = [f"**{n.title()}**"] if len(batch.alerts) > 1 or batch.digest else []
        for name, text in n.facts():
            if name == "Report" and n.report and n.report.startswith(("http://", "https://")):
                text = f"[{n.report}]({n.report})"
            lines.append(f"- **{name}**: {text}")
        parts.append("\n".join(lines))
    if more:
        parts.append(f"... and {more} more alerts")
    return "\n\n".join(parts)


def _fit(text: str, max_bytes: int) -> str:
    """Cut to the receiver's limit in UTF-8 bytes, saying so, without splitting a character."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    cut = data[:max_bytes - 20].decode(errors="ignore")
    return cut + "\n... (cut)"


def _http_status(response) -> int:
    status = response.status_code
    if status >= 300:
        # 429 and 5xx may pass; other 4xx say the request itself is wrong.
        raise DeliveryError(f"HTTP {status} from {_safe_url(str(response.request.url))}: {response.text[:200]}",
                            status, retryable=status == 429 or status >= 500)
    return status


def _safe_url(url: str) -> str:
    """A URL without its query (robot tokens and signatures live there)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _post(url: str, payload: Any, timeout: float, headers: Mapping[str, str] | None = None, method: str = "POST",
          content: str | bytes | None = None):
    import httpx

    with httpx.Client(timeout=timeout) as http:
        if content is None:
            return http.request(method, url, json=payload, headers=dict(headers or {}))
        return http.request(method, url, content=content, headers=dict(headers or {}))


# -- channels ------------------------------------------------------------------------------


class LogChannel(Channel):
    """Writes each message to the ``modelcycle.monitoring`` logger: WARNING while firing, INFO
    when resolved."""

    type = "log"

    def send(self, batch: Batch) -> None:
        log.log(logging.WARNING if batch.status == FIRING else logging.INFO, "%s", render_text(batch))
        return None


class WebhookChannel(Channel):
    """POSTs Alertmanager's webhook JSON (version 4), which its receivers already read."""

    type = "webhook"

    def __init__(self, url: str, headers: Mapping[str, str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.url = url
        self.headers = dict(headers or {})

    @staticmethod
    def payload(batch: Batch) -> dict[str, Any]:
        shown = list(batch.alerts)
        return {
            "version": "4", "groupKey": batch.group_key, "truncatedAlerts": 0, "status": batch.status,
            "receiver": batch.receiver, "groupLabels": dict(batch.group_labels),
            "commonLabels": batch.common_labels(), "commonAnnotations": _annotations_common(shown),
            "externalURL": batch.external_url,
            "alerts": [{
                "status": n.state, "labels": n.all_labels, "annotations": _annotations(n),
                "startsAt": _rfc3339(n.since),
                "endsAt": _rfc3339(n.resolved_at) if n.state != FIRING and n.resolved_at else ZERO_TIME,
                "generatorURL": n.report or "", "fingerprint": n.key,
            } for n in shown],
        }

    def send(self, batch: Batch) -> int:
        return _http_status(_post(self.url, self.payload(batch), self.timeout, self.headers))


def _rfc3339(ms: int | None) -> str:
    return iso(ms) if ms is not None else ZERO_TIME


def _annotations(n: Notification) -> dict[str, str]:
    out = {k: str(v) for k, v in n.annotations.items()}
    facts = {"value": n.value, "threshold": n.threshold, "expr": n.expr, "report": n.report,
             "window_start": iso(n.window_start) if n.window_start is not None else None,
             "window_end": iso(n.window_end) if n.window_end is not None else None}
    for k, v in facts.items():
        if v is not None and k not in out:
            out[k] = f"{v:.6g}" if isinstance(v, float) else str(v)
    return out


def _annotations_common(alerts: Sequence[Notification]) -> dict[str, str]:
    dicts = [_annotations(n) for n in alerts]
    if not dicts:
        return {}
    return {k: v for k, v in dicts[0].items() if all(d.get(k) == v for d in dicts[1:])}


class SlackChannel(Channel):
    """A Slack incoming webhook: Block Kit blocks, with ``text`` as the notification's fallback."""

    type = "slack"

    def __init__(self, url: str, channel: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.url = url
        self.channel = channel

    def payload(self, batch: Batch) -> dict[str, Any]:
        shown, more = _shown(batch)
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text",
                                                                     "text": batch.title()[:150]}}]
        for n in shown:
            lines = [f"*{n.title()}*"] if len(batch.alerts) > 1 or batch.digest else []
            for name, text in n.facts():
                if name == "Report" and n.report and n.report.startswith(("http://", "https://")):
                    text = f"<{n.report}|{n.report}>"
                lines.append(f"*{name}:* {text}")
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _fit("\n".join(lines), 2900)}})
        if more:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"... and {more} more alerts"}]})
        payload: dict[str, Any] = {"text": _fit(render_text(batch), 3000), "blocks": blocks}
        if self.channel:
            payload["channel"] = self.channel
        return payload

    def send(self, batch: Batch) -> int:
        return _http_status(_post(self.url, self.payload(batch), self.timeout))


class _Robot(Channel):
    """The group robots of DingTalk and WeCom: HTTP 200 even on failure, the verdict in errcode."""

    rate_limited_codes: frozenset[int] = frozenset()

    def __init__(self, url: str, **kwargs):
        kwargs.setdefault("rate_limit", ROBOT_RATE_LIMIT)
        super().__init__(**kwargs)
        self.url = url

    def target(self) -> str:
        return self.url

    def send(self, batch: Batch) -> int:
        response = _post(self.target(), self.payload(batch), self.timeout)
        status = _http_status(response)
        try:
            answer = response.json()
        except ValueError:
            raise DeliveryError(f"The {self.type} robot answered {response.text[:200]!r}, not JSON.", status) from None
        code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
        if code != 0:
            raise DeliveryError(f"The {self.type} robot refused the message: errcode {code}, "
                                f"{answer.get('errmsg', '')!r}", status, retryable=code in self.rate_limited_codes)
        return status

    def payload(self, batch: Batch) -> dict[str, Any]:
        raise NotImplementedError


class DingTalkChannel(_Robot):
    """A DingTalk group robot. With ``secret`` (its "sign" security setting) each request's URL
    carries ``timestamp`` (ms) and ``sign``: base64 of HMAC-SHA256 of "timestamp\\nsecret" keyed
    by the secret, URL-encoded."""

    type = "dingtalk"
    rate_limited_codes = frozenset({130101})  # "send too fast"

    def __init__(self, url: str, secret: str | None = None, at_mobiles: Sequence[str] = (), at_all: bool = False,
                 **kwargs):
        super().__init__(url, **kwargs)
        self.secret = secret
        self.at_mobiles = list(at_mobiles)
        self.at_all = at_all

    @staticmethod
    def sign(timestamp_ms: int, secret: str) -> str:
        to_sign = f"{timestamp_ms}\n{secret}".encode()
        digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
        return urllib.parse.quote_plus(base64.b64encode(digest).decode())

    def target(self, timestamp_ms: int | None = None) -> str:
        if not self.secret:
            return self.url
        ts = timestamp_ms if timestamp_ms is not None else now_ms()
        return f"{self.url}{'&' if '?' in self.url else '?'}timestamp={ts}&sign={self.sign(ts, self.secret)}"

    def payload(self, batch: Batch) -> dict[str, Any]:
        text = render_markdown(batch)
        if self.at_mobiles:  # DingTalk notifies those named in the text
            text += "\n\n" + " ".join(f"@{m}" for m in self.at_mobiles)
        return {"msgtype": "markdown", "markdown": {"title": batch.title()[:100], "text": _fit(text, 18000)},
                "at": {"atMobiles": self.at_mobiles, "isAtAll": self.at_all}}


class WeComChannel(_Robot):
    """A WeCom (WeChat Work) group robot, markdown messages (at most 4096 bytes)."""

    type = "wecom"
    rate_limited_codes = frozenset({45009})  # API freq out of limit

    def payload(self, batch: Batch) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": _fit(render_markdown(batch), 4096)}}


class EmailChannel(Channel):
    """E-mail over SMTP: STARTTLS (default) or implicit TLS (``ssl``), and login when a
    username is given. ``ca_file`` trusts a private CA; ``verify: false`` trusts any certificate."""

    type = "email"

    def __init__(self, host: str, to: Sequence[str], sender: str, port: int = 587, starttls: bool = True,
                 ssl: bool = False, username: str | None = None, password: str | None = None,
                 ca_file: str | None = None, verify: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.host, self.port, self.to, self.sender = host, port, list(to), sender
        self.starttls, self.use_ssl = starttls, ssl
        self.username, self.password = username, password
        self.ca_file, self.verify = ca_file, verify

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def message(self, batch: Batch) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = batch.title()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg.set_content(render_text(batch))
        return msg

    def send(self, batch: Batch) -> int:
        try:
            if self.use_ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=self._context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.starttls and not self.use_ssl:
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(self.message(batch))
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                smtplib.SMTPNotSupportedError) as exc:
            raise DeliveryError(f"The SMTP server {self.host}:{self.port} refused: {exc}", retryable=False) from None
        if refused:
            log.warning("The SMTP server refused some recipients: %s", refused)
        return 250


class SmsChannel(Channel):
    """SMS through an HTTP gateway: one request per number in ``to``. ``url`` and ``body`` are
    templates with $message, $to, $model, $version, $rule, $severity and $status; values are
    URL-encoded in the URL and escaped for the body's content type (JSON or form)."""

    type = "sms"
    FIELDS = ("message", "to", "model", "version", "rule", "severity", "status")

    def __init__(self, url: str, to: Sequence[str], method: str = "POST", body: str | None = None,
                 headers: Mapping[str, str] | None = None, content_type: str = "application/json",
                 max_length: int = 500, **kwargs):
        super().__init__(**kwargs)
        self.url_template = string.Template(url)
        self.body_template = string.Template(body) if body is not None else None
        self.to, self.method, self.content_type, self.max_length = list(to), method.upper(), content_type, max_length
        self.headers = {"Content-Type": content_type, **dict(headers or {})}

    def message(self, batch: Batch) -> str:
        if len(batch.alerts) == 1 and not batch.digest:
            text = batch.alerts[0].short()
        else:
            text = batch.title() + ": " + "; ".join(n.short() for n in batch.alerts)
        return text if len(text) <= self.max_length else text[:self.max_length - 3] + "..."

    def _escape(self, value: str) -> str:
        if "json" in self.content_type:
            return json.dumps(value)[1:-1]
        if "x-www-form-urlencoded" in self.content_type:
            return urllib.parse.quote_plus(value)
        return value

    def requests(self, batch: Batch) -> list[tuple[str, str | None]]:
        first = batch.alerts[0]
        values = {"message": self.message(batch), "model": first.model, "version": str(first.version),
                  "rule": first.rule, "severity": first.severity, "status": batch.status}
        out = []
        for number in self.to:
            v = {**values, "to": number}
            url = self.url_template.substitute({k: urllib.parse.quote(x, safe="") for k, x in v.items()})
            body = (self.body_template.substitute({k: self._escape(x) for k, x in v.items()})
                    if self.body_template is not None else None)
            out.append((url, body))
        return out

    def send(self, batch: Batch) -> int:
        status = 0
        for url, body in self.requests(batch):
            status = _http_status(_post(url, None, self.timeout, self.headers, self.method,
                                        content=(body or "").encode()))
        return status


CHANNEL_TYPES: dict[str, type[Channel]] = {c.type: c for c in (
    LogChannel, WebhookChannel, SlackChannel, DingTalkChannel, WeComChannel, EmailChannel, SmsChannel)}

# Per type: field -> (kind, required). Every type also takes name, rate_limit and timeout.
_COMMON = {"type": ("str", True), "name": ("str", False), "rate_limit": ("rate", False), "timeout": ("duration", False)}
_SPECS: dict[str, dict[str, tuple[str, bool]]] = {
    "log": {},
    "webhook": {"url": ("url", True), "headers": ("dict", False)},
    "slack": {"url": ("url", True), "channel": ("str", False)},
    "dingtalk": {"url": ("url", True), "secret": ("secret", False), "at_mobiles": ("list", False),
                 "at_all": ("bool", False)},
    "wecom": {"url": ("url", True)},
    "email": {"host": ("str", True), "port": ("port", False), "to": ("list", True), "sender": ("str", True),
              "starttls": ("bool", False), "ssl": ("bool", False), "username": ("str", False),
              "password": ("secret", False), "ca_file": ("str", False), "verify": ("bool", False)},
    "sms": {"url": ("url", True), "to": ("list", True), "method": ("method", False), "body": ("template", False),
            "headers": ("dict", False), "content_type": ("str", False), "max_length": ("int", False)},
}


def load_channels(path: str | Path) -> list[Channel]:
    """The channels of a YAML file holding ``channels: [...]`` (or the dispatcher's settings)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"Could not read the channels file {str(path)!r}: {exc}") from None
    return channels_from_config(data.get("channels") if isinstance(data, dict) else data)


def channels_from_config(data: Any) -> list[Channel]:
    """Channels from a list of mappings such as
    ``[{type: slack, url: ...}, {type: email, host: ..., port: 587, password_env: SMTP_PASSWORD}]``.
    A secret field ``x`` may instead be given as ``x_env``, the name of an environment variable."""
    if isinstance(data, Mapping) and "channels" in data:
        data = data["channels"]
    if not isinstance(data, list) or not data:
        raise InvalidInput(f"channels is a non-empty list such as [{{type: log}}]; got {data!r}.")
    channels: list[Channel] = []
    taken: set[str] = set()
    for i, item in enumerate(data):
        channel = _channel(f"channels[{i}]", item)
        if channel.name in taken:
            if "name" in item:
                raise InvalidInput(f"channels[{i}].name: {channel.name!r} names another channel already; "
                                   "give each channel its own name.")
            n = 2
            while f"{channel.name}-{n}" in taken:
                n += 1
            channel.name = f"{channel.name}-{n}"
        taken.add(channel.name)
        channels.append(channel)
    return channels


def _channel(where: str, item: Any) -> Channel:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} is a mapping with a type such as {{type: slack, url: ...}}; got {item!r}.")
    kind = item.get("type")
    if kind not in _SPECS:
        raise InvalidInput(f"{where}.type: {kind!r} is not a channel type; use one of {sorted(_SPECS)}.")
    spec = {**_COMMON, **_SPECS[kind]}
    values: dict[str, Any] = {}
    for key, raw in item.items():
        if not isinstance(key, str):
            raise InvalidInput(f"{where}: field names are strings; got {key!r}.")
        field_name = key[:-4] if key.endswith("_env") and key[:-4] in spec else key
        if field_name not in spec:
            raise InvalidInput(f"{where}.{key}: not a field of a {kind} channel; its fields are "
                               f"{sorted(set(spec) - {'type'})}.")
        if field_name in values:
            raise InvalidInput(f"{where}: give {field_name} or {field_name}_env, not both.")
        if key != field_name:  # from the environment, so the file holds no secret
            if not isinstance(raw, str) or not raw:
                raise InvalidInput(f"{where}.{key} is the name of an environment variable; got {raw!r}.")
            if raw not in os.environ:
                raise InvalidInput(f"{where}.{key}: the environment variable {raw} is not set; set it, "
                                   f"or give {field_name} itself.")
            raw = os.environ[raw]
        values[field_name] = _check(f"{where}.{key}", spec[field_name][0], raw)
    for name, (_, required) in spec.items():
        if required and name not in values:
            raise InvalidInput(f"{where}.{name} is required for a {kind} channel"
                               + (f" (or {name}_env)." if spec[name][0] in ("url", "secret", "str") else "."))
    values.pop("type")
    if kind == "email" and values.get("ssl") and values.get("starttls"):
        raise InvalidInput(f"{where}: ssl (implicit TLS, port 465) and starttls exclude each other; choose one.")
    if kind == "email":
        values.setdefault("port", 465 if values.get("ssl") else 587)
        if values.get("ssl"):
            values.setdefault("starttls", False)
        if values.get("username") and "password" not in values:
            raise InvalidInput(f"{where}.password (or password_env) is required with a username.")
    if kind == "sms":
        _check_template(f"{where}.url", values["url"])
        if "body" in values:
            _check_template(f"{where}.body", values["body"])
    return CHANNEL_TYPES[kind](**values)


def _check(where: str, kind: str, value: Any) -> Any:
    if kind in ("str", "secret", "template"):
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{where} is a non-empty string; got {value!r}.")
        return value
    if kind == "url":
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise InvalidInput(f"{where} is an http:// or https:// URL; got {value!r}.")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(f"{where} is true or false; got {value!r}.")
        return value
    if kind in ("int", "port"):
        low, high = (1, 65535) if kind == "port" else (1, 10**6)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(f"{where} is a whole number from {low} to {high}; got {value!r}.")
        return value
    if kind == "list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, (str, int)) for v in value):
            raise InvalidInput(f"{where} is a list of strings; got {value!r}.")
        return [str(v) for v in value]
    if kind == "dict":
        if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in value.items()):
            raise InvalidInput(f"{where} is a mapping of strings to strings; got {value!r}.")
        return dict(value)
    if kind == "method":
        if not isinstance(value, str) or value.upper() not in ("GET", "POST", "PUT"):
            raise InvalidInput(f"{where} is GET, POST or PUT; got {value!r}.")
        return value.upper()
    if kind == "duration":
        seconds = parse_duration(value, where)
        if seconds <= 0:
            raise InvalidInput(f"{where} is a duration above 0; got {value!r}.")
        return seconds
    if kind == "rate":
        return _rate(where, value)
    raise AssertionError(kind)


def _rate(where: str, value: Any) -> tuple[int, float] | None:
    """``20/1m``, ``{count: 20, per: 60s}``, or null for none."""
    if value is None:
        return None
    if isinstance(value, str) and "/" in value:
        count_text, per = value.split("/", 1)
        count: Any = count_text.strip()
        count = int(count) if count.isdigit() else count
    elif isinstance(value, Mapping) and set(value) == {"count", "per"}:
        count, per = value["count"], value["per"]
    else:
        raise InvalidInput(f"{where} is COUNT/DURATION such as 20/1m, or {{count: 20, per: 1m}}; got {value!r}.")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInput(f"{where}: the count is a whole number of at least 1; got {value!r}.")
    seconds = parse_duration(per, where)
    if seconds <= 0:
        raise InvalidInput(f"{where}: the duration is above 0; got {value!r}.")
    return count, seconds


def _check_template(where: str, text: str) -> None:
    try:
        string.Template(text).substitute({k: "x" for k in SmsChannel.FIELDS})
    except KeyError as exc:
        fields = ", ".join("$" + f for f in SmsChannel.FIELDS)
        raise InvalidInput(f"{where}: ${exc.args[0]} is not a template field; use {fields}.") from None
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}; write a literal $ as $$.") from None
