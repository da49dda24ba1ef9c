"""Run SIPp (the carrier) against callbridge, bounded in time, and read back
every SIP message it sent and received.

    run = sipp.Sipp("uac_call.xml", gw.sip_port, workdir,
                    keys={"number": "+14155550100"}, sets={"hold": 2000})
    run.start()                      # or run.run(timeout) = start + wait
    res = run.wait(timeout=30)       # kills SIPp and fails past timeout
    res.rc                           # 0: every call succeeded
    res.final("INVITE")              # final response code to the INVITE
    res.msgs                         # [Msg] in log order, with .t

Scenarios live in tests/sipp/ (their headers list the keys and globals they
take). SIPp runs in `workdir`, so a scenario's play_pcap_audio="call.pcap"
plays workdir/call.pcap. Message times come from SIPp's -trace_msg log
(gettimeofday when SIPp sent or read the message), converted to
time.monotonic() seconds, the clock of cb-test-agent's recordings.

Exit codes (SIPp 3.6.1): 0 all calls succeeded, 1 some failed, 97 stopped
by command, 99 no call processed, 255 fatal error.
"""

import datetime
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time

import cbtest
from rtpsniff import clock_offset

SCEN_DIR = os.path.join(cbtest.SOURCE_DIR, "tests", "sipp")

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id",
           "m": "contact", "l": "content-length", "c": "content-type",
           "k": "supported", "s": "subject", "e": "content-encoding"}

_SEP = re.compile(r"^-{47} (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)"
                  r"\.(\d{6})\s*$")
_KIND = re.compile(r"^(UDP|TCP|TLS|SCTP) (?:control )?message "
                   r"(sent|received)")


def available():
    """Why SIPp cannot run here, or None."""
    if not shutil.which("sipp"):
        return "sipp (sip-tester) is not installed"
    return None


def raw_sockets():
    """True if this process may open raw sockets (play_pcap_audio)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW,
                      socket.IPPROTO_UDP).close()
        return True
    except PermissionError:
        return False


# Port plan for tests running side by side (ctest -j): the kernel hands
# out ephemeral ports from 32768-60999 (client sockets, anything bound to
# port 0), each gateway takes a 1000-port RTP range out of 10000-19999
# (cbtest.Daemon), SIPp's media ports come from 20000-31999 and SIP ports
# (gateways' and SIPp's) from 61000-64999 (cbtest.free_port). No range can
# take a port another one has just found free.
MEDIA_PORT_MIN = 20000
MEDIA_PORT_MAX = 32000
HANDED_OUT_S = 300          # a media port is not drawn again for [s]
_handed_out = {}            # port -> when it was drawn (this process)


def free_media_port(host="127.0.0.1", tries=200):
    """A UDP port p with p and p+2 free (SIPp binds both: audio and
    video), drawn at random from SIPp's own range (see the port plan
    above). p is a multiple of 4, so two SIPps never share a port unless
    they drew the same p (one drawing 27180 while another held 27178 and
    bound 27180 for video was a clean-clone failure)."""
    rng = random.SystemRandom()
    now = time.monotonic()
    for q, t in list(_handed_out.items()):
        if now - t > HANDED_OUT_S:
            del _handed_out[q]
    for _ in range(tries):
        p = rng.randrange(MEDIA_PORT_MIN, MEDIA_PORT_MAX - 4, 4)
        # a port drawn for a SIPp that has not started yet is still free:
        # never hand it out twice (tests set up several calls at once)
        if p in _handed_out:
            continue
        af = socket.AF_INET6 if ":" in host else socket.AF_INET
        a = socket.socket(af, socket.SOCK_DGRAM)
        b = socket.socket(af, socket.SOCK_DGRAM)
        try:
            a.bind((host, p))
            b.bind((host, p + 2))
            _handed_out[p] = now
            return p
        except OSError:
            continue
        finally:
            a.close()
            b.close()
    raise RuntimeError("no free media port pair")


def wire_problems(data):
    """What is wrong with one SIP message as it was on the wire (bytes of
    one UDP datagram): the header section must end with CRLF CRLF and
    Content-Length, when present, must match the body. [] if well-formed."""
    p = []
    head, sep, body = data.partition(b"\r\n\r\n")
    first = head.split(b"\r\n", 1)[0][:80]
    if not sep:
        return ["%r: no empty line ends the headers" % first]
    cl = None
    for line in head.split(b"\r\n")[1:]:
        name, _, val = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            try:
                cl = int(val.strip())
            except ValueError:
                p.append("%r: Content-Length %r" % (first, val))
    if cl is not None and cl != len(body):
        p.append("%r: Content-Length %d, body %d bytes" % (first, cl,
                                                           len(body)))
    return p


class Msg:
    """One SIP message from SIPp's log."""

    def __init__(self, t, direction, transport, text):
        self.t = t                    # time.monotonic() [s]
        self.dir = direction          # "sent" or "recv"
        self.transport = transport
        self.text = text
        head, _, self.body = text.partition("\n\n")
        lines = head.split("\n")
        self.first = lines[0].strip() if lines else ""
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
            elif ":" in line:
                n, v = line.split(":", 1)
                n = n.strip().lower()
                self.headers.append((COMPACT.get(n, n), v.strip()))
        m = re.match(r"^SIP/2\.0 (\d{3}) ?(.*)$", self.first)
        self.code = int(m.group(1)) if m else None
        self.reason = m.group(2) if m else None
        self.method = None if m else self.first.split(" ", 1)[0]
        cseq = self.header("cseq") or ""
        parts = cseq.split()
        self.cseq = int(parts[0]) if parts and parts[0].isdigit() else None
        self.cseq_method = parts[1] if len(parts) > 1 else None

    def header(self, name, default=None):
        name = COMPACT.get(name.lower(), name.lower())
        for n, v in self.headers:
            if n == name:
                return v
        return default

    def header_all(self, name):
        name = COMPACT.get(name.lower(), name.lower())
        return [v for n, v in self.headers if n == name]

    @property
    def is_response(self):
        return self.code is not None

    def __repr__(self):
        return "<%s %.3f %s>" % (self.dir, self.t, self.first)


