#!/usr/bin/python3
"""notify_sink.py DIR ADDR HTTP_PORT SMTP_PORT - the far end of notifications
for tests/lab/notify.sh: a real HTTP server and a real SMTP server (aiosmtpd)
that record what dosips sends, and check each chat payload against the shape
its service documents.

HTTP paths (POST):
  /ok/NAME      200 "ok"; each post is one JSON line in DIR/NAME.posts
  /flaky/NAME   first post 429 with Retry-After: 2, later ones 200
  /busy/NAME    first post 503 (no Retry-After), later ones 200
  /gone/NAME    400, always
  /hang/NAME    reads the request and never answers
Every attempt is logged to DIR/attempts as "unix-time NAME status".
Mail: each message is written to DIR/mail.N (N from 1).
Payload check: `notify_sink.py --check TYPE FILE` validates every line of
FILE as a TYPE payload and prints the count, or the first error (exit 1).
Bans: `notify_sink.py --bans SOCKET N NET SECONDS CLIENTS` (see ban_many).
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def need(cond, what):
    if not cond:
        raise ValueError(what)


def text(o, key, limit):
    need(isinstance(o.get(key), str) and 0 < len(o[key]) <= limit,
         f"{key}: a string of 1 to {limit} characters")
    return o[key]


# Slack incoming webhook + Block Kit (api.slack.com/reference/block-kit).
def check_slack(o):
    text(o, "text", 40000)
    blocks = o.get("blocks")
    need(isinstance(blocks, list) and 0 < len(blocks) <= 50, "blocks: 1 to 50")
    for b in blocks:
        t = b.get("type")
        need(t in ("header", "section", "context", "divider"), f"block type {t}")
        if t == "header":
            need(b["text"]["type"] == "plain_text", "header text is plain_text")
            text(b["text"], "text", 150)
        if t == "section":
            need(b["text"]["type"] in ("mrkdwn", "plain_text"), "section text type")
            text(b["text"], "text", 3000)
            need(len(b.get("fields", [])) <= 10, "at most 10 fields")
            for f in b.get("fields", []):
                text(f, "text", 2000)
        if t == "context":
            need(0 < len(b["elements"]) <= 10, "context: 1 to 10 elements")


# Discord execute webhook (discord.com/developers/docs/resources/webhook).
def check_discord(o):
    need("content" in o or "embeds" in o, "content or embeds")
    if "content" in o:
        text(o, "content", 2000)
    embeds = o.get("embeds", [])
    need(len(embeds) <= 10, "at most 10 embeds")
    for e in embeds:
        text(e, "title", 256)
        if "description" in e:
            text(e, "description", 4096)
        need(isinstance(e.get("color", 0), int) and 0 <= e.get("color", 0) <= 0xFFFFFF,
             "color: an integer RGB")
        if "timestamp" in e:
            time.strptime(e["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")
        need(len(e.get("fields", [])) <= 25, "at most 25 fields")
        for f in e.get("fields", []):
            text(f, "name", 256)
            text(f, "value", 1024)
    need(o.get("allowed_mentions", {}).get("parse") == [], "mentions disabled")


# Mattermost incoming webhook (developers.mattermost.com/integrate/webhooks/incoming).
def check_mattermost(o):
    text(o, "text", 16383)


# Teams workflow webhook: a message with Adaptive Card attachments.
def check_teams(o):
    need(o.get("type") == "message", "type message")
    atts = o.get("attachments")
    need(isinstance(atts, list) and len(atts) == 1, "one attachment")
    a = atts[0]
    need(a.get("contentType") == "application/vnd.microsoft.card.adaptive", "contentType")
    c = a["content"]
    need(c.get("type") == "AdaptiveCard", "content type AdaptiveCard")
    need(c.get("$schema") == "http://adaptivecards.io/schemas/adaptive-card.json", "$schema")
    need(isinstance(c.get("version"), str), "version")
    for el in c["body"]:
        need(el["type"] in ("TextBlock", "FactSet"), f"element {el['type']}")
        if el["type"] == "TextBlock":
            text(el, "text", 10000)
        else:
            for f in el["facts"]:
                text(f, "title", 256)
                text(f, "value", 1024)


# Generic webhook: dosips's event JSON (or a digest or test object).
def check_webhook(o):
    need(o.get("event") in ("ban", "unban", "alert", "whitelisted", "ban_cap", "digest",
                            "test") or isinstance(o.get("event"), str), "event")
    text(o, "ts", 40)
    if o["event"] == "digest":
        need(isinstance(o["count"], int) and o["count"] > 0, "digest count")
        need(sum(o["events"].values()) == o["count"], "digest events add up")


CHECKS = {"slack": check_slack, "discord": check_discord, "mattermost": check_mattermost,
          "teams": check_teams, "webhook": check_webhook}


def check_file(kind, path):
    n = 0
    with open(path) as f:
        for line in f:
            try:
                CHECKS[kind](json.loads(line))
            except (ValueError, KeyError, TypeError) as e:
                print(f"{path}:{n + 1}: not a {kind} payload: {e}")
                return 1
            n += 1
    print(n)
    return 0


class Handler(BaseHTTPRequestHandler):
    lock = threading.Lock()
    seen = set()

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"ok", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _, kind, name = (self.path.split("/") + ["", ""])[:3]
        if kind == "hang":
            self.log(name, 0)
            time.sleep(3600)
            return
        status = 200
        if kind == "gone":
            status = 400
        with Handler.lock:
            if kind in ("flaky", "busy") and name not in Handler.seen:
                Handler.seen.add(name)
                status = 429 if kind == "flaky" else 503
            self.log(name, status)
            if status == 200:
                with open(os.path.join(DIR, name + ".posts"), "a") as f:
                    f.write(json.dumps(json.loads(body)) + "\n")
        self.answer(status, b"ok" if status == 200 else b"slow down",
                    [("Retry-After", "2")] if status == 429 else [])

    def log(self, name, status):
        with open(os.path.join(DIR, "attempts"), "a") as f:
            f.write(f"{time.time():.3f} {name} {status}\n")


class Mailbox:
    n = 0

    async def handle_DATA(self, server, session, envelope):
        Mailbox.n += 1
        with open(os.path.join(DIR, f"mail.{Mailbox.n}"), "wb") as f:
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\n")
            f.write(envelope.original_content.replace(b"\r\n", b"\n"))
        return "250 OK"


def ban_many(sock, n, net, seconds, clients):
    """Bans n addresses from 198.19.NET.1 on, paced evenly over seconds,
    clients at once; prints elapsed seconds, then the mean and the
    longest request-to-"ok" time (the ban is in the kernel by then)."""
    import socket
    from concurrent.futures import ThreadPoolExecutor
    t0 = time.time()

    def ban(i):
        time.sleep(max(0.0, t0 + i * seconds / n - time.time()))
        start = time.time()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(sock)
            c.sendall(f"ban 198.19.{net + i // 250}.{i % 250 + 1} 600\n".encode())
            reply = b""
            while chunk := c.recv(4096):
                reply += chunk
        if not reply.endswith(b"ok\n"):
            raise RuntimeError(f"ban {i}: {reply!r}")
        return time.time() - start

    with ThreadPoolExecutor(clients) as pool:
        took = list(pool.map(ban, range(n)))
    print(f"{time.time() - t0:.2f} {sum(took) / n:.4f} {max(took):.4f}")


if __name__ == "__main__":
    if sys.argv[1] == "--bans":
        ban_many(sys.argv[2], *map(int, sys.argv[3:5]), *map(float, sys.argv[5:6]),
                 *map(int, sys.argv[6:7]))
        sys.exit(0)
    if sys.argv[1] == "--check":
        sys.exit(check_file(sys.argv[2], sys.argv[3]))
    DIR, addr, http_port, smtp_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    from aiosmtpd.controller import Controller
    smtp = Controller(Mailbox(), hostname=addr, port=smtp_port)
    smtp.start()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer((addr, http_port), Handler).serve_forever()
