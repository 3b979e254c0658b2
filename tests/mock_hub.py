#!/usr/bin/env python3
"""mock_hub.py DIR — a stand-in for the PAW hub and its CDN, for tests/test_hub.c.

Two HTTP servers on 127.0.0.1 (ephemeral ports): "hub" and "cdn".  Their ports
are written to DIR/ports ("HUB CDN\\n", renamed into place when ready).  Only
loopback: tests never touch the network.

Every request looks its answer up in DIR/routes.json, re-read each time so
that a test can change it between calls:
    {"/api/v1/programs/resolve/alice/triage": {"status": 200, "json": {...}},
     "cdn:/bundles/x.paw": {"status": 200, "file": "x.paw"},
     "/api/v1/programs/ID/download": [ {"status": 202, "headers": {"Retry-After": "1"}},
                                        {"status": 302, "cdn": "/bundles/x.paw"} ]}
Keys are paths (query string included when the key has one, else ignored);
CDN routes are prefixed "cdn:".  A list is played in order, its last entry
repeating.  Fields: status, json (body), file (body from DIR/file), body
(text), headers, cdn (Location on the CDN server), truncate (send only that
many bytes of the body but announce all of it), no_length (no
Content-Length; the connection's close ends the body).  Unknown paths: 404.

Each request is appended to DIR/requests.log as one JSON line:
    {"server": "hub"|"cdn", "path": "...", "key": X-API-Key or null}
The process exits when its parent does (the test binary), so a crashed test
leaves no server behind.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = sys.argv[1]
lock = threading.Lock()
played = {}
ports = {}


def routes():
    try:
        with open(os.path.join(DIR, "routes.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def make_handler(name):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            with lock:
                with open(os.path.join(DIR, "requests.log"), "a") as f:
                    f.write(json.dumps({"server": name, "path": self.path,
                                        "key": self.headers.get("X-API-Key")}) + "\n")
                table = routes()
                prefix = "cdn:" if name == "cdn" else ""
                key = prefix + self.path
                if key not in table:
                    key = prefix + self.path.split("?")[0]
                spec = table.get(key)
                if isinstance(spec, list):
                    i = played.get(key, 0)
                    played[key] = i + 1
                    spec = spec[min(i, len(spec) - 1)]
            if spec is None:
                spec = {"status": 404, "json": {"detail": "Not Found"}}
            body = b""
            if "json" in spec:
                body = json.dumps(spec["json"]).encode()
            elif "file" in spec:
                with open(os.path.join(DIR, spec["file"]), "rb") as f:
                    body = f.read()
            elif "body" in spec:
                body = spec["body"].encode()
            self.send_response(spec.get("status", 200))
            for k, v in spec.get("headers", {}).items():
                self.send_header(k, v)
            if "cdn" in spec:
                self.send_header("Location", "http://127.0.0.1:%d%s" % (ports["cdn"], spec["cdn"]))
            if spec.get("no_length"):
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            n = spec.get("truncate", len(body))
            self.wfile.write(body[:n])
            if n < len(body):
                self.close_connection = True

    return Handler


def main():
    servers = {}
    for name in ("hub", "cdn"):
        s = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(name))
        s.daemon_threads = True
        servers[name] = s
        ports[name] = s.server_address[1]
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tmp = os.path.join(DIR, "ports.tmp")
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (ports["hub"], ports["cdn"]))
    os.rename(tmp, os.path.join(DIR, "ports"))
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.2)


if __name__ == "__main__":
    main()
