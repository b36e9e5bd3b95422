"""Starting and stopping the processes a stress script measures.

Shared by the scripts in stress/ (standard library only). A `Cluster` starts
pi-backends and a `distloop lb` on ephemeral ports on 127.0.0.1, reads each
one's `listening on ADDR` line instead of guessing ports, pins them to CPUs
with taskset when the machine has two cores or more, and stops every process
it started when the script ends, however it ends (normal exit, exception,
Ctrl-C, SIGTERM or the script's own time limit).
"""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
DISTLOOP = os.path.join(RELEASE, "distloop")
PI_BACKEND = os.path.join(RELEASE, "pi-backend")

DEFAULT_STRATEGIES = ("n-to-1,round-robin,least-connections,least-response-time,"
                      "weighted-round-robin,power-of-two,peak-ewma,consistent-hash,random")

# How long a started server may take to print its `listening on` line.
STARTUP_TIMEOUT_S = 10
# How long a stopped process gets after SIGTERM before SIGKILL.
STOP_GRACE_S = 3

_started = []
_lock = threading.Lock()


class TimeLimit(Exception):
    """The script ran past its --time-limit."""


def stop_all():
    """Stops every process started through this module, newest first."""
    with _lock:
        procs = list(reversed(_started))
        _started.clear()
    for proc in procs:
        if proc.poll() is None:
            try:
                proc.terminate()
            except ProcessLookupError:
                pass
    deadline = time.time() + STOP_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def install_guards(time_limit_s=None):
    """Stops everything at exit and on SIGINT/SIGTERM.

    The time limit is armed apart, by `start_time_limit`, once tools are
    installed and binaries built: an install on a small machine may take
    longer than the whole measurement. `time_limit_s` given here arms it at
    once (for scripts with nothing to install).
    """
    atexit.register(stop_all)

    def on_signal(signum, _frame):
        stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if time_limit_s is not None:
        start_time_limit(time_limit_s)


def start_time_limit(time_limit_s):
    """Raises `TimeLimit` in the main thread after `time_limit_s` seconds from now."""
    def on_alarm(_signum, _frame):
        raise TimeLimit(f"time limit of {time_limit_s:g} s reached")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(time_limit_s)))


def run_main(main):
    """Runs a script's `main` and exits with its code.

    A failure that is not the script's own (a time limit, a tool or a build
    that failed, a server that would not start) ends the run with one
    sentence on stderr and exit 1, not a Python traceback.
    """
    try:
        code = main()
    except TimeLimit as error:
        print(f"stopped: {error}", file=sys.stderr)
        code = 1
    except subprocess.CalledProcessError as error:
        command = " ".join(map(str, error.cmd))
        print(f"stopped: `{command}` failed with exit status {error.returncode}",
              file=sys.stderr)
        code = 1
    except subprocess.TimeoutExpired as error:
        command = " ".join(map(str, error.cmd))
        print(f"stopped: `{command}` ran past its {error.timeout:g} s", file=sys.stderr)
        code = 1
    except (RuntimeError, OSError) as error:
        print(f"stopped: {error}", file=sys.stderr)
        code = 1
    sys.exit(code or 0)


def pinned(cpu, argv):
    """`argv` under `taskset -c cpu` when there are two cores or more."""
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return argv
    return ["taskset", "-c", str(cpu)] + argv


def spawn(argv, **kwargs):
    """Starts a process that `stop_all` will stop."""
    proc = subprocess.Popen(argv, **kwargs)
    with _lock:
        _started.append(proc)
    return proc


def start_server(argv, cpu=None):
    """Starts a server and returns (process, "host:port") from its first line."""
    # stderr goes to a file: read only when the server fails to start, so a
    # logging server can never block on a full pipe.
    errors = tempfile.TemporaryFile(mode="w+")
    proc = spawn(pinned(cpu, argv), stdout=subprocess.PIPE, stderr=errors, text=True)
    found = {}

    def read_first_line():
        found["line"] = proc.stdout.readline().strip()

    reader = threading.Thread(target=read_first_line, daemon=True)
    reader.start()
    reader.join(STARTUP_TIMEOUT_S)
    line = found.get("line", "")
    if not line.startswith("listening on "):
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        errors.seek(0)
        said = errors.read().strip().splitlines()
        # clap puts its one-line reason first and a "--help" hint last.
        reason = next((l for l in said if l.startswith("error")),
                      said[-1] if said else f"first line: {line!r}")
        raise RuntimeError(f"{os.path.basename(argv[0])} did not start ({reason})")
    # Keep draining stdout so that a chatty server never blocks on a full pipe.
    threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()
    return proc, line.split()[-1]


def build_release():
    """Builds both binaries in release mode (a no-op when they are fresh)."""
    print("building target/release/{distloop,pi-backend} ...", file=sys.stderr, flush=True)
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)


def ensure_apt(commands):
    """Installs the Debian packages behind `commands` ({command: package}) when missing."""
    missing = [pkg for cmd, pkg in commands.items()
               if shutil.which(cmd) is None and not os.path.exists(f"/usr/sbin/{cmd}")]
    if not missing:
        return True
    print(f"installing {' '.join(missing)} with apt-get ...", file=sys.stderr, flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    try:
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, timeout=300)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq"] + missing, check=True,
                       timeout=600)
    except (subprocess.SubprocessError, OSError) as error:
        print(f"{' '.join(missing)} skipped: apt-get could not install it ({error})",
              file=sys.stderr)
        return False
    return True


class Cluster:
    """pi-backends and one balancer in front of them.

    The balancer runs on CPU 0, the backends on CPU 1 (with the load
    generator, which the caller pins itself).
    """

    def __init__(self, backends):
        """`backends`: a list of dicts with name and optional delay, slowdown, threads."""
        self.backend_addrs = []
        self.names = []
        for spec in backends:
            argv = [PI_BACKEND, "--listen", "127.0.0.1:0", "--name", spec["name"]]
            if spec.get("delay"):
                argv += ["--delay", str(spec["delay"])]
            if spec.get("slowdown", 1) != 1:
                argv += ["--slowdown", str(spec["slowdown"])]
            if spec.get("threads"):
                argv += ["--threads", str(spec["threads"])]
            _, addr = start_server(argv, cpu=1)
            self.backend_addrs.append(addr)
            self.names.append(spec["name"])
        self.balancer = None
        self.address = None

    def start_balancer(self, strategy, mode="http"):
        """(Re)starts the balancer with `strategy`; returns its "host:port"."""
        self.stop_balancer()
        argv = [DISTLOOP, "lb", "--listen", "127.0.0.1:0", "--strategy", strategy,
                "--mode", mode]
        for addr in self.backend_addrs:
            argv += ["--backend", addr]
        self.balancer, self.address = start_server(argv, cpu=0)
        return self.address

    def stop_balancer(self):
        if self.balancer is not None and self.balancer.poll() is None:
            self.balancer.terminate()
            try:
                self.balancer.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.balancer.kill()
                self.balancer.wait()
        self.balancer = None


def host_port(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def print_table(header, rows):
    """Prints rows under header, each column as wide as its widest cell."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def percentile(sorted_values, p):
    """The p-th percentile (nearest rank) of an ascending list; 0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]
