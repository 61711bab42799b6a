#!/usr/bin/env python3
"""Publishes benchmark events to an nchan publisher location, as `ssehub serve --rate R --size B`
publishes them: R events a second whose data is the decimal nanoseconds since the UNIX epoch, a
space, and padding to B bytes. One HTTP/1.1 keep-alive connection on 127.0.0.1, events on an
absolute schedule (a late one is sent at once, none is skipped).

    bench/publish.py URL RATE SIZE      e.g. http://127.0.0.1:18089/pub 10 64

Runs until killed (SIGTERM or SIGINT), exits 1 on the first failed publish.
"""
import http.client
import signal
import sys
import time
import urllib.parse


def main():
    url, rate, size = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("publish.py: loopback only")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    period = 1.0 / rate
    due = time.monotonic()
    sent = 0
    while True:
        now_ns = time.time_ns()
        data = f"{now_ns} ".encode()
        data += b"x" * max(0, size - len(data))
        conn.request("POST", parts.path or "/", body=data, headers={"Content-Type": "text/plain"})
        resp = conn.getresponse()
        resp.read()
        if resp.status not in (200, 201, 202):
            sys.exit(f"publish.py: {url} answered {resp.status}")
        sent += 1
        due += period
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
