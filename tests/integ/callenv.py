"""Shared set-up of the end-to-end call tests (test_call_*.py, test_sip_*.py).

A CallEnv is one callbridge daemon with a carrier trunk, one or more
cb-test-agent processes, and helpers to provision agents and numbers, to
make SIPp's RTP (pcaps of known signals), to run SIPp scenarios from
tests/sipp/ and to look at calls:

    env = CallEnv(settings={"agent_connect_timeout_ms": 500})
    env.agent("a1", "/script/play:all")         # agent id -> agent URL path
    env.number("+14155550100", "a1")
    ref = env.pcap(work, "ulaw", 2.0, seed=7)   # work/call.pcap
    res = env.sipp("uac_call.xml", work, keys={...}, sets={...}).run()
    ...
    env.close()     # calls gone, fds and threads back to the baseline,
                    # SIGTERM exits 0 with no sanitizer report

isolate() moves the test process (and so the daemon, agents and SIPp it
starts) into a private network namespace that holds only loopback, when
the kernel allows it (root): parallel tests then cannot see each other's
packets or race for ports. Tests that need it (RFC 4475 messages name
foreign and broadcast hosts) skip when it is not allowed.
"""

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))

import agentlog  # noqa: E402
import cbtest  # noqa: E402
import g711  # noqa: E402
import gensig  # noqa: E402
import mkpcap  # noqa: E402
import sipp  # noqa: E402

CLONE_NEWNET = 0x40000000
SKIP = 77
_isolated = None

# libre's debug output at exit when descriptors or timers are still
# registered in the SIP thread's loop (tmr_debug, fd_debug)
LEFTOVER_MARKS = (" in use: flags=", "Timers (")


