#!/usr/bin/env python3
"""Publishes benchmark events to an nchan publisher location, as `ssehub serve --rate R --size B`
publishes them: R events a second whose data is the decimal nanoseconds since the UNIX epoch, a
space, and padding to B bytes. Events are on an absolute schedule (a late one is sent at once,
none is skipped), spread over CONNS HTTP/1.1 keep-alive connections on 127.0.0.1 (default 4):
with 10,000 streams, one connection waiting for each answer got only about 3 events a second
through nchan (BENCHMARKS.md, "TLS").

    bench/publish.py URL RATE SIZE [CONNS]      e.g. http://127.0.0.1:18089/pub 10 64

Runs until killed (SIGTERM or SIGINT), exits 1 on the first failed publish.
"""
import http.client
import os
import signal
import sys
import threading
import time
import urllib.parse


def publisher(parts, rate, size, conns, index, start):
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    period = conns / rate
    due = start + index / rate
    while True:
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        data = f"{time.time_ns()} ".encode()
        data += b"x" * max(0, size - len(data))
        try:
            conn.request("POST", parts.path or "/", body=data, headers={"Content-Type": "text/plain"})
            resp = conn.getresponse()
            resp.read()
        except OSError as e:
            print(f"publish.py: {e}", file=sys.stderr)
            os._exit(1)
        if resp.status not in (200, 201, 202):
            print(f"publish.py: answered {resp.status}", file=sys.stderr)
            os._exit(1)
        due += period


def main():
    url, rate, size = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    conns = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("publish.py: loopback only")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    start = time.monotonic()
    for i in range(conns):
        threading.Thread(target=publisher, args=(parts, rate, size, conns, i, start), daemon=True).start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
