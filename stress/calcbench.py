"""Calculator servers and a load generator for the calculator's stress scripts.

Shared by stress/calc-load and stress/calc-vs-haproxy (standard library
only). `start_calc_servers` starts `distloop calc server`s on ephemeral
loopback ports (the last one burning CPU) and reads both of each one's
listening lines; `run_load` sends text expressions from many clients at once
and checks every answer; `requests_of` reads a server's request count from
its status port (`GET /`), from which the scripts compute each server's share.
"""
import json
import multiprocessing
import os
import socket
import subprocess
import tempfile
import threading
import time

from cluster import DISTLOOP, STARTUP_TIMEOUT_S, percentile, pinned, spawn

# No single request may take longer than this.
REQUEST_TIMEOUT_S = 10
# Client processes the load is spread over (threads within each), so that
# one Python interpreter's lock does not cap the load.
LOAD_PROCESSES = 4


def start_calc_servers(count, burn, cpu=None):
    """Starts `count` servers, the last burning `burn`% CPU.

    Returns a list of dicts: name, calc ("host:port"), status ("host:port"), burn.
    """
    servers = []
    for i in range(count):
        name = f"calc{i}"
        this_burn = burn if i == count - 1 else 0
        argv = [DISTLOOP, "--log-level", "warn", "calc", "server", "--listen", "127.0.0.1:0",
                "--status", "127.0.0.1:0", "--name", name, "--burn", str(this_burn)]
        errors = tempfile.TemporaryFile(mode="w+")
        proc = spawn(pinned(cpu, argv), stdout=subprocess.PIPE, stderr=errors, text=True)
        lines = []

        def read_two(proc=proc, lines=lines):
            for _ in range(2):
                lines.append(proc.stdout.readline().strip())

        reader = threading.Thread(target=read_two, daemon=True)
        reader.start()
        reader.join(STARTUP_TIMEOUT_S)
        if len(lines) < 2 or not lines[1].startswith("status listening on "):
            errors.seek(0)
            raise RuntimeError(f"calc server {name} did not start: {errors.read().strip()}")
        threading.Thread(target=lambda p=proc: p.stdout.read(), daemon=True).start()
        servers.append({"name": name, "calc": lines[0].split()[-1],
                        "status": lines[1].split()[-1], "burn": this_burn})
    return servers


def host_port(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def status_of(server):
    """The JSON a server's status port answers to `GET /`."""
    with socket.create_connection(host_port(server["status"]), timeout=REQUEST_TIMEOUT_S) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: calc\r\nConnection: close\r\n\r\n")
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    return json.loads(reply.split(b"\r\n\r\n", 1)[1])


def requests_of(server):
    return status_of(server)["requests"]


def wait_for_load(server, at_least, timeout_s=15):
    """Waits until a server reports at least `at_least`% load; returns the load."""
    deadline = time.time() + timeout_s
    load = 0
    while time.time() < deadline:
        load = status_of(server)["load"]
        if load >= at_least:
            break
        time.sleep(0.25)
    return load


def _client(address, deadline, quota, per_connection, seed, out):
    """One client: connections of `per_connection` requests, until the deadline or quota."""
    latencies, failures, sent = [], 0, 0
    a = 1000 + seed
    while (quota is None or sent < quota) and time.time() < deadline:
        started = time.perf_counter()
        try:
            conn = socket.create_connection(host_port(address), timeout=REQUEST_TIMEOUT_S)
        except OSError:
            failures += 1
            sent += 1
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = conn.makefile("rb")
        try:
            for _ in range(per_connection):
                if (quota is not None and sent >= quota) or time.time() >= deadline:
                    break
                b = sent % 97 + 1
                conn.sendall(f"{a} * ({b} + 3) - {b}\n".encode())
                answer = reader.readline()
                sent += 1
                if answer.strip() != str(a * (b + 3) - b).encode():
                    failures += 1
                else:
                    latencies.append(time.perf_counter() - started)
                started = time.perf_counter()
        except OSError:
            failures += 1
        finally:
            reader.close()
            conn.close()
    out.append((latencies, failures))


def _process(address, clients, duration_s, quota, per_connection, first_seed, queue):
    deadline = time.time() + duration_s if duration_s else float("inf")
    out = []
    threads = [threading.Thread(target=_client,
                                args=(address, deadline, quota, per_connection,
                                      first_seed + i, out))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies = [x for lat, _ in out for x in lat]
    queue.put((latencies, sum(f for _, f in out)))


def run_load(address, clients, duration_s=None, requests_per_client=None, per_connection=10,
             cpu=None):
    """Sends text expressions from `clients` clients; returns a result dict.

    Each client opens a connection, sends `per_connection` expressions one at
    a time (waiting for each answer, which is checked), closes, and starts
    again, for `duration_s` seconds or `requests_per_client` requests.
    """
    if cpu is not None and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})
    processes = max(1, min(LOAD_PROCESSES, clients))
    queue = multiprocessing.Queue()
    workers = []
    started = time.perf_counter()
    for p in range(processes):
        share = clients // processes + (1 if p < clients % processes else 0)
        worker = multiprocessing.Process(
            target=_process,
            args=(address, share, duration_s, requests_per_client, per_connection, p * 1000,
                  queue))
        worker.start()
        workers.append(worker)
    latencies, failures = [], 0
    for _ in workers:
        lat, fail = queue.get()
        latencies.extend(lat)
        failures += fail
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "failures": failures, "seconds": elapsed,
            "rps": len(latencies) / elapsed if elapsed else 0.0,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000}


def shares(servers, before, after):
    """Each server's share of the requests between two `requests_of` readings, in %."""
    deltas = [a - b for a, b in zip(after, before)]
    total = sum(deltas) or 1
    return [100.0 * d / total for d in deltas], deltas
