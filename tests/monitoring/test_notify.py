"""Notifications against real receivers on loopback: an HTTP server in a thread that records
every request (and can fail on purpose), and aiosmtpd's SMTP server with STARTTLS and login.
Time is a fake clock, so group waits, repeats and rate windows take no wall time."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import logging
import socket
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelcycle.exceptions import InvalidInput
from modelcycle.monitoring.channels import (
    DingTalkChannel, EmailChannel, LogChannel, SlackChannel, SmsChannel, WebhookChannel, WeComChannel,
    channels_from_config, load_channels,
)
from modelcycle.monitoring.notify import Dispatcher, Notification, fingerprint

T0 = 1_780_000_000_000  # ms
SECRET = "SEC-test-secret"


class FakeClock:
    def __init__(self, now_ms: int = T0):
        self.now = now_ms
        self.slept: list[float] = []

    def now_ms(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += int(seconds * 1000)

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


class Receiver:
    """Records requests; answers ``status`` after failing the first ``fail_first`` with 503.
    With ``dingtalk_secret`` it checks DingTalk's signature as the robot does."""

    def __init__(self, fail_first: int = 0, status: int = 200, answer: dict | None = None,
                 dingtalk_secret: str | None = None):
        self.requests: list[dict] = []
        self.fail_first, self.status, self.answer = fail_first, status, answer
        self.dingtalk_secret = dingtalk_secret
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                url = urllib.parse.urlsplit(self.path)
                record = {"method": self.command, "path": url.path, "query": urllib.parse.parse_qs(url.query),
                          "headers": dict(self.headers), "body": body}
                receiver.requests.append(record)
                status, answer = receiver.status, receiver.answer or {"errcode": 0, "errmsg": "ok"}
                if len(receiver.requests) <= receiver.fail_first:
                    status = 503
                elif receiver.dingtalk_secret is not None:
                    answer = receiver.check_sign(record["query"])
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def check_sign(self, query: dict) -> dict:
        try:
            ts, sign = query["timestamp"][0], query["sign"][0]  # parse_qs has URL-decoded sign once
        except KeyError:
            return {"errcode": 310000, "errmsg": "sign not match"}
        expected = base64.b64encode(hmac.new(self.dingtalk_secret.encode(), f"{ts}\n{self.dingtalk_secret}".encode(),
                                             hashlib.sha256).digest()).decode()
        ok = hmac.compare_digest(sign, expected)
        return {"errcode": 0, "errmsg": "ok"} if ok else {"errcode": 310000, "errmsg": "sign not match"}

    def json(self, i: int = -1) -> dict:
        return json.loads(self.requests[i]["body"])

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def alert(rule="error-rate", state="firing", model="fraud", version=3, value=0.021, since=T0, **kw) -> Notification:
    return Notification(model=model, version=version, rule=rule, state=state, value=value, threshold=0.01,
                        since=since, severity="critical", expr="error_rate > 0.01",
                        report="http://127.0.0.1/report.html", annotations={"summary": "too many errors"}, **kw)


def dispatcher(*channels, clock=None, **kw) -> Dispatcher:
    kw.setdefault("group_wait", 0)
    return Dispatcher(list(channels), clock=clock or FakeClock(), backoff=1, **kw)


# -- payload shapes --------------------------------------------------------------------------


def test_webhook_sends_alertmanager_json(receivers):
    r = receivers()
    clock = FakeClock()
    d = dispatcher(WebhookChannel(r.url + "/hook"), clock=clock, receiver="team", external_url="http://mc")
    d.submit(alert())
    d.submit(alert(rule="error-rate", version=4))
    records = d.flush()
    assert [x.outcome for x in records] == ["sent"]
    body = r.json()
    assert set(body) >= {"version", "groupKey", "status", "receiver", "groupLabels", "commonLabels",
                         "commonAnnotations", "externalURL", "alerts"}
    assert (body["version"], body["status"], body["receiver"], body["externalURL"]) == ("4", "firing", "team",
                                                                                      "http://mc")
    assert body["groupLabels"] == {"model": "fraud", "alertname": "error-rate"}
    assert body["groupKey"] == '{}:{model="fraud",alertname="error-rate"}'
    assert body["commonLabels"] == {"alertname": "error-rate", "model": "fraud", "severity": "critical"}
    assert body["commonAnnotations"]["summary"] == "too many errors"
    assert len(body["alerts"]) == 2
    first = body["alerts"][0]
    assert set(first) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    assert first["labels"]["version"] == "3"
    assert first["startsAt"] == "2026-05-28T20:26:40.000Z"
    assert datetime.datetime.fromisoformat(first["startsAt"].replace("Z", "+00:00")).timestamp() * 1000 == T0
    assert first["endsAt"] == "0001-01-01T00:00:00Z"
    assert first["generatorURL"] == "http://127.0.0.1/report.html"
    assert first["annotations"]["value"] == "0.021" and first["annotations"]["threshold"] == "0.01"
    assert first["fingerprint"] == fingerprint(first["labels"]) and len(first["fingerprint"]) == 16


