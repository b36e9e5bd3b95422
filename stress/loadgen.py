"""A closed-loop HTTP load generator: N threads, each one request at a time.

Standard library only (threads and http.client). Every thread keeps its
connection alive (or opens one per request with `keep_alive=False`), sends
GET requests back to back until the deadline or its request quota, and
records per request the latency, the status and the `X-Backend` header.
A request that ends in a status other than 200, a timeout or a socket error
counts as a failure; the thread then reconnects and goes on.
"""
import http.client
import threading
import time
from collections import Counter

from cluster import percentile

# A request still unanswered after this long is a failure.
REQUEST_TIMEOUT_S = 10


class Result:
    """What one run measured."""

    def __init__(self):
        self.latencies = []  # seconds, successful requests only
        self.failures = 0
        self.statuses = Counter()
        self.backends = Counter()
        self.elapsed = 0.0

    @property
    def ok(self):
        return len(self.latencies)

    def rate(self):
        return self.ok / self.elapsed if self.elapsed else 0.0

    def ms(self, p):
        return percentile(self.sorted_latencies, p) * 1000

    def merge(self, other):
        self.latencies += other.latencies
        self.failures += other.failures
        self.statuses.update(other.statuses)
        self.backends.update(other.backends)

    def finish(self, elapsed):
        self.elapsed = elapsed
        self.sorted_latencies = sorted(self.latencies)


def _worker(host, port, path, keep_alive, deadline, quota, result):
    conn = None
    headers = {} if keep_alive else {"Connection": "close"}
    done = 0
    while time.monotonic() < deadline and (quota is None or done < quota):
        done += 1
        started = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_S)
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            latency = time.monotonic() - started
            result.statuses[response.status] += 1
            if response.status == 200:
                result.latencies.append(latency)
                result.backends[response.getheader("X-Backend", "?")] += 1
            else:
                result.failures += 1
            if not keep_alive or response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as error:
            result.failures += 1
            result.statuses[type(error).__name__] += 1
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def run(address, path, clients, duration_s=None, requests_per_client=None, keep_alive=True):
    """Runs `clients` threads against `address` ("host:port") for `duration_s`
    seconds or `requests_per_client` requests each (whichever comes first)."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + (duration_s if duration_s is not None else 3600)
    per_thread = [Result() for _ in range(clients)]
    threads = [threading.Thread(target=_worker, daemon=True,
                                args=(host, int(port), path, keep_alive, deadline,
                                      requests_per_client, per_thread[i]))
               for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Result()
    for part in per_thread:
        total.merge(part)
    total.finish(time.monotonic() - started)
    return total
