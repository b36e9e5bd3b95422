"""Many tiny HTTP backends in one process, for stress/pool-size.

`python3 stress/pool_backends.py N` listens on N ephemeral ports on
127.0.0.1 and prints one `listening on ADDR` line per port (in order), then
answers every GET on any of them with a short 200 carrying `X-Backend: bI`.
One thread, one selector, kept-alive connections; standard library only.
Stops on SIGINT/SIGTERM. Requests with a body are not expected.
"""
import selectors
import signal
import socket
import sys

# Longest request head accepted before the connection is closed.
MAX_HEAD_BYTES = 16 * 1024


def answer(index):
    return (f"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Backend: b{index}\r\n\r\nok"
            .encode())


def main():
    count = int(sys.argv[1])
    selector = selectors.DefaultSelector()
    for index in range(count):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        listener.setblocking(False)
        selector.register(listener, selectors.EVENT_READ, ("listen", index))
        host, port = listener.getsockname()
        print(f"listening on {host}:{port}")
    sys.stdout.flush()
    replies = [answer(i) for i in range(count)]
    buffers = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            for key, _ in selector.select():
                kind, index = key.data
                if kind == "listen":
                    try:
                        conn, _ = key.fileobj.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    buffers[conn] = b""
                    selector.register(conn, selectors.EVENT_READ, ("conn", index))
                    continue
                conn = key.fileobj
                try:
                    data = conn.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data or len(buffers[conn]) + len(data) > MAX_HEAD_BYTES:
                    selector.unregister(conn)
                    buffers.pop(conn, None)
                    conn.close()
                    continue
                pending = buffers[conn] + data
                out = []
                while b"\r\n\r\n" in pending:
                    _, pending = pending.split(b"\r\n\r\n", 1)
                    out.append(replies[index])
                buffers[conn] = pending
                if out:
                    try:
                        conn.sendall(b"".join(out))
                    except OSError:
                        selector.unregister(conn)
                        buffers.pop(conn, None)
                        conn.close()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