def parse_log(path, offset):
    """Messages of a -trace_msg log; offset = time.time() - monotonic."""
    try:
        with open(path, "rb") as f:
            raw = f.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    out, cur = [], None
    lines = raw.replace("\r\n", "\n").split("\n")

    def flush():
        if cur and cur[2] is not None:
            text = "\n".join(cur[3]).strip("\n") + "\n"
            out.append(Msg(cur[0], cur[1], cur[2], text))

    i = 0
    while i < len(lines):
        line = lines[i]
        m = _SEP.match(line)
        if m:
            flush()
            y, mo, d, h, mi, s, us = (int(x) for x in m.groups())
            t = datetime.datetime(y, mo, d, h, mi, s, us,
                                  tzinfo=datetime.timezone.utc).timestamp()
            k = _KIND.match(lines[i + 1]) if i + 1 < len(lines) else None
            if k:
                cur = [t - offset, "sent" if k.group(2) == "sent" else
                       "recv", k.group(1), []]
                i += 3                  # separator, kind line, blank
                continue
            cur = None
        elif line.startswith("-" * 47):
            flush()
            cur = None
        elif cur is not None:
            cur[3].append(line)
        i += 1
    flush()
    return out


class Result:
    """A finished SIPp run."""

    def __init__(self, rc, msgs, out, err, pid=None):
        self.rc = rc
        # only this run's calls: a late retransmission meant for an
        # earlier SIPp on the same port is logged too. Ours: those it
        # sent, and those with its own Call-ID ("N-PID@host"), for SIPp
        # logs nothing of a message it had to buffer (a TCP connection
        # still being set up: -t tn)
        ours = {m.header("call-id") for m in msgs if m.dir == "sent"}
        if pid:
            own = re.compile(r"^\d+-%d@" % pid)
            ours |= {m.header("call-id") for m in msgs
                     if own.match(m.header("call-id") or "")}
        self.stray = [m for m in msgs if m.header("call-id") not in ours]
        self.msgs = [m for m in msgs if m.header("call-id") in ours]
        self.stdout = out
        self.errors = err

    def received(self, pred=None):
        return [m for m in self.msgs if m.dir == "recv" and
                (pred is None or pred(m))]

    def sent(self, pred=None):
        return [m for m in self.msgs if m.dir == "sent" and
                (pred is None or pred(m))]

    def responses(self, method="INVITE", cseq=None):
        """Responses received to our requests of a method (all, with
        retransmissions), optionally of one CSeq number."""
        return self.received(lambda m: m.is_response and
                             m.cseq_method == method and
                             (cseq is None or m.cseq == cseq))

    def codes(self, method="INVITE", cseq=None):
        """Distinct response codes in order of first arrival."""
        seen = []
        for m in self.responses(method, cseq):
            if m.code not in seen:
                seen.append(m.code)
        return seen

    def final(self, method="INVITE", cseq=None):
        """The first final (>= 200) response code, or None."""
        for m in self.responses(method, cseq):
            if m.code >= 200:
                return m.code
        return None

    def final_msg(self, method="INVITE", cseq=None):
        for m in self.responses(method, cseq):
            if m.code >= 200:
                return m
        return None

    def requests(self, method, direction="recv"):
        return [m for m in self.msgs if m.dir == direction and
                m.method == method]

    def summary(self):
        return "rc %s; %s; errors: %s" % (
            self.rc, ["%s %s" % (m.dir, m.first) for m in self.msgs][:40],
            self.errors[-1500:])


