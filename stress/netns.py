"""Many hosts on one machine: network namespaces on a bridge, and faults.

Each host is a network namespace `dl-hN` with one interface `eth0` holding
10.77.0.(10+N)/24. The other end of each host's veth pair sits in a hub
namespace `dl-hub`, on a bridge, so the addresses exist only inside the
namespaces made here: nothing of it touches the machine's own network.

Faults act on a host's link (partition: link down, then up; slow: a `tc`
tbf rate limit on both ends) or on a process started on a host (crash:
SIGKILL; hang: SIGSTOP, then SIGCONT; restart). Standard library only; needs
root and `ip` (iproute2) and, for slow links, `tc`.
"""
import os
import shutil
import signal
import subprocess
import threading
import time

from cluster import spawn, start_server

PREFIX = "dl-"
HUB = PREFIX + "hub"
BRIDGE = "br0"
SUBNET = "10.77.0"
# The first host is 10.77.0.11: low addresses are left to the hub.
FIRST_HOST_OCTET = 10
# The largest number of hosts one run may make.
MAX_HOSTS = 200


class Unavailable(Exception):
    """Namespaces cannot be made here; the message says what is missing."""


def missing():
    """What this machine lacks for namespaces, or None when nothing is."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and veth pairs)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (Debian package iproute2)"
    probe = PREFIX + "probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args, check=True):
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def address(i):
    """Host i's address (hosts count from 1)."""
    return f"{SUBNET}.{FIRST_HOST_OCTET + i}"


def namespace(i):
    return f"{PREFIX}h{i}"


def clean_leftovers():
    """Deletes every namespace of an earlier run (their veths go with them)."""
    listed = _ip("netns", "list", check=False).stdout.split("\n")
    for line in listed:
        name = line.split(" ")[0].strip()
        if name.startswith(PREFIX):
            _ip("netns", "del", name, check=False)


class Hosts:
    """N hosts on one bridge. Use as a context manager: leaving it (however
    it is left) stops what was started on the hosts and deletes them."""

    def __init__(self, count):
        if not 1 <= count <= MAX_HOSTS:
            raise ValueError(f"between 1 and {MAX_HOSTS} hosts, not {count}")
        reason = missing()
        if reason:
            raise Unavailable(reason)
        self.count = count
        self.procs = []

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *_exc):
        self.down()

    def up(self):
        clean_leftovers()
        _ip("netns", "add", HUB)
        _ip("-n", HUB, "link", "add", BRIDGE, "type", "bridge")
        _ip("-n", HUB, "link", "set", BRIDGE, "up")
        for i in range(1, self.count + 1):
            ns = namespace(i)
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            # Made inside the host, then its peer moved to the hub.
            _ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"v{i}")
            _ip("-n", ns, "link", "set", f"v{i}", "netns", HUB)
            _ip("-n", HUB, "link", "set", f"v{i}", "master", BRIDGE)
            _ip("-n", HUB, "link", "set", f"v{i}", "up")
            _ip("-n", ns, "addr", "add", f"{address(i)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def down(self):
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGCONT)
                    proc.kill()
                except ProcessLookupError:
                    pass
                proc.wait()
        self.procs.clear()
        clean_leftovers()

    def argv(self, i, argv):
        """`argv` run on host i."""
        return ["ip", "netns", "exec", namespace(i), *argv]

    def run(self, i, argv, timeout=60):
        """Runs `argv` on host i to its end; returns the CompletedProcess."""
        return subprocess.run(self.argv(i, argv), capture_output=True, text=True,
                              timeout=timeout)

    def start_server(self, i, argv):
        """Starts a server on host i; returns (process, address it printed)."""
        proc, addr = start_server(self.argv(i, argv))
        self.procs.append(proc)
        return proc, addr

    def spawn(self, i, argv, **kwargs):
        """Starts any process on host i (`ip netns exec` execs, so the pid is
        the program's own)."""
        proc = spawn(self.argv(i, argv), **kwargs)
        self.procs.append(proc)
        return proc

    # -- faults ---------------------------------------------------------

    @staticmethod
    def crash(proc):
        proc.kill()
        proc.wait()

    @staticmethod
    def hang(proc, seconds):
        """SIGSTOP now and SIGCONT after `seconds`, without blocking."""
        proc.send_signal(signal.SIGSTOP)
        return _later(seconds, lambda: proc.poll() is None and proc.send_signal(signal.SIGCONT))

    def partition(self, i, seconds):
        """Takes host i's link down now and up after `seconds`."""
        self.link(i, up=False)
        return _later(seconds, lambda: self.link(i, up=True))

    def link(self, i, up):
        _ip("-n", HUB, "link", "set", f"v{i}", "up" if up else "down")

    def slow(self, i, rate, seconds):
        """Limits host i's link to `rate` (tc syntax: 1mbit) both ways for
        `seconds`. A token bucket only: netem is not in every kernel."""
        ends = [(HUB, f"v{i}"), (namespace(i), "eth0")]
        for ns, dev in ends:
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev,
                            "root", "tbf", "rate", rate, "burst", "16kb", "latency", "200ms"],
                           check=True, capture_output=True)

        def restore():
            for ns, dev in ends:
                subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev,
                                "root"], capture_output=True)
        return _later(seconds, restore)


def _later(seconds, action):
    """Runs `action` after `seconds` on a thread; returns the thread."""
    def wait_then_act():
        time.sleep(seconds)
        action()
    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread
