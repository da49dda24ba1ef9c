"""cbtest: shared helpers for callbridge's integration tests (stdlib only).

A test starts the real daemon on a private settings file, state file and
control socket in a temporary directory, and talks to it:

    import cbtest

    with cbtest.Daemon() as gw:            # starts, waits until it answers
        reply = gw.request("numbers.list")
        assert reply["ok"]
        res = gw.cli("numbers", "list")    # runs callbridgectl
        gw.kill9(); gw.start()             # crash and restart
        gw.stop()                          # SIGTERM, returns the exit code

Binaries come from CB_BIN_DIR (the build's gateway/ directory; CMake sets
it), the source tree from CB_SOURCE_DIR. Every wait is bounded; a timeout
raises cbtest.Timeout, which fails the test. CB_KEEP_TMP=1 keeps the
temporary directory (settings, state, daemon log) for inspection.

Other helpers (SIPp, agents) build on Daemon: `Daemon(settings={...})`
overrides any settings key, `gw.sip_port` is the SIP port it listens on
(UDP and TCP), `gw.dir` its temporary directory.
"""

import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("CB_SOURCE_DIR",
                            os.path.normpath(os.path.join(HERE, "..", "..")))
BIN_DIR = os.environ.get("CB_BIN_DIR",
                         os.path.join(SOURCE_DIR, "build", "gateway"))
DEMO_SEED = os.path.join(SOURCE_DIR, "config", "demo-state.json")


class Timeout(AssertionError):
    """A bounded wait ran out: the test fails."""


def binary(name):
    """Path of a built binary; fails clearly if it was not built."""
    path = os.path.join(BIN_DIR, name)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(
            "%s not found in CB_BIN_DIR=%s (build it first)" % (name, BIN_DIR))
    return path


_ports_handed_out = set()   # SIP ports drawn by this process


def free_port(host="127.0.0.1", tries=200):
    """A port free for both UDP and TCP on host, for a listener that
    binds it a little later (SIP ports). Drawn at random from 61000-64999,
    above the kernel's ephemeral ports: a port found free there cannot be
    taken meanwhile by some client's connect() (port plan: sipp.py)."""
    rng = random.SystemRandom()
    for _ in range(tries):
        port = rng.randrange(61000, 65000)
        # one drawn for a listener that has not bound it yet is still
        # free: never hand it out twice from this process
        if port in _ports_handed_out:
            continue
        af = socket.AF_INET6 if ":" in host else socket.AF_INET
        t = socket.socket(af, socket.SOCK_STREAM)
        u = socket.socket(af, socket.SOCK_DGRAM)
        try:
            t.bind((host, port))
            u.bind((host, port))
            _ports_handed_out.add(port)
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port found")