class Sipp:
    """One SIPp process (see the module doc)."""

    def __init__(self, scenario, port, workdir, host="127.0.0.1",
                 transport="u1", keys=None, sets=None, calls=1, rate=None,
                 limit=None, media_port=None, inf=None, timeout=30,
                 name=None, local_port=None, extra=()):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.name = name or os.path.splitext(os.path.basename(scenario))[0]
        self.scenario = scenario if os.path.isabs(scenario) else \
            os.path.join(SCEN_DIR, scenario)
        self.timeout = timeout
        self.media_port = media_port or free_media_port(host)
        self.msgfile = os.path.join(workdir, self.name + ".msg.log")
        self.errfile = os.path.join(workdir, self.name + ".err.log")
        self.outfile = os.path.join(workdir, self.name + ".out")
        for f in (self.msgfile, self.errfile):
            if os.path.exists(f):
                os.unlink(f)
        remote = "[%s]:%d" % (host, port) if ":" in host else \
            "%s:%d" % (host, port)
        self.args = ["sipp", remote, "-sf", self.scenario,
                     "-m", str(calls), "-i", host,
                     "-p", str(local_port or cbtest.free_port(host)),
                     "-mi", host, "-mp", str(self.media_port),
                     "-t", transport, "-nostdin",
                     "-timeout", "%ds" % timeout, "-timeout_error",
                     "-max_recv_loops", "1000",
                     "-trace_msg", "-message_file", self.msgfile,
                     "-trace_err", "-error_file", self.errfile]
        if rate:
            self.args += ["-r", str(rate), "-rp", "1000"]
        if limit:
            self.args += ["-l", str(limit)]
        if inf:
            self.args += ["-inf", inf]
        for k, v in (keys or {}).items():
            self.args += ["-key", k, str(v)]
        for k, v in (sets or {}).items():
            self.args += ["-set", k, str(v)]
        self.args += list(extra)
        self.proc = None
        self.offset = None
        self.result = None

    def start(self):
        env = dict(os.environ, TZ="UTC")
        self.offset = clock_offset()
        self.t_start = time.monotonic()
        self._out = open(self.outfile, "wb")
        self.proc = subprocess.Popen(self.args, cwd=self.workdir, env=env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._out,
                                     stderr=subprocess.STDOUT)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def messages(self):
        """Messages logged so far (the log is written as SIPp goes)."""
        return parse_log(self.msgfile, self.offset)

    def wait(self, timeout=None):
        """Wait for SIPp to exit (bounded: its own -timeout plus slack);
        returns the Result. A SIPp that outlives the bound is killed and
        the test fails."""
        bound = timeout if timeout is not None else self.timeout + 15
        try:
            rc = self.proc.wait(bound)
        except subprocess.TimeoutExpired:
            self.kill()
            raise cbtest.Timeout("SIPp %s did not finish within %.0f s"
                                 % (self.name, bound))
        finally:
            self._out.close()
        return self._result(rc)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def _result(self, rc):
        def read(p):
            try:
                with open(p, "rb") as f:
                    return f.read().decode(errors="replace")
            except FileNotFoundError:
                return ""
        self.result = Result(rc, self.messages(), read(self.outfile),
                             read(self.errfile), pid=self.proc.pid)
        return self.result

    def run(self, timeout=None):
        self.start()
        return self.wait(timeout)

    def wait_message(self, pred, timeout, what):
        """Wait (bounded) until a logged message satisfies pred; returns
        it. Fails early if SIPp exits without it."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages():
                if pred(m):
                    return m
            if not self.running():
                for m in self.messages():
                    if pred(m):
                        return m
                raise AssertionError("SIPp %s exited before %s"
                                     % (self.name, what))
            if time.monotonic() >= deadline:
                raise cbtest.Timeout("SIPp %s: no %s within %.1f s"
                                     % (self.name, what, timeout))
            time.sleep(0.02)
