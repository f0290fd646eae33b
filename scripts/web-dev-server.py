#!/usr/bin/env python3
"""Serve the browser app in web/ and proxy the API to a running budget-host.

The `web` component (components/web) embeds web/ when it is built and
serves it from the host; this server reads web/ from the checkout on every
request instead, so a change to the app shows on reload without rebuilding
the component:

    python3 scripts/web-dev-server.py --upstream http://127.0.0.1:8080 --listen 127.0.0.1:8000

- /v1/... and /admin/... go to --upstream, method, headers and body as they
  came (minus hop-by-hop headers); the answer comes back as it is.
- Anything else is a file under web/ when one exists, otherwise web/index.html,
  so that deep links such as /app/budgets/<id>/months/2026-11 load the app.
  Dot folders (web/.node) and web/tests are not served.

Python standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import mimetypes
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
API_PREFIXES = ("/v1/", "/admin/")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def make_handler(root: Path, upstream: urllib.parse.SplitResult, quiet: bool):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "web-dev-server"

        def log_message(self, fmt, *args):  # noqa: N802 (stdlib name)
            if not quiet:
                sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

        def do_GET(self):  # noqa: N802
            self.dispatch()

        def do_HEAD(self):  # noqa: N802
            self.dispatch()

        def do_POST(self):  # noqa: N802
            self.dispatch()

        def do_PUT(self):  # noqa: N802
            self.dispatch()

        def do_PATCH(self):  # noqa: N802
            self.dispatch()

        def do_DELETE(self):  # noqa: N802
            self.dispatch()

        def do_OPTIONS(self):  # noqa: N802
            self.dispatch()

        def dispatch(self):
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith(API_PREFIXES) or path in ("/v1", "/admin"):
                self.proxy()
            elif self.command in ("GET", "HEAD"):
                self.static(path)
            else:
                self.send_text(405, "method not allowed\n", {"allow": "GET, HEAD"})

        def read_body(self) -> bytes | None:
            length = self.headers.get("content-length")
            if length:
                return self.rfile.read(int(length))
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return None

        def proxy(self):
            body = self.read_body()
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["host"] = upstream.netloc
            if body is not None:
                headers["content-length"] = str(len(body))
            conn_cls = http.client.HTTPSConnection if upstream.scheme == "https" else http.client.HTTPConnection
            conn = conn_cls(upstream.hostname, upstream.port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                res = conn.getresponse()
                data = res.read()
            except OSError as exc:
                self.send_text(502, f'{{"error":{{"name":"bad_gateway","detail":"upstream unreachable: {exc}","id":""}}}}\n', {"content-type": "application/json"})
                return
            finally:
                conn.close()
            self.send_response(res.status, res.reason)
            for k, v in res.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def static(self, path: str):
            rel = urllib.parse.unquote(path).lstrip("/")
            parts = [p for p in rel.split("/") if p]
            target = None
            if parts and not any(p.startswith(".") or p == ".." for p in parts) and parts[0] != "tests":
                candidate = (root / Path(*parts)).resolve()
                if candidate.is_file() and root in candidate.parents:
                    target = candidate
            if target is None:
                # Unknown files with an extension are a 404; anything else is an app route.
                if parts and "." in parts[-1] and not path.startswith("/app"):
                    self.send_text(404, "not found\n")
                    return
                target = root / "index.html"
            data = target.read_bytes()
            ctype = TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self.send_response(200)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            self.send_header("cache-control", "no-cache")
            self.send_header("x-content-type-options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def send_text(self, status: int, text: str, headers: dict | None = None):
            data = text.encode()
            self.send_response(status)
            headers = {"content-type": "text/plain; charset=utf-8", **(headers or {})}
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


def main() -> int:
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default=os.environ.get("WEB_DEV_LISTEN", "127.0.0.1:8000"), help="host:port to listen on (default 127.0.0.1:8000)")
    parser.add_argument("--upstream", default=os.environ.get("BUDGET_SERVER", "http://127.0.0.1:8080"), help="the budget-host to proxy /v1 and /admin to")
    parser.add_argument("--root", default=str(repo / "web"), help="the folder to serve (default: web/ of this checkout)")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    args = parser.parse_args()

    host, _, port = args.listen.rpartition(":")
    upstream = urllib.parse.urlsplit(args.upstream)
    if upstream.scheme not in ("http", "https") or not upstream.hostname:
        parser.error("--upstream must be an http(s) URL")
    root = Path(args.root).resolve()
    if not (root / "index.html").is_file():
        parser.error(f"{root} has no index.html")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), make_handler(root, upstream, args.quiet))
    server.daemon_threads = True
    print(f"web-dev-server: http://{host or '127.0.0.1'}:{server.server_address[1]}/app  (API → {args.upstream})", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