def wait_for(cond, timeout, what, interval=0.02):
    """Poll cond() until it returns a true value; raise Timeout after
    timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Timeout("timed out after %.1f s waiting for %s"
                          % (timeout, what))
        time.sleep(interval)


class CtlClient:
    """One connection to the control socket (newline-delimited JSON)."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # a full listen backlog makes connect() fail with EAGAIN on Unix
        # sockets: retry, bounded by the timeout
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.sock.close()
                    raise Timeout("connect to %s: backlog full" % path)
                time.sleep(0.005)
            except OSError:
                self.sock.close()
                raise
        self.sock.settimeout(timeout)
        self.buf = b""
        self.next_id = 1

    def send_raw(self, data):
        """Send bytes as they are."""
        self.sock.sendall(data)

    def send(self, obj):
        """Send one request object (adds the newline)."""
        self.sock.sendall(json.dumps(obj).encode() + b"\n")

    def recv_line(self, timeout=None):
        """One reply line (bytes, no newline); None at EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no reply line from %s" % self.path)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                raise Timeout("no reply line from %s" % self.path)
            if not chunk:
                if self.buf:
                    line, self.buf = self.buf, b""
                    return line
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def recv(self, timeout=None):
        """One reply, parsed."""
        line = self.recv_line(timeout)
        if line is None:
            raise ConnectionError("control socket closed")
        return json.loads(line)

    def request(self, op, timeout=None, **fields):
        """Send {"id": n, "op": op, **fields}; return the reply, checking
        that its id matches."""
        rid = self.next_id
        self.next_id += 1
        req = {"id": rid, "op": op}
        req.update(fields)
        self.send(req)
        reply = self.recv(timeout)
        if reply.get("id") != rid:
            raise AssertionError("reply id %r for request id %r"
                                 % (reply.get("id"), rid))
        return reply

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Daemon:
    """The callbridge daemon on private files; see the module doc."""

    def __init__(self, settings=None, seed=None, workers=1,
                 log_level="info", prefix="cbtest-", nofile=None):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.nofile = nofile      # (soft, hard) open files limit, or None
        self.conf = os.path.join(self.dir, "callbridge.conf")
        self.state = os.path.join(self.dir, "state", "state.json")
        self.sock = os.path.join(self.dir, "run", "ctl.sock")
        self.logpath = os.path.join(self.dir, "callbridge.log")
        self.sip_port = free_port()
        # RTP range out of 10000-19999: clear of the kernel's ephemeral
        # ports and of SIPp's media ports (port plan in sipp.py)
        rtp = random.SystemRandom().randrange(10000, 19000, 2)
        self.settings = {
            "sip_listen": "udp:127.0.0.1:%d tcp:127.0.0.1:%d"
                          % (self.sip_port, self.sip_port),
            "rtp_address": "127.0.0.1",
            "rtp_port_min": str(rtp),
            "rtp_port_max": str(rtp + 999),
            "control_socket": self.sock,
            "state_file": self.state,
            "log_level": log_level,
            "workers": str(workers),
        }
        if seed:
            self.settings["state_seed"] = seed
        if settings:
            self.settings.update({k: str(v) for k, v in settings.items()})
        self._auto_sip = "sip_listen" not in (settings or {})
        self.proc = None
        self.logf = None

    # -- life cycle ------------------------------------------------------

    def write_settings(self):
        with open(self.conf, "w") as f:
            f.write("# written by cbtest\n")
            for k, v in self.settings.items():
                f.write("%s %s\n" % (k, v))

    def start(self, timeout=15.0, expect_fail=False):
        """Start the daemon; wait until the control socket answers status.
        With expect_fail, wait for it to exit instead and return its exit
        code. A SIP port drawn by free_port() can still be taken by
        another test's process before the daemon binds it: then (and only
        for a port drawn here) it starts again on a new one, twice at
        most."""
        for attempt in range(3):
            try:
                return self._start(timeout, expect_fail)
            except AssertionError:
                text = self.run_log()
                if not (self._auto_sip and attempt < 2 and
                        self.proc.poll() is not None and
                        "SIP: cannot listen" in text and
                        "Address already in use" in text):
                    raise
            self.logf.close()
            self.sip_port = free_port()
            self.settings["sip_listen"] = (
                "udp:127.0.0.1:%d tcp:127.0.0.1:%d"
                % (self.sip_port, self.sip_port))

    def _start(self, timeout, expect_fail):
        assert self.proc is None or self.proc.poll() is not None
        self.write_settings()
        self.logf = open(self.logpath, "ab")
        self.log_start = self.logf.tell()   # this run's part of the log
        limits = None
        if self.nofile:
            def limits():
                resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)
        self.proc = subprocess.Popen(
            [binary("callbridge"), "--config", self.conf],
            stdout=self.logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=limits)
        if expect_fail:
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                raise Timeout("callbridge did not exit")

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("callbridge exited with %d:\n%s"
                                     % (self.proc.returncode,
                                        self.log()[-3000:]))
            try:
                with CtlClient(self.sock, timeout=2) as c:
                    return c.request("status").get("ok")
            except (OSError, ConnectionError, Timeout, ValueError):
                return False

        wait_for(ready, timeout, "callbridge to answer on its control "
                 "socket")
        return 0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=20.0):
        """SIGTERM; return the exit code (0 is a clean shutdown).

        Raises AssertionError when this run's log holds a sanitizer report
        (ASan, LeakSanitizer, UBSan: builds with -DCB_SANITIZE=ON), so that
        every test that stops the daemon also checks for memory errors and
        leaks."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Timeout("callbridge did not stop within %.0f s of "
                          "SIGTERM" % timeout)
        self._close_log()
        report = self.sanitizer_report()
        if report:
            raise AssertionError("callbridge exited %d with a sanitizer "
                                 "report:\n%s" % (rc, report[:6000]))
        return rc

    def kill9(self):
        """SIGKILL, as a crash would."""
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def restart(self, timeout=15.0):
        rc = self.stop()
        self.start(timeout)
        return rc

    def _close_log(self):
        if self.logf:
            self.logf.close()
            self.logf = None

    def cleanup(self):
        if self.alive():
            self.kill9()
        self._close_log()
        if os.environ.get("CB_KEEP_TMP"):
            sys.stderr.write("cbtest: kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            sys.stderr.write("---- callbridge log (%s) ----\n%s\n"
                             % (self.logpath, self.log()[-6000:]))
        self.cleanup()

    # -- talking to it ---------------------------------------------------

    def client(self, timeout=10.0):
        return CtlClient(self.sock, timeout)

    def request(self, op, timeout=10.0, **fields):
        """One request on a fresh connection; returns the reply."""
        with self.client(timeout) as c:
            return c.request(op, **fields)

    def cli(self, *args, input=None, timeout=30.0, socket_opt=True):
        """Run callbridgectl (with -s SOCKET unless socket_opt is False);
        returns a CompletedProcess with text stdout and stderr."""
        cmd = [binary("callbridgectl")]
        if socket_opt:
            cmd += ["-s", self.sock]
        cmd += list(args)
        return subprocess.run(cmd, input=input, capture_output=True,
                              text=True, timeout=timeout)

    # -- looking at it ---------------------------------------------------

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "SUMMARY: AddressSanitizer",
                       "SUMMARY: UndefinedBehaviorSanitizer",
                       "runtime error:", "WARNING: ThreadSanitizer")

    def run_log(self):
        """The log of the current (or last) run only."""
        try:
            with open(self.logpath, "rb") as f:
                f.seek(getattr(self, "log_start", 0))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def sanitizer_report(self):
        """The sanitizer report in this run's log from its first line, or
        "" if there is none."""
        text = self.run_log()
        pos = [text.find(m) for m in self.SANITIZER_MARKS]
        pos = [p for p in pos if p >= 0]
        if not pos:
            return ""
        start = text.rfind("\n", 0, min(pos)) + 1
        return text[start:]

    def read_state(self):
        """The state file, parsed."""
        with open(self.state) as f:
            return json.load(f)

    def _proc_status(self, field):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def rss_kib(self):
        """Resident memory [KiB]."""
        return self._proc_status("VmRSS")

    def threads(self):
        return self._proc_status("Threads")

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))


def run_tests():
    """unittest.main() with verbose output; exits with its status."""
    import unittest
    unittest.main(verbosity=2)