def test_fingerprint_is_prometheus_fnv1a():
    # FNV-1a 64 offset basis for the empty set; each name and value followed by 0xff.
    assert fingerprint({}) == "cbf29ce484222325"
    h = 0xCBF29CE484222325
    for byte in b"a\xffb\xff":
        h = ((h ^ byte) * 0x100000001B3) % 2**64
    assert fingerprint({"a": "b"}) == f"{h:016x}"
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})


def test_slack_payload_has_blocks_and_text(receivers):
    r = receivers(answer={"ok": True})
    d = dispatcher(SlackChannel(r.url + "/services/T/B/X"))
    d.notify([alert()])
    body = r.json()
    assert body["blocks"][0]["type"] == "header"
    assert body["blocks"][0]["text"]["text"] == "[FIRING] error-rate on fraud version 3 (critical)"
    section = body["blocks"][1]["text"]
    assert section["type"] == "mrkdwn"
    for part in ("fraud version 3", "error-rate (error_rate > 0.01)", "0.021 (threshold 0.01)",
                 "2026-05-28T20:26:40.000Z", "<http://127.0.0.1/report.html|"):
        assert part in section["text"], part
    assert "fraud version 3" in body["text"] and "report.html" in body["text"]


def test_dingtalk_signed_url_is_verified_by_the_receiver(receivers):
    r = receivers(dingtalk_secret=SECRET)
    d = dispatcher(DingTalkChannel(r.url + "/robot/send?access_token=abc", secret=SECRET, at_mobiles=["138"]))
    records = d.notify([alert()])
    assert [x.outcome for x in records] == ["sent"], records
    req = r.requests[-1]
    assert req["query"]["access_token"] == ["abc"]
    assert abs(int(req["query"]["timestamp"][0]) - datetime.datetime.now().timestamp() * 1000) < 60_000
    body = r.json()
    assert body["msgtype"] == "markdown" and body["at"] == {"atMobiles": ["138"], "isAtAll": False}
    for part in ("fraud version 3", "error-rate", "0.021", "0.01", "2026-05-28T20:26:40.000Z", "report.html", "@138"):
        assert part in body["markdown"]["text"], part


def test_dingtalk_wrong_secret_is_refused_without_retry(receivers):
    r = receivers(dingtalk_secret=SECRET)
    d = dispatcher(DingTalkChannel(r.url + "/robot/send?access_token=abc", secret="wrong"))
    records = d.notify([alert()])
    assert [(x.outcome, x.attempt) for x in records] == [("gave_up", 1)]
    assert "310000" in records[0].error and "sign not match" in records[0].error


def test_dingtalk_sign_matches_the_documented_recipe():
    # DingTalk's recipe: base64(HMAC-SHA256(key=secret, msg="timestamp\nsecret")), then URL-encoded.
    ts = 1_700_000_000_000
    raw = base64.b64encode(hmac.new(b"s", f"{ts}\ns".encode(), hashlib.sha256).digest()).decode()
    assert DingTalkChannel.sign(ts, "s") == urllib.parse.quote_plus(raw)
    assert DingTalkChannel("http://x/robot/send?access_token=t", secret="s").target(ts) == (
        f"http://x/robot/send?access_token=t&timestamp={ts}&sign={urllib.parse.quote_plus(raw)}")


def test_wecom_markdown(receivers):
    r = receivers()
    d = dispatcher(WeComChannel(r.url + "/cgi-bin/webhook/send?key=k"))
    d.notify([alert(state="firing")])
    body = r.json()
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert len(content.encode()) <= 4096
    for part in ("fraud version 3", "error-rate", "0.021", "threshold 0.01", "Since", "report.html"):
        assert part in content, part


def test_robot_errcode_is_a_failure(receivers):
    r = receivers(answer={"errcode": 93000, "errmsg": "invalid webhook url"})
    records = dispatcher(WeComChannel(r.url + "/w")).notify([alert()])
    assert [x.outcome for x in records] == ["gave_up"] and "93000" in records[0].error


