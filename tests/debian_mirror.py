# SPDX-License-Identifier: GPL-2.0-only
"""A Debian mirror on localhost that passes the real archive through, and can tamper with chosen files.

It stands where a compromised or broken mirror would: the bytes are Debian's, except one flipped byte in
every file whose path ends with one of `tamper`.  The fetcher must refuse those by the signed chain.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.kernels import debian


class TamperingMirror:
    def __init__(self, tamper: tuple[str, ...] = ()):
        self.tamper = tamper
        self.upstream = {
            "/debian/": debian.host_mirror() + "/",
            "/debian-security/": debian.mirror_for("x-security") + "/",
        }
        self.served: list[str] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                prefix = next((p for p in mirror.upstream if self.path.startswith(p)), None)
                if prefix is None:
                    self.send_error(404)
                    return
                try:
                    with urllib.request.urlopen(mirror.upstream[prefix] + self.path[len(prefix) :], timeout=60) as r:
                        body = bytearray(r.read())
                except urllib.error.HTTPError as exc:
                    self.send_error(exc.code)
                    return
                if body and self.path.endswith(mirror.tamper):
                    body[len(body) // 2] ^= 0x01
                mirror.served.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def env(self) -> dict[str, str]:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        return {debian.MIRROR_ENV: f"{base}/debian", debian.SECURITY_MIRROR_ENV: f"{base}/debian-security"}

    def __enter__(self) -> TamperingMirror:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