def isolate():
    """Enter a new network namespace with loopback up (once per process).
    Returns True if the process is now isolated, False if not allowed."""
    global _isolated
    if _isolated is not None:
        return _isolated
    _isolated = False
    if os.environ.get("CB_NO_NETNS"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            return False
    except (OSError, AttributeError):
        return False
    ip = shutil.which("ip") or "/sbin/ip"
    try:
        subprocess.run([ip, "link", "set", "lo", "up"], check=True,
                       timeout=10, capture_output=True)
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError("new network namespace, but cannot bring up "
                           "lo: %s" % e)
    _isolated = True
    return True


def require_sipp(testcase=None, pcap=False):
    """Skip (unittest.SkipTest) when SIPp or, for pcap play, raw sockets
    are missing."""
    why = sipp.available()
    if not why and pcap and not sipp.raw_sockets():
        why = "no raw sockets (SIPp's play_pcap_audio needs root)"
    if why:
        raise unittest.SkipTest(why)


def agent_binary():
    return agentlog.default_binary()


class CallEnv:
    """See the module doc."""

    def __init__(self, settings=None, workers=2, agents=1,
                 agent_seconds=4.0, agent_seeds=None, log_level="info",
                 nofile=None):
        self.tmp = tempfile.mkdtemp(prefix="cb-calls-")
        base = {"jb_min_ms": 40, "jb_max_ms": 300,
                "agent_connect_timeout_ms": 3000}
        base.update(settings or {})
        self.gw = cbtest.Daemon(settings=base, workers=workers,
                                log_level=log_level, nofile=nofile)
        self.agents = []
        self.agent_signals = []
        self._n = 0
        self.baseline = None
        try:
            self.gw.start()
            seeds = agent_seeds or [900 + i for i in range(agents)]
            for i, seed in enumerate(seeds):
                sig = gensig.generate("frames", "ulaw", agent_seconds,
                                      seed=seed)
                path = os.path.join(self.tmp, "agent%d.ul" % i)
                with open(path, "wb") as f:
                    f.write(sig)
                d = os.path.join(self.tmp, "agent%d" % i)
                os.makedirs(d)
                self.agents.append(agentlog.AgentProcess(
                    directory=d, signal=path))
                self.agent_signals.append(sig)
            self.request("trunks.put", trunk={
                "id": "carrier", "kind": "byoc", "name": "SIPp"})
        except BaseException:
            self.close(check=False)
            raise

    # -- provisioning ---------------------------------------------------

    def request(self, op, **fields):
        reply = self.gw.request(op, **fields)
        if not reply.get("ok"):
            raise AssertionError("%s %s refused: %s" % (op, fields, reply))
        return reply

    def agent(self, agent_id, path="/", which=0, **fields):
        """Create or replace an agent whose URL is cb-test-agent #which
        with this path; returns the URL."""
        url = self.agents[which].url(path)
        obj = {"id": agent_id, "url": url}
        obj.update(fields)
        self.request("agents.put", agent=obj)
        return url

    def number(self, number, agent_id=None, trunk="carrier",
               friendly_name=None, **fields):
        obj = {"number": number, "trunk_id": trunk,
               "friendly_name": friendly_name or "Test %s" % number[-4:],
               "inbound_agent_id": agent_id}
        obj.update(fields)
        self.request("numbers.put", number=obj)

    def workdir(self, name):
        self._n += 1
        d = os.path.join(self.tmp, "%02d-%s" % (self._n, name))
        os.makedirs(d)
        return d

    # -- carrier media --------------------------------------------------

    @staticmethod
    def pcap(workdir, law="ulaw", seconds=2.0, seed=1, name="call.pcap",
             **kw):
        """A frames signal in `law` as workdir/name for play_pcap_audio;
        returns the signal bytes (in that law)."""
        sig = gensig.generate("frames", law, seconds, seed=seed)
        raw = os.path.join(workdir, name + ".raw")
        with open(raw, "wb") as f:
            f.write(sig)
        pk = mkpcap.build(sig, law=law, **kw)
        mkpcap.write_pcap(os.path.join(workdir, name), pk)
        return sig

    def sipp(self, scenario, workdir, **kw):
        return sipp.Sipp(scenario, self.gw.sip_port, workdir, **kw)

    def uac_call(self, number, hold=300, seconds=0.4, seed=1, name="call",
                 fmt="0 101", **kw):
        """A plain inbound call (uac_call.xml) to `number`: `seconds` of
        µ-law speech, hung up by the caller `hold` ms after the answer.
        Returns the Sipp run (call .run() or .start()); kw go to Sipp."""
        w = self.workdir(name)
        self.pcap(w, "ulaw", seconds, seed=seed)
        host = "127.0.0.1:%d" % self.gw.sip_port
        return self.sipp("uac_call.xml", w, keys={
            "ruri": "sip:%s@%s" % (number, host),
            "to_uri": "sip:%s@%s" % (number, host), "fmt": fmt,
            "dir": "sendrecv", "ctype": "application/sdp",
            "xhdr_a": "a", "xhdr_b": "b"}, sets={"hold": hold}, **kw)

    # -- looking at calls -----------------------------------------------

    def calls(self):
        return self.request("calls.list")["calls"]

    def recent(self):
        return self.request("calls.recent")["calls"]

    def recent_call(self, call_sid):
        for c in self.recent():
            if c.get("call_sid") == call_sid:
                return c
        return None

    def wait_idle(self, timeout=15.0):
        """Wait (bounded) until no call is in progress."""
        cbtest.wait_for(lambda: not self.calls(), timeout,
                        "calls.list to be empty", interval=0.05)

    def resources(self):
        """(open fds by kind, threads) of the daemon; kinds: socket, pipe,
        anon_inode:[eventfd], /path ..."""
        kinds = {}
        d = "/proc/%d/fd" % self.gw.proc.pid
        for f in os.listdir(d):
            try:
                k = os.readlink(os.path.join(d, f))
            except OSError:
                continue
            k = k.split(":[")[0] if k.startswith(("socket", "pipe")) else k
            kinds[k] = kinds.get(k, 0) + 1
        return tuple(sorted(kinds.items())), self.gw.threads()

    def take_baseline(self, timeout=10.0):
        """Record fds and threads once idle and steady (after a first call,
        so that what is set up once per process is in the baseline)."""
        self.wait_idle(timeout)
        deadline = time.monotonic() + timeout
        prev = None
        while True:
            now = self.resources()
            if now == prev:
                self.baseline = now
                return now
            if time.monotonic() >= deadline:
                raise AssertionError("fds/threads never settle: %s, %s"
                                     % (prev, now))
            prev = now
            time.sleep(0.4)

    def check_baseline(self, timeout=10.0):
        """Wait (bounded) for the fd and thread counts to come back to the
        baseline once no call is in progress; fails with the difference."""
        self.wait_idle(timeout)
        deadline = time.monotonic() + timeout
        while True:
            now = self.resources()
            if now == self.baseline:
                return now
            if time.monotonic() >= deadline:
                raise AssertionError("fds/threads %s, baseline %s"
                                     % (now, self.baseline))
            time.sleep(0.1)

    def leftovers(self):
        """libre's report of descriptors/timers still registered when the
        SIP thread's loop ended (printed at exit), as lines."""
        return [l for l in self.gw.run_log().splitlines()
                if any(m in l for m in LEFTOVER_MARKS)]

    # -- the end ----------------------------------------------------------

    def close(self, check=True):
        """Stop agents and daemon. With check: SIGTERM must exit 0 with no
        sanitizer report (cbtest.Daemon.stop raises otherwise)."""
        rc = None
        try:
            if self.gw.alive():
                rc = self.gw.stop()
        finally:
            # agents stop even when the daemon's stop failed (a sanitizer
            # report raises there)
            for a in self.agents:
                if a.returncode is None:
                    a.stop()
            self.gw.cleanup()
            if os.environ.get("CB_KEEP_TMP"):
                sys.stderr.write("callenv: kept %s\n" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        if check and rc != 0:
            raise AssertionError("callbridge exited %s on SIGTERM" % rc)
        return rc

    def dump(self):
        """The daemon log's tail, for failure messages."""
        return self.gw.run_log()[-5000:]


# -- an agent that is slow to accept the WebSocket ---------------------------

class PyAgent:
    """A minimal WebSocket server (agent) in Python, for what cb-test-agent
    does not do: it holds every upgrade request `delay` seconds before it
    answers 101 (ordering tests: the gateway may answer the call only after
    the upgrade and `start`), and once `start` has arrived it sends
    `script`, a list of (pause [s], opcode, payload bytes) frames: unknown
    events, pings, odd frames. It records every frame it receives
    (t = time.monotonic()).

    conns: list of dicts {"t_request", "t_101", "frames": [(t, opcode,
    bytes)], "sent": [(t, opcode, bytes)], "closed"}.

    Instead of a fixed script, `player` (a callable) may drive the
    connection: once `start` has arrived it runs player(link) in a thread
    of its own, where link is a PyAgentLink (link.media(audio),
    link.mark(name), link.send(opcode, payload), link.sid, link.rec,
    link.stopped()). Frames a player sends are recorded in "sent" with the
    time taken just before they were written (a script's, just after);
    its connection has TCP_NODELAY, so each frame leaves when written.

    `bind` is the address it listens on (IPv6 too: "::1").
    `stall` = (after, seconds): a connection stops reading `after` s past
    its 101 for `seconds` (rec "t_stall", "t_resume"), an agent whose
    WebSocket stalled; `rcvbuf` sets the receive buffer [bytes] of the
    connections, so that the kernel holds little of what is not read.
    With `tls` (an ssl.SSLContext for the server side) it serves wss://:
    each accepted connection does the TLS handshake first; one that fails
    is recorded with "tls_error" and no request."""

    GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, delay=0.0, script=(), player=None, tls=None,
                 bind="127.0.0.1", stall=None, rcvbuf=None):
        import socket
        import threading
        self.tls = tls
        self.bind = bind
        self.delay = delay
        self.script = list(script)
        self.player = player
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET6 if ":" in bind
                                  else socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # inherited by accepted sockets; set before listen() so that
            # the window is sized for it from the handshake on
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                 rcvbuf)
        self.stall = stall
        self.sock.bind((bind, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._threads = []
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def url(self, path="/", host=None):
        host = host or ("[%s]" % self.bind if ":" in self.bind
                        else self.bind)
        return "%s://%s:%d%s" % ("wss" if self.tls else "ws", host,
                                 self.port, path)

    def _accept(self):
        import socket
        import threading
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            rec = {"t_request": None, "t_101": None, "frames": [],
                   "sent": [], "closed": False, "tls_error": None,
                   "headers": {}, "t_stall": None, "t_resume": None,
                   "wlock": threading.Lock()}
            with self.lock:
                self.conns.append(rec)
            t = threading.Thread(target=self._serve, args=(c, rec),
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def _recv_exact(self, c, n, deadline):
        buf = b""
        while len(buf) < n:
            if self._stop or time.monotonic() > deadline:
                raise OSError("timeout")
            try:
                d = c.recv(n - len(buf))
            except OSError as e:
                if "timed out" in str(e):
                    continue
                raise
            if not d:
                raise EOFError
            buf += d
        return buf

    def _serve(self, c, rec):
        import base64
        import hashlib
        deadline = time.monotonic() + 60
        try:
            if self.tls:
                import ssl
                c.settimeout(5)
                try:
                    c = self.tls.wrap_socket(c, server_side=True)
                except (OSError, ssl.SSLError) as e:
                    rec["tls_error"] = str(e)
                    raise
            c.settimeout(0.2)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                head += self._recv_exact(c, 1, deadline)
            rec["t_request"] = time.monotonic()
            key = b""
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"sec-websocket-key:"):
                    key = line.split(b":", 1)[1].strip()
                if b":" in line:
                    k, v = line.split(b":", 1)
                    rec["headers"][k.strip().lower().decode()] = \
                        v.strip().decode("latin-1")
            time.sleep(self.delay)
            acc = base64.b64encode(hashlib.sha1(key + self.GUID).digest())
            rec["t_101"] = time.monotonic()
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\n"
                      b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + acc + b"\r\n\r\n")
            while True:
                if self.stall and rec["t_stall"] is None and \
                        time.monotonic() >= rec["t_101"] + self.stall[0]:
                    rec["t_stall"] = time.monotonic()
                    end = rec["t_stall"] + self.stall[1]
                    while not self._stop and time.monotonic() < end:
                        time.sleep(0.05)
                    rec["t_resume"] = time.monotonic()
                    deadline += self.stall[1]
                b0, b1 = self._recv_exact(c, 2, deadline)
                n = b1 & 0x7F
                if n == 126:
                    n = int.from_bytes(self._recv_exact(c, 2, deadline),
                                       "big")
                elif n == 127:
                    n = int.from_bytes(self._recv_exact(c, 8, deadline),
                                       "big")
                mask = self._recv_exact(c, 4, deadline) if b1 & 0x80 \
                    else b"\0\0\0\0"
                data = bytes(x ^ mask[i % 4] for i, x in
                             enumerate(self._recv_exact(c, n, deadline)))
                with self.lock:
                    rec["frames"].append((time.monotonic(), b0 & 0x0F,
                                          data))
                if b0 & 0x0F == 1 and b'"start"' in data and \
                        (self.script or self.player):
                    import threading
                    t = threading.Thread(target=self._play if self.script
                                         else self._run_player,
                                         args=(c, rec, data), daemon=True)
                    t.start()
                    self._threads.append(t)
                if b0 & 0x0F == 8:
                    with rec["wlock"]:
                        c.sendall(b"\x88\x02" + data[:2])
                    break
        except (OSError, EOFError, ValueError):
            pass
        finally:
            rec["closed"] = True
            c.close()

    @staticmethod
    def frame(opcode, payload):
        """One unmasked server frame."""
        n = len(payload)
        if n < 126:
            hdr = bytes([0x80 | opcode, n])
        elif n < 65536:
            hdr = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
        else:
            hdr = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
        return hdr + payload

    def _play(self, c, rec, start):
        import json
        try:
            sid = json.loads(start).get("streamSid", "")
        except ValueError:
            sid = ""
        for pause, opcode, payload in self.script:
            time.sleep(pause)
            if self._stop:
                return
            data = payload.replace(b"$SID", sid.encode())
            try:
                c.sendall(self.frame(opcode, data))
            except OSError:
                return
            with self.lock:
                rec["sent"].append((time.monotonic(), opcode, data))

    def _run_player(self, c, rec, start):
        import json
        try:
            sid = json.loads(start).get("streamSid", "")
        except ValueError:
            sid = ""
        # a player times its frames: no Nagle delay behind unacked data
        import socket
        try:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        link = PyAgentLink(self, c, rec, sid)
        try:
            self.player(link)
        except OSError:
            pass                    # the connection went away
        except BaseException as e:  # noqa: B902 (reported to the test)
            with self.lock:
                rec["player_error"] = e

    def texts(self, rec):
        import json
        out = []
        for t, op, data in rec["frames"]:
            if op == 1:
                try:
                    out.append((t, json.loads(data)))
                except ValueError:
                    pass
        return out

    def close(self):
        self._stop = True
        self._t.join(timeout=5)
        for t in self._threads:
            t.join(timeout=5)
        self.sock.close()


class PyAgentLink:
    """A PyAgent connection as its player sees it (see PyAgent)."""

    def __init__(self, agent, c, rec, sid):
        self.agent = agent
        self.c = c
        self.rec = rec
        self.sid = sid

    def stopped(self):
        """True once the agent is closing or the gateway hung up."""
        return self.agent._stop or self.rec["closed"]

    def send(self, opcode, payload):
        """Send one frame ($SID in payload becomes the streamSid); returns
        time.monotonic() taken just before the write. OSError when the
        connection is gone."""
        data = payload.replace(b"$SID", self.sid.encode())
        frame = PyAgent.frame(opcode, data)
        with self.rec["wlock"]:
            t = time.monotonic()
            self.c.sendall(frame)
        with self.agent.lock:
            self.rec["sent"].append((t, opcode, data))
        return t

    def media(self, audio):
        """One Twilio `media` message carrying audio (µ-law bytes)."""
        import base64
        return self.send(1, b'{"event":"media","streamSid":"$SID",'
                         b'"media":{"payload":"' +
                         base64.b64encode(audio) + b'"}}')

    def mark(self, name):
        """One Twilio `mark` message."""
        return self.send(1, b'{"event":"mark","streamSid":"$SID",'
                         b'"mark":{"name":"' + name.encode() + b'"}}')


# -- audio references ------------------------------------------------------

def to_agent(law, sig):
    """What the agent must receive for a carrier signal: µ-law as is,
    A-law through G.711's A->µ table."""
    return sig if law == "ulaw" else g711.alaw_to_ulaw(sig)


def to_carrier(law, agent_sig):
    """What the carrier must receive for agent µ-law audio."""
    return agent_sig if law == "ulaw" else g711.ulaw_to_alaw(agent_sig)


class NothingLeft:
    """Mixin for a CallTestCase whose tests share one daemon: its last
    test checks that after every call no fd or thread is left over
    (against the baseline taken after the first call)."""

    def test_zz_nothing_left(self):
        if self.env.baseline is None:
            self.skipTest("no baseline: the first call failed")
        self.env.check_baseline()


class CallTestCase(unittest.TestCase):
    """Base of the call tests: prints the daemon's log when a test fails
    (set `env` on the class)."""

    env = None

    def streamed_call(self, agent, number, host, seed):
        """A call of 0.6 s of audio to `number`, whose agent is the
        PyAgent `agent`: it is answered and runs to the caller's BYE, and
        the agent's connection sent Host `host` and got connected, start,
        media (25 messages at least: 0.6 s at 50 a second) and stop.
        Returns the connection's record."""
        n = len(agent.conns)
        res = self.env.uac_call(number, 600, seconds=0.6, seed=seed).run()
        self.assertEqual(res.final("INVITE"), 200, res.summary())
        self.assertEqual(res.rc, 0, res.summary())
        cbtest.wait_for(lambda: len(agent.conns) > n and
                        agent.conns[n]["closed"], 10, "the agent's end")
        rec = agent.conns[n]
        self.assertEqual(rec["headers"].get("host"), host)
        events = [e["event"] for _, e in agent.texts(rec)]
        self.assertEqual(events[:2], ["connected", "start"])
        self.assertEqual(events[-1], "stop")
        self.assertGreaterEqual(events.count("media"), 25)
        return rec

    def assert_frames_heard(self, rep, stats, what="carrier -> agent"):
        """The agent heard the caller's frames (rep: gensig.check_frames)
        exactly; on a busy host the jitter buffer may conceal a slot whose
        packet came late (SIPp or the worker held up) and then discard
        that packet, or play the part of it still ahead (the next frame is
        then half concealment): so where the buffer counted late or
        dropped packets (stats: the call's statistics), up to two missing
        frames per packet it counted, in order and never twice, and no
        more foreign frames than it concealed. On an idle host nothing is
        late, so one missing frame fails."""
        if rep.exact:
            return
        jb = stats["jitter_buffer"]
        why = "%s: %s; jitter buffer %s" % (what, rep, jb)
        self.assertEqual(rep.duplicates, 0, why)
        self.assertTrue(all(b > a for a, b in rep.gaps), why)
        self.assertLessEqual(rep.nref - rep.matched,
                             2 * (jb["late"] + jb["dropped"]), why)
        self.assertLessEqual(rep.foreign, jb["concealed"], why)

    def tearDown(self):
        res = getattr(self._outcome, "result", None)
        if res is None or self.env is None:
            return
        mine = [t for t, _ in res.errors + res.failures
                if t is self or getattr(t, "test_case", None) is self]
        if mine:
            sys.stderr.write("---- callbridge log (tail) ----\n%s\n"
                             % self.env.dump())


class EnvPerTest(CallTestCase):
    """A call test whose tests each start a daemon of their own (in
    self.env): whatever a test left running is closed after it."""

    def tearDown(self):
        super().tearDown()
        if self.env:
            self.env.close(check=False)
            self.env = None


def run_tests():
    """Isolate when possible, then unittest.main(verbosity=2)."""
    isolate()
    unittest.main(verbosity=2)
