"""An HTTP proxy that sends each request to the next of several adminstats servers in turn.

The SDK suites run through it against two servers over one PostgreSQL database
(ADMINSTATS_SDK_STORE=postgres): every request, so every page, goes to the other server than the
one before, which is what "many servers behave as one" must survive. Request and response pass
through unchanged (status, headers, body), but for the hop-by-hop headers.

    python alternate.py http://127.0.0.1:8081 http://127.0.0.1:8082
    # prints "listening on http://127.0.0.1:PORT" and serves until killed
"""
from __future__ import annotations

import http.client
import itertools
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
              "upgrade", "content-length"}


class Alternate:
    """The proxy, serving on a thread of its own until `close()`."""

    def __init__(self, backends: list[str]):
        self.backends = [urllib.parse.urlsplit(b) for b in backends]
        turn = itertools.cycle(range(len(self.backends)))
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without this, Nagle's algorithm and the
            # client's delayed ACK hold every response back some 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                with lock:
                    target = outer.backends[next(turn)]
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    body = self._read_chunked()
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except OSError as e:
                    self.send_response(502)
                    msg = f'{{"code":1080001,"msg":"alternate proxy: {e}"}}'.encode()
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                finally:
                    conn.close()
                self.send_response_only(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _read_chunked(self) -> bytes:
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()  # the CRLF after the chunk

            def __getattr__(self, name):
                # Every method, however unusual, goes to the servers (they answer 405 themselves).
                if name.startswith("do_"):
                    return self._forward
                raise AttributeError(name)

        class Server(ThreadingHTTPServer):
            # The default backlog of 5 drops the SYNs of a burst of connections (retried after
            # 1 s, 3 s, …): an SDK's burst of 45 requests would take seconds.
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    proxy = Alternate(sys.argv[1:])
    print(f"listening on {proxy.base}", flush=True)
    threading.Event().wait()
