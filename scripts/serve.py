#!/usr/bin/env python3
"""Serves a folder over HTTP on 127.0.0.1, cross-origin isolated by default (the headers that
let the SDK's workers share gradients on a SharedArrayBuffer).

Usage: scripts/serve.py PORT DIR [--no-isolation]
"""
import functools
import http.server
import sys


def main() -> None:
    port, root = int(sys.argv[1]), sys.argv[2]
    isolate = "--no-isolation" not in sys.argv[3:]

    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self) -> None:
            if isolate:
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            super().end_headers()

    handler = functools.partial(Handler, directory=root)
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as httpd:
        httpd.serve_forever()


if __name__ == "__main__":
    main()
