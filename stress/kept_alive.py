"""Many HTTP clients on one thread: a kept-alive crowd, or a burst.

Standard library only: non-blocking sockets on one epoll (selectors). Each
client connects, sends one `GET /` and reads the whole answer (by
Content-Length, chunked, or up to the close). `open_clients` keeps the
answered connections open and idle for the caller to measure and close;
with `window` requests in flight at most, it measures what idle clients
cost, not a burst. `burst` starts every connect at once, closes each client
once answered, and counts the answers by status.

Tens of thousands of connections to one proxy port would run out of
ephemeral ports on one source address (about 28,000 on Linux), so clients
spread over several loopback source addresses (127.x.y.z), a fresh set per
call so that a previous run's TIME_WAIT sockets never get in the way.
"""
import errno
import selectors
import socket
import time
from collections import Counter

REQUEST = b"GET / HTTP/1.1\r\nHost: idle-clients\r\nUser-Agent: stress/idle-clients\r\n\r\n"
# Clients per loopback source address: below the ephemeral port range.
CLIENTS_PER_SOURCE = 20_000
# Linux's IP_BIND_ADDRESS_NO_PORT (Python 3.12 names it): the port is then
# chosen at connect time, per destination, instead of at bind time.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
RECV_BYTES = 65536

_next_source = [0]


def source_addresses(count):
    """Loopback addresses for `count` clients, none used by an earlier call."""
    needed = max(1, -(-count // CLIENTS_PER_SOURCE))
    out = []
    for _ in range(needed):
        n = _next_source[0]
        _next_source[0] += 1
        out.append(f"127.1.{n // 250}.{n % 250 + 1}")
    return out


class _Client:
    __slots__ = ("sock", "data", "sent")

    def __init__(self, sock):
        self.sock = sock
        self.data = b""
        self.sent = False


def _answer_status(data, eof):
    """The status code once `data` holds a whole answer; None while it does not."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = data[:head_end].decode("latin-1").split("\r\n")
    parts = head[0].split()
    status = parts[1] if len(parts) > 1 and parts[0].startswith("HTTP/") else "garbled"
    body = data[head_end + 4:]
    fields = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip().lower()
    if "content-length" in fields:
        try:
            return status if len(body) >= int(fields["content-length"]) else None
        except ValueError:
            return "garbled"
    if "chunked" in fields.get("transfer-encoding", ""):
        return status if body.endswith(b"0\r\n\r\n") else None
    return status if eof else None


def _start(address, source, selector, counts):
    """A non-blocking connect from `source`; None when it failed at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        code = sock.connect_ex(address)
    except OSError as error:
        counts[f"connect: {errno.errorcode.get(error.errno, error.errno)}"] += 1
        sock.close()
        return None
    if code not in (0, errno.EINPROGRESS):
        counts[f"connect: {errno.errorcode.get(code, code)}"] += 1
        sock.close()
        return None
    client = _Client(sock)
    selector.register(sock, selectors.EVENT_WRITE, client)
    return client


def _step(client, mask, selector, counts):
    """Moves one client on; returns its status once it is done, else None."""
    sock = client.sock
    if not client.sent:
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            counts[f"connect: {errno.errorcode.get(code, code)}"] += 1
            return "failed"
        try:
            sock.send(REQUEST)  # a few dozen bytes: a fresh socket takes them whole
        except OSError as error:
            counts[f"send: {errno.errorcode.get(error.errno, error.errno)}"] += 1
            return "failed"
        client.sent = True
        selector.modify(sock, selectors.EVENT_READ, client)
        return None
    if not mask & selectors.EVENT_READ:
        return None
    try:
        chunk = sock.recv(RECV_BYTES)
    except BlockingIOError:
        return None
    except OSError as error:
        counts[f"recv: {errno.errorcode.get(error.errno, error.errno)}"] += 1
        return "failed"
    client.data += chunk
    status = _answer_status(client.data, eof=not chunk)
    if status is not None:
        counts[status] += 1
        return status
    if not chunk:
        counts["closed before answering" if not client.data else "cut answer"] += 1
        return "failed"
    return None


def _drive(address, count, window, deadline, keep_open):
    """Runs `count` clients, `window` in flight at most, until done or `deadline`.

    Returns (counts by status or error, the sockets kept open).
    """
    host, port = address.rsplit(":", 1)
    target = (host, int(port))
    sources = source_addresses(count)
    selector = selectors.DefaultSelector()
    counts = Counter()
    kept = []
    started = 0
    in_flight = 0
    try:
        while started < count or in_flight:
            while started < count and in_flight < window:
                if _start(target, sources[started // CLIENTS_PER_SOURCE], selector,
                          counts) is not None:
                    in_flight += 1
                started += 1
            left = deadline - time.monotonic()
            if left <= 0:
                counts["no answer by the deadline"] += in_flight
                break
            for key, mask in selector.select(timeout=min(left, 1.0)):
                client = key.data
                status = _step(client, mask, selector, counts)
                if status is None:
                    continue
                selector.unregister(client.sock)
                in_flight -= 1
                if status == "200" and keep_open:
                    kept.append(client.sock)
                else:
                    client.sock.close()
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
    return counts, kept


def open_clients(address, count, window, timeout_s):
    """`count` clients, each answered once and then kept open and idle.

    Returns (counts by status or error, the open sockets).
    """
    return _drive(address, count, window, time.monotonic() + timeout_s, keep_open=True)


def burst(address, count, timeout_s):
    """`count` requests at once, one connection each; returns counts by status or error."""
    counts, _ = _drive(address, count, count, time.monotonic() + timeout_s, keep_open=False)
    return counts


def still_open(socks):
    """How many of `socks` the far side has not closed (nothing to read, no EOF)."""
    alive = 0
    for sock in socks:
        try:
            if sock.recv(1, socket.MSG_PEEK) == b"":
                continue
            alive += 1  # unexpected bytes, but the connection is up
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def close_all(socks):
    for sock in socks:
        sock.close()
    socks.clear()
