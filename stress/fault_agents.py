#!/usr/bin/env python3
"""Clients that `stress/faults` runs on its hosts; each prints one JSON
object on stdout when it ends. Standard library only.

  http-load URL --duration S --threads N
      kept-alive GET requests back to back; every request's start, end and
      outcome (a status other than 200, a timeout or a socket error fails).
  produce HOST:PORT TOPIC --count N --rate R [--pad BYTES]
      publishes the integers 0..N-1 (JSON) at R per second; with --pad, each
      as [i, "x" * BYTES].
  consume HOST:PORT TOPIC --count N --idle S
      receives until it has N messages, the broker closes it, or nothing
      comes for S seconds; what it received and how it ended.
"""
import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

# A request still unanswered after this long fails.
REQUEST_TIMEOUT_S = 5


def http_load(args):
    url = urllib.parse.urlsplit(args.url)
    deadline = time.time() + args.duration
    records = []
    lock = threading.Lock()

    def worker():
        conn = None
        mine = []
        while time.time() < deadline:
            if conn is None:
                conn = http.client.HTTPConnection(url.hostname, url.port,
                                                  timeout=REQUEST_TIMEOUT_S)
            start = time.time()
            try:
                conn.request("GET", url.path or "/")
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                detail = str(response.status)
            except (OSError, http.client.HTTPException) as error:
                ok, detail = False, type(error).__name__
            if not ok:
                conn.close()
                conn = None
            mine.append((start, time.time(), ok, detail))
        with lock:
            records.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"requests": sorted(records)}))


def _queue(addr, topic, consumer):
    from distloop_broker.middleware import JSONQueue, MiddlewareType
    host, port = addr.rsplit(":", 1)
    kind = MiddlewareType.CONSUMER if consumer else MiddlewareType.PRODUCER
    return JSONQueue(topic, kind, host=host, port=int(port))


def produce(args):
    queue = _queue(args.broker, args.topic, consumer=False)
    padding = "x" * args.pad
    start = time.time()
    for i in range(args.count):
        # Paced from the start, so a late message never bunches the next ones.
        delay = start + i / args.rate - time.time()
        if delay > 0:
            time.sleep(delay)
        queue.push([i, padding] if padding else i)
    # A round trip: every publish before it has been handled.
    queue.list_topics(lambda _topics: None)
    queue.close()
    print(json.dumps({"sent": args.count, "seconds": time.time() - start}))


def consume(args):
    queue = _queue(args.broker, args.topic, consumer=True)
    # The subscription is in place once the broker has answered after it.
    queue.list_topics(lambda _topics: None)
    print("subscribed", file=sys.stderr, flush=True)
    queue.settimeout(args.idle)
    received = []
    ended = "count"
    while len(received) < args.count:
        try:
            _topic, value = queue.pull()
        except socket.timeout:
            ended = "idle"
            break
        except Exception as error:  # noqa: BLE001 - how it ended is the result
            ended = f"{type(error).__name__}: {error}"
            break
        received.append(value[0] if isinstance(value, list) else value)
    distinct = set(received)
    print(json.dumps({"received": len(received), "distinct": len(distinct),
                      "in_order": received == sorted(received), "ended": ended,
                      "missing": args.count - len(distinct)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("http-load")
    p.add_argument("url")
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--threads", type=int, default=4)
    p = sub.add_parser("produce")
    p.add_argument("broker")
    p.add_argument("topic")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--pad", type=int, default=0)
    p = sub.add_parser("consume")
    p.add_argument("broker")
    p.add_argument("topic")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--idle", type=float, default=5)
    args = parser.parse_args()
    {"http-load": http_load, "produce": produce, "consume": consume}[args.verb](args)


if __name__ == "__main__":
    main()