def test_sms_gateway_templates(receivers):
    r = receivers()
    channel = SmsChannel(r.url + "/sms?to=$to", to=["+8613800000000", "+4915100000000"],
                         body='{"to": "$to", "text": "$message"}')
    dispatcher(channel).notify([alert()])
    assert [q["query"]["to"] for q in r.requests] == [["+8613800000000"], ["+4915100000000"]]
    body = r.json(0)
    assert body["to"] == "+8613800000000"
    for part in ("fraud v3", "error-rate", "0.021", "threshold 0.01", "since 2026-05-28T20:26:40.000Z",
                 "report http://127.0.0.1/report.html"):
        assert part in body["text"], part


def test_sms_form_body_and_get(receivers):
    r = receivers()
    channel = channels_from_config([{"type": "sms", "url": r.url + "/send?msg=$message&n=$to", "method": "GET",
                                     "to": "+1555", "content_type": "application/x-www-form-urlencoded"}])[0]
    dispatcher(channel).notify([alert()])
    req = r.requests[0]
    assert req["method"] == "GET" and req["query"]["n"] == ["+1555"]
    assert req["query"]["msg"][0].startswith("[FIRING] fraud v3 error-rate: 0.021")


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: with cryptography, else the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            pytest.skip("neither cryptography nor openssl is here to make a certificate")
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(tls_files):
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))

    class Handler:
        def __init__(self):
            self.messages: list[dict] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                  "data": envelope.content.decode(), "tls": session.ssl is not None,
                                  "user": getattr(session, "login_data", None)})
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"alerts", b"pw")
        return AuthResult(success=ok, handled=False)

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), tls_context=context,
                            require_starttls=True, auth_required=True, auth_require_tls=True,
                            authenticator=authenticator)
    controller.start()
    yield controller, handler, cert
    controller.stop()


def test_email_over_starttls_with_login(smtp_server, monkeypatch):
    controller, handler, cert = smtp_server
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "pw")
    (channel,) = channels_from_config({"channels": [{
        "type": "email", "host": "127.0.0.1", "port": controller.port, "starttls": True, "username": "alerts",
        "password_env": "TEST_SMTP_PASSWORD", "sender": "mc@example.org", "to": ["ops@example.org"],
        "ca_file": str(cert)}]})
    records = dispatcher(channel).notify([alert()])
    assert [x.outcome for x in records] == ["sent"], records
    (msg,) = handler.messages
    assert msg["tls"] and msg["from"] == "mc@example.org" and msg["to"] == ["ops@example.org"]
    assert "Subject: [FIRING] error-rate on fraud version 3 (critical)" in msg["data"]
    for part in ("Model: fraud version 3", "Rule: error-rate (error_rate > 0.01)", "Value: 0.021 (threshold 0.01)",
                 "Since: 2026-05-28T20:26:40.000Z", "Report: http://127.0.0.1/report.html"):
        assert part in msg["data"], part


def test_email_wrong_password_is_not_retried(smtp_server):
    controller, handler, cert = smtp_server
    channel = EmailChannel("127.0.0.1", ["ops@example.org"], "mc@example.org", port=controller.port,
                           username="alerts", password="nope", ca_file=str(cert))
    records = dispatcher(channel).notify([alert()])
    assert [(x.outcome, x.attempt) for x in records] == [("gave_up", 1)]
    assert "refused" in records[0].error and handler.messages == []


def test_log_channel(caplog):
    with caplog.at_level(logging.INFO, logger="modelcycle.monitoring"):
        d = dispatcher(LogChannel())
        d.notify([alert()])
    assert any("error-rate on fraud version 3" in r.message and r.levelno == logging.WARNING for r in caplog.records)


# -- dispatch behaviour ----------------------------------------------------------------------


