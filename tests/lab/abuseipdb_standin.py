#!/usr/bin/env python3
# abuseipdb_standin.py - a LOCAL STAND-IN for AbuseIPDB's public API v2, for
# tests only: it answers /api/v2/check and /api/v2/blacklist in the JSON
# shapes AbuseIPDB documents (https://docs.abuseipdb.com/), checks the Key
# header, and appends one line per request to LOG ("check ADDR",
# "blacklist", or "denied ..."). Scores come from SCORES, "addr=score,..." (default 100).
#   abuseipdb_standin.py HOST PORT KEY LOG [SCORES]
import http.server
import json
import sys
import urllib.parse

HOST, PORT, KEY, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
SCORES = dict(kv.split("=") for kv in sys.argv[5].split(",")) if len(sys.argv) > 5 else {}


def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")


class H(http.server.BaseHTTPRequestHandler):
    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-RateLimit-Limit", "1000")
        self.send_header("X-RateLimit-Remaining", "998")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if self.headers.get("Key") != KEY:
            log("denied " + self.path)
            return self.answer(401, {"errors": [{"detail": "Authentication failed. Your API key is either missing, incorrect, or revoked.", "status": 401}]})
        if u.path == "/api/v2/check":
            ip = q.get("ipAddress", [""])[0]
            log("check " + ip)
            self.answer(200, {"data": {
                "ipAddress": ip, "isPublic": True, "ipVersion": 6 if ":" in ip else 4,
                "isWhitelisted": False, "abuseConfidenceScore": int(SCORES.get(ip, 100)),
                "countryCode": "NL", "usageType": "Data Center/Web Hosting/Transit",
                "isp": "Example Hosting", "domain": "example.net", "hostnames": [],
                "isTor": False, "totalReports": 12, "numDistinctUsers": 5,
                "lastReportedAt": "2026-12-01T10:00:00+00:00",
                "reports": [
                    {"reportedAt": "2026-12-01T10:00:00+00:00", "comment": "SYN flood",
                     "categories": [4, 15], "reporterId": 1, "reporterCountryCode": "US",
                     "reporterCountryName": "United States"},
                    {"reportedAt": "2026-11-30T08:00:00+00:00", "comment": "scan",
                     "categories": [14], "reporterId": 2, "reporterCountryCode": "DE",
                     "reporterCountryName": "Germany"}]}})
        elif u.path == "/api/v2/blacklist":
            log("blacklist")
            self.answer(200, {"meta": {"generatedAt": "2026-12-02T10:00:00+00:00"}, "data": [
                {"ipAddress": "5.6.7.8", "countryCode": "US", "abuseConfidenceScore": 100,
                 "lastReportedAt": "2026-12-02T09:58:01+00:00"}]})
        else:
            log("unknown " + self.path)
            self.answer(404, {"errors": [{"detail": "Not found", "status": 404}]})

    def log_message(self, *a):
        pass


http.server.HTTPServer((HOST, PORT), H).serve_forever()