def test_dedupe_group_wait_repeat_and_resolved(receivers):
    r = receivers()
    clock = FakeClock()
    d = dispatcher(WebhookChannel(r.url), clock=clock, group_wait=30, group_interval=60, repeat_interval=3600)
    d.submit(alert())
    assert d.flush() == [] and r.requests == []  # waiting for the group to gather
    clock.advance(10)
    d.submit(alert(version=4))  # same model and rule: same group
    d.submit(alert(rule="latency", value=900.0))  # another group
    clock.advance(25)
    d.flush()
    assert len(r.requests) == 1 and len(r.json()["alerts"]) == 2  # the second group still waits
    clock.advance(10)
    d.flush()
    assert len(r.requests) == 2 and r.json()["groupLabels"]["alertname"] == "latency"

    for _ in range(3):  # the monitor submits firing alerts on every pass: no duplicates
        clock.advance(60)
        d.submit(alert())
        d.submit(alert(version=4))
        d.flush()
    assert len(r.requests) == 2

    clock.advance(3600)
    d.submit(alert())
    d.submit(alert(version=4))
    d.flush()
    repeats = [json.loads(q["body"]) for q in r.requests[2:]]
    assert [len(b["alerts"]) for b in repeats] == [2, 1]  # both groups repeat after repeat_interval

    clock.advance(120)
    d.submit(alert(version=4, state="resolved", resolved_at=clock.now))
    d.flush()
    body = r.json()
    assert [(a["labels"]["version"], a["status"]) for a in body["alerts"]] == [("3", "firing"), ("4", "resolved")]
    assert body["alerts"][1]["endsAt"] == datetime.datetime.fromtimestamp(
        clock.now / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    sent = len(r.requests)
    clock.advance(120)
    d.submit(alert(version=4, state="resolved", resolved_at=clock.now))
    d.flush()
    assert len(r.requests) == sent  # resolved once


def test_resolved_before_firing_was_sent_sends_nothing(receivers):
    r = receivers()
    clock = FakeClock()
    d = dispatcher(WebhookChannel(r.url), clock=clock, group_wait=30)
    d.submit(alert())
    clock.advance(5)
    d.submit(alert(state="resolved", resolved_at=clock.now))
    clock.advance(60)
    assert d.flush() == [] and r.requests == []


def test_silence_mutes_until_it_expires(receivers):
    r = receivers()
    clock = FakeClock()

    class Silence:
        expires_at = T0 + 600_000

        def matches(self, labels):
            return labels.get("alertname") == "error-rate" and labels.get("model") == "fraud"

    d = dispatcher(WebhookChannel(r.url), clock=clock, silences=lambda: [Silence()])
    d.notify([alert(), alert(rule="latency")])
    assert [b["groupLabels"]["alertname"] for b in map(json.loads, (q["body"] for q in r.requests))] == ["latency"]
    clock.advance(300)
    d.notify([alert()])
    assert len(r.requests) == 1
    clock.advance(301)  # expired: the still-firing alert goes out
    d.notify([alert()])
    assert len(r.requests) == 2 and r.json()["groupLabels"]["alertname"] == "error-rate"


def test_rate_limit_folds_into_one_digest(receivers):
    r = receivers()
    clock = FakeClock()
    d = dispatcher(DingTalkChannel(r.url + "/robot"), clock=clock, group_by=["model", "alertname", "version"])
    for i in range(25):
        d.submit(alert(version=i + 1))
    records = d.flush()
    assert len(r.requests) == 20
    assert [x.outcome for x in records].count("folded") == 5
    clock.advance(30)
    d.submit(alert(version=99))
    d.flush()
    assert len(r.requests) == 20  # the window is still full; this one joins the digest
    clock.advance(31)
    d.flush()
    assert len(r.requests) == 21
    digest = r.json()["markdown"]["text"]
    assert "Digest of 6 alert notifications" in digest
    assert all(f"fraud version {v}" in digest for v in (21, 22, 23, 24, 25, 99))
    assert d.send_log[-1].digest and d.send_log[-1].outcome == "sent"


def test_retries_with_backoff_until_the_receiver_answers(receivers):
    r = receivers(fail_first=2)
    clock = FakeClock()
    seen = []
    d = dispatcher(SlackChannel(r.url), clock=clock, max_attempts=4, on_attempt=seen.append)
    records = d.notify([alert()])
    assert [(x.attempt, x.outcome, x.status) for x in records] == [(1, "failed", 503), (2, "failed", 503),
                                                                  (3, "sent", 200)]
    assert clock.slept == [1, 2]  # exponential
    assert seen == records == d.send_log
    assert records[0].to_dict()["fingerprints"] == [alert().key]


def test_backoff_is_bounded_and_gives_up(receivers):
    r = receivers(fail_first=100)
    clock = FakeClock()
    d = Dispatcher([WebhookChannel(r.url)], clock=clock, group_wait=0, group_interval=300, max_attempts=5,
                   backoff=1, max_backoff=3)
    records = d.notify([alert()])
    assert [x.outcome for x in records] == ["failed"] * 4 + ["gave_up"]
    assert clock.slept == [1, 2, 3, 3]
    assert d.notify([alert()]) == []  # not on every pass: after group_interval
    clock.advance(300)
    assert len(d.notify([alert()])) == 5


def test_a_dead_receiver_never_stops_the_dispatcher(receivers):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"  # nothing listens once closed
    alive = receivers()

    def broken_hook(record):
        raise RuntimeError("the send log is down")

    class BadSilence:
        expires_at = None

        def matches(self, labels):
            raise ValueError("broken matcher")

    d = dispatcher(WebhookChannel(dead, name="dead", timeout=2), WebhookChannel(alive.url, name="alive"),
                   on_attempt=broken_hook, silences=[BadSilence()])
    records = d.notify([alert()])
    assert {(x.channel, x.outcome) for x in records} >= {("dead", "gave_up"), ("alive", "sent")}
    assert "ConnectError" in next(x.error for x in records if x.channel == "dead")
    assert len(alive.requests) == 1


def test_config_builds_channels_and_names_bad_fields(monkeypatch, tmp_path):
    monkeypatch.setenv("DING_SECRET", "s3")
    d = Dispatcher.from_config({"group_wait": "10s", "repeat_interval": "2h", "retry": {"attempts": 2},
                                "channels": [{"type": "slack", "url": "https://hooks.slack.com/x"},
                                             {"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send",
                                              "secret_env": "DING_SECRET", "rate_limit": "10/30s"},
                                             {"type": "wecom", "url": "https://qyapi.weixin.qq.com/x"},
                                             {"type": "log"}, {"type": "log"}]})
    assert [c.name for c in d.channels] == ["slack", "dingtalk", "wecom", "log", "log-2"]
    assert (d.group_wait_ms, d.repeat_interval_ms, d.max_attempts) == (10_000, 7_200_000, 2)
    assert d.channels[1].secret == "s3" and (d.channels[1].rate_limit.count, d.channels[1].rate_limit.per_s) == (10, 30)
    assert (d.channels[2].rate_limit.count, d.channels[2].rate_limit.per_s) == (20, 60)
    assert d.channels[0].rate_limit is None

    path = tmp_path / "channels.yaml"
    path.write_text("channels:\n  - type: webhook\n    url: http://127.0.0.1:9/x\n")
    assert [type(c) for c in load_channels(path)] == [WebhookChannel]

    bad = [
        ([{"type": "slak", "url": "http://x"}], "channels[0].type: 'slak' is not a channel type"),
        ([{"type": "slack"}], "channels[0].url is required for a slack channel"),
        ([{"type": "log"}, {"type": "slack", "url": "ftp://x"}], "channels[1].url is an http:// or https:// URL"),
        ([{"type": "email", "host": "h", "to": ["a@b"], "sender": "s@b", "port": 0}], "channels[0].port is a whole"),
        ([{"type": "email", "host": "h", "to": ["a@b"], "sender": "s@b", "password_env": "NOT_SET_ANYWHERE"}],
         "channels[0].password_env: the environment variable NOT_SET_ANYWHERE is not set"),
        ([{"type": "email", "host": "h", "to": ["a@b"], "sender": "s@b", "starttls": "yes"}],
         "channels[0].starttls is true or false"),
        ([{"type": "email", "host": "h", "to": ["a@b"], "sender": "s@b", "username": "u"}],
         "channels[0].password (or password_env) is required"),
        ([{"type": "slack", "url": "http://x", "colour": "red"}], "channels[0].colour: not a field of a slack"),
        ([{"type": "wecom", "url": "http://x", "rate_limit": "many"}], "channels[0].rate_limit is COUNT/DURATION"),
        ([{"type": "sms", "url": "http://x?to=$phone", "to": ["1"]}], "channels[0].url: $phone is not a template"),
        ([{"type": "log", "name": "a"}, {"type": "log", "name": "a"}], "channels[1].name: 'a' names another"),
        ([], "channels is a non-empty list"),
    ]
    for config, message in bad:
        with pytest.raises(InvalidInput) as info:
            channels_from_config(config)
        assert message in str(info.value), (config, str(info.value))
    with pytest.raises(InvalidInput, match="Unknown notification setting 'group_wiat'"):
        Dispatcher.from_config({"channels": [{"type": "log"}], "group_wiat": "1m"})
    with pytest.raises(InvalidInput, match="group_wait is a duration"):
        Dispatcher.from_config({"channels": [{"type": "log"}], "group_wait": "soon"})


def test_bad_notification_is_refused():
    with pytest.raises(InvalidInput, match="'firing' or 'resolved'"):
        alert(state="pending")
