"""Read cb-test-agent's recordings, and check them against the protocol.

cb-test-agent (tests/agent/test_agent.c) writes, per connection cNNNN in its
--dir: cNNNN.jsonl (the upgrade request, then every frame received and sent,
with CLOCK_MONOTONIC times in [us]: the clock of Python's time.monotonic()),
cNNNN.in.raw (inbound audio bytes) and cNNNN.out.raw (audio it sent).

    agent = AgentProcess(".../cb-test-agent", agent_dir, signal="sig.ul")
    ... point callbridge at agent.url("/script/play:500,mark:a") ...
    rec = agent.rec                               # or Recording(agent_dir)
    conn = rec.wait_closed(1, timeout=10)[0]      # or rec.conns()
    conn.path, conn.header("X-Twilio-Signature"), conn.rejected
    [e.event for e in conn.events()]              # received JSON, in order
    conn.inbound_audio                            # bytes
    assert not check_twilio_stream(conn), ...     # list of problems

check_twilio_stream() holds the field-by-field rules of
docs/twilio-media-streams.md (and the callbridge l16 extension),
check_raw_stream() those of protocol "raw"; the other helpers pull out
marks, DTMF and media for a test's own assertions.
"""

import base64
import binascii
import json
import os
import re
import signal
import subprocess
import threading
import time

SID_RE = {"stream": re.compile(r"^MZ[0-9a-f]{32}$"),
          "call": re.compile(r"^CA[0-9a-f]{32}$"),
          "account": re.compile(r"^AC[0-9a-f]{32}$")}

MULAW_8K = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}


class Frame:
    """One WebSocket frame the agent received (rx) or sent (tx)."""

    def __init__(self, rec):
        self.rec = rec
        self.t_us = rec["t_us"]
        self.dir = rec["ev"]
        self.kind = rec["kind"]
        if "text" in rec:
            self.text = rec["text"]
            self.data = rec["text"].encode()
        else:
            self.text = None
            self.data = base64.b64decode(rec.get("b64", ""))
        self._json = False

    @property
    def json(self):
        """The parsed JSON text, or None (binary, not JSON)."""
        if self._json is False:
            self._json = None
            if self.text is not None:
                try:
                    self._json = json.loads(self.text)
                except ValueError:
                    pass
        return self._json

    @property
    def event(self):
        j = self.json
        return j.get("event") if isinstance(j, dict) else None

    def __repr__(self):
        return "<%s %s %s>" % (self.dir, self.kind,
                               self.event or len(self.data))


class Conn:
    """One connection's recording."""

    def __init__(self, directory, name):
        self.dir = directory
        self.name = name
        self.records = []
        with open(os.path.join(directory, name + ".jsonl")) as f:
            for line in f:
                if line.endswith("\n"):     # a partial line is not yet done
                    self.records.append(json.loads(line))
        up = self.records[0] if self.records and \
            self.records[0]["ev"] == "upgrade" else {}
        self.upgrade = up
        self.path = up.get("path")
        self.query = up.get("query")
        self.target = up.get("target")
        self.headers = [tuple(h) for h in up.get("headers", [])]
        self.headers_complete = up.get("headers_complete", False)
        self.peer = up.get("peer")
        self.tls = up.get("tls")
        self.t_upgrade = up.get("t_us")
        self.rejected = next((r["status"] for r in self.records
                              if r["ev"] == "reject"), None)
        self.opened = any(r["ev"] == "open" for r in self.records)
        self.closed = bool(self.records) and \
            self.records[-1]["ev"] == "closed"
        self.notes = [r["msg"] for r in self.records if r["ev"] == "note"]
        pc = next((r for r in self.records if r["ev"] == "peer_close"), None)
        self.peer_close = (pc["code"], pc["reason"]) if pc else None
        ac = next((r for r in self.records if r["ev"] == "close"), None)
        self.agent_close = ac["code"] if ac else None
        self.frames = [Frame(r) for r in self.records
                       if r["ev"] in ("rx", "tx")]

    def header(self, name, default=None):
        """The first value of a request header (name case-insensitive)."""
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def received(self):
        return [f for f in self.frames if f.dir == "rx"]

    def sent(self):
        return [f for f in self.frames if f.dir == "tx"]

    def events(self, direction="rx", name=None):
        """JSON text frames as Frames, in order, optionally one event."""
        return [f for f in self.frames if f.dir == direction and
                f.event is not None and (name is None or f.event == name)]

    def event_names(self, direction="rx"):
        return [f.event for f in self.events(direction)]

    @property
    def start(self):
        s = self.events(name="start")
        return s[0].json if s else None

    @property
    def stream_sid(self):
        s = self.start
        return s.get("streamSid") if s else None

    @property
    def custom_parameters(self):
        s = self.start
        return (s.get("start") or {}).get("customParameters") if s else None

    def _raw(self, ext):
        p = os.path.join(self.dir, self.name + ext)
        if not os.path.exists(p):
            return b""
        with open(p, "rb") as f:
            return f.read()

    @property
    def inbound_audio(self):
        """Audio bytes received (µ-law, or 16-bit LE PCM), in order."""
        return self._raw(".in.raw")

    @property
    def outbound_audio(self):
        """Audio bytes the agent sent, in order."""
        return self._raw(".out.raw")

    def media_times(self):
        """(t_us received, media.timestamp [ms] as int) per media message."""
        out = []
        for f in self.events(name="media"):
            ts = (f.json.get("media") or {}).get("timestamp")
            out.append((f.t_us, int(ts) if isinstance(ts, str) and
                        ts.isdigit() else None))
        return out

    def marks_sent(self):
        """(t_us, name or None) of every mark the agent sent."""
        return [(f.t_us, (f.json.get("mark") or {}).get("name"))
                for f in self.events("tx", "mark")]

    def mark_echoes(self):
        """(t_us, name) of every mark echoed back to the agent."""
        return [(f.t_us, (f.json.get("mark") or {}).get("name"))
                for f in self.events("rx", "mark")]

    def dtmf_digits(self):
        """The DTMF digits received, in order."""
        return [(f.json.get("dtmf") or {}).get("digit")
                for f in self.events("rx", "dtmf")]

    def audio_sent_until(self, t_us):
        """Bytes of audio the agent had sent by t_us (twilio or raw)."""
        n = 0
        for f in self.sent():
            if f.t_us > t_us:
                break
            if f.kind == "binary":
                n += len(f.data)
            elif f.event == "media":
                p = (f.json.get("media") or {}).get("payload")
                if isinstance(p, str):
                    try:
                        n += len(base64.b64decode(p, validate=True))
                    except binascii.Error:
                        pass
        return n

    def __repr__(self):
        return "<Conn %s %s%s>" % (self.name, self.path,
                                   " rejected %s" % self.rejected
                                   if self.rejected else "")


class Recording:
    """A cb-test-agent --dir."""

    def __init__(self, directory):
        self.dir = directory

    def names(self):
        try:
            files = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return sorted(f[:-6] for f in files if f.endswith(".jsonl"))

    def conns(self, path=None, closed_only=False, where=None):
        """Connections in accept order; path filters on the request path
        (exact string, or a callable), where on the Conn (a callable)."""
        out = []
        for n in self.names():
            c = Conn(self.dir, n)
            if path is not None and not (path(c.path) if callable(path)
                                         else c.path == path):
                continue
            if where is not None and not where(c):
                continue
            if closed_only and not c.closed:
                continue
            out.append(c)
        return out

    def wait_closed(self, count, timeout=10.0, path=None, where=None):
        """Wait (bounded) until count connections (filtered as in conns())
        have ended; returns them. Raises AssertionError with what was seen
        on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            done = self.conns(path=path, closed_only=True, where=where)
            if len(done) >= count:
                return done
            if time.monotonic() >= deadline:
                raise AssertionError(
                    "%d of %d agent connections ended within %.1f s: %s"
                    % (len(done), count, timeout,
                       self.conns(path=path, where=where)))
            time.sleep(0.05)

    def wait_event(self, predicate, timeout=10.0):
        """Wait (bounded) until some connection has a frame for which
        predicate(conn, frame) is true; returns (conn, frame)."""
        deadline = time.monotonic() + timeout
        while True:
            for c in self.conns():
                for f in c.frames:
                    if predicate(c, f):
                        return c, f
            if time.monotonic() >= deadline:
                raise AssertionError("no matching agent frame within %.1f s"
                                     % timeout)
            time.sleep(0.05)


def _seq_ok(v, want):
    return isinstance(v, str) and v.isdigit() and int(v) == want


def check_sid(kind, value):
    """Whether value is a Twilio SID of that kind (stream, call, account)."""
    return isinstance(value, str) and bool(SID_RE[kind].match(value))


def check_twilio_stream(conn, media_format=None, media_bytes=None,
                        require_stop=True):
    """Every problem found in the messages callbridge sent to the agent,
    as a list of strings (empty: the stream is well-formed).

    media_format: the expected start.mediaFormat (default µ-law/8000/1)
    media_bytes:  expected payload size of every media message (default:
                  20 ms of that format); 0 to skip the size check
    """
    fmt = media_format or MULAW_8K
    if media_bytes is None:
        per_sample = 1 if fmt.get("encoding") == "audio/x-mulaw" else 2
        media_bytes = fmt.get("sampleRate", 8000) // 50 * per_sample
    p = []
    ev = conn.events("rx")
    non_json = [f for f in conn.received() if f.kind == "text" and
                f.json is None]
    if non_json:
        p.append("%d text frames are not JSON" % len(non_json))
    if any(f.kind == "binary" for f in conn.received()):
        p.append("binary frames on protocol twilio")
    if len(ev) < 2:
        return p + ["fewer than 2 events: %s" % conn.event_names()]

    c = ev[0].json
    if c.get("event") != "connected":
        p.append("first event is %r, not connected" % c.get("event"))
    else:
        if c.get("protocol") != "Call" or c.get("version") != "1.0.0":
            p.append("connected: protocol/version %r/%r"
                     % (c.get("protocol"), c.get("version")))
        if "sequenceNumber" in c:
            p.append("connected carries a sequenceNumber")

    s = ev[1].json
    st = s.get("start") if isinstance(s.get("start"), dict) else {}
    sid = s.get("streamSid")
    if s.get("event") != "start":
        p.append("second event is %r, not start" % s.get("event"))
    else:
        if not check_sid("stream", sid):
            p.append("start.streamSid %r is not MZ+32 hex" % sid)
        if st.get("streamSid") != sid:
            p.append("start.start.streamSid %r differs from %r"
                     % (st.get("streamSid"), sid))
        if not check_sid("account", st.get("accountSid")):
            p.append("accountSid %r is not AC+32 hex" % st.get("accountSid"))
        if not check_sid("call", st.get("callSid")):
            p.append("callSid %r is not CA+32 hex" % st.get("callSid"))
        if st.get("tracks") != ["inbound"]:
            p.append("tracks %r, not [\"inbound\"]" % st.get("tracks"))
        if not isinstance(st.get("customParameters"), dict):
            p.append("customParameters missing or not an object")
        elif not all(isinstance(v, str)
                     for v in st["customParameters"].values()):
            p.append("customParameters values must be strings")
        if st.get("mediaFormat") != fmt:
            p.append("mediaFormat %r, want %r" % (st.get("mediaFormat"), fmt))

    want_seq, chunk, last_ts, stopped = 1, 1, None, False
    for f in ev[1:]:
        m = f.json
        name = m.get("event")
        if stopped:
            p.append("%s after stop" % name)
        if not _seq_ok(m.get("sequenceNumber"), want_seq):
            p.append("%s: sequenceNumber %r, want \"%d\""
                     % (name, m.get("sequenceNumber"), want_seq))
        want_seq += 1
        if name != "start" and m.get("streamSid") != sid:
            p.append("%s: streamSid %r" % (name, m.get("streamSid")))
        if name == "media":
            md = m.get("media") if isinstance(m.get("media"), dict) else {}
            if md.get("track") != "inbound":
                p.append("media %d: track %r" % (chunk, md.get("track")))
            if not _seq_ok(md.get("chunk"), chunk):
                p.append("media: chunk %r, want \"%d\""
                         % (md.get("chunk"), chunk))
            ts = md.get("timestamp")
            if not (isinstance(ts, str) and ts.isdigit()):
                p.append("media %d: timestamp %r is not a string of ms"
                         % (chunk, ts))
            else:
                if last_ts is not None and int(ts) < last_ts:
                    p.append("media %d: timestamp %s goes back from %d"
                             % (chunk, ts, last_ts))
                last_ts = int(ts)
            try:
                n = len(base64.b64decode(md.get("payload", ""),
                                         validate=True))
                if media_bytes and n != media_bytes:
                    p.append("media %d: %d payload bytes, want %d"
                             % (chunk, n, media_bytes))
            except (binascii.Error, TypeError):
                p.append("media %d: payload is not base64" % chunk)
            chunk += 1
        elif name == "dtmf":
            d = m.get("dtmf") if isinstance(m.get("dtmf"), dict) else {}
            if d.get("track") != "inbound_track":
                p.append("dtmf: track %r" % d.get("track"))
            if not (isinstance(d.get("digit"), str) and
                    len(d["digit"]) == 1 and d["digit"] in
                    "0123456789*#ABCD"):
                p.append("dtmf: digit %r" % d.get("digit"))
        elif name == "mark":
            mk = m.get("mark")
            if not isinstance(mk, dict) or not isinstance(mk.get("name"),
                                                          str):
                p.append("mark echo without mark.name: %r" % m)
        elif name == "stop":
            sp = m.get("stop") if isinstance(m.get("stop"), dict) else {}
            if sp.get("accountSid") != st.get("accountSid") or \
                    sp.get("callSid") != st.get("callSid"):
                p.append("stop: accountSid/callSid %r differ from start"
                         % sp)
            stopped = True
        elif name == "start" and f is not ev[1]:
            p.append("second start")
    if require_stop and not stopped:
        p.append("no stop")
    bad_notes = [n for n in conn.notes if "switching" not in n]
    if bad_notes:
        p.append("agent notes: %s" % bad_notes[:5])
    return p


def check_raw_stream(conn, sample_rate=8000, require_stop=True):
    """Every problem found in a protocol "raw" stream (audio in binary
    frames of 16-bit LE PCM, 20 ms each; control in JSON text frames), as
    a list of strings (empty: well-formed)."""
    p = []
    frame = sample_rate // 50 * 2
    rx = conn.received()
    texts = [f for f in rx if f.kind == "text"]
    bad = [f for f in texts if f.json is None or f.event is None]
    if bad:
        p.append("%d text frames are not JSON events" % len(bad))
    names = [f.event for f in texts if f.event]
    if "media" in names:
        p.append("media JSON on protocol raw")
    starts = [f for f in texts if f.event == "start"]
    if len(starts) != 1:
        return p + ["%d start events" % len(starts)]
    s = starts[0].json
    st = s.get("start") if isinstance(s.get("start"), dict) else {}
    sid = s.get("streamSid") or st.get("streamSid")
    if not check_sid("stream", sid):
        p.append("streamSid %r is not MZ+32 hex" % sid)
    if not check_sid("call", st.get("callSid")):
        p.append("callSid %r is not CA+32 hex" % st.get("callSid"))
    if not check_sid("account", st.get("accountSid")):
        p.append("accountSid %r is not AC+32 hex" % st.get("accountSid"))
    fmt = {"encoding": "audio/l16", "sampleRate": sample_rate,
           "channels": 1}
    if st.get("mediaFormat") != fmt:
        p.append("mediaFormat %r, want %r" % (st.get("mediaFormat"), fmt))
    t_start = starts[0].t_us
    stop = [f for f in texts if f.event == "stop"]
    t_stop = stop[0].t_us if stop else None
    for f in rx:
        if f.kind != "binary":
            continue
        if f.t_us < t_start:
            p.append("audio before start")
            break
        if t_stop is not None and f.t_us > t_stop:
            p.append("audio after stop")
            break
    sizes = sorted({len(f.data) for f in rx if f.kind == "binary"})
    if sizes and sizes != [frame]:
        p.append("binary frames of %s bytes, want %d (20 ms)"
                 % (sizes[:5], frame))
    for f in texts:
        if f.event not in (None, "connected", "start", "stop") and \
                f.json.get("streamSid") != sid:
            p.append("%s: streamSid %r" % (f.event, f.json.get("streamSid")))
    if require_stop:
        if not stop:
            p.append("no stop")
        elif names[-1] != "stop":
            p.append("events after stop: %s" % names[names.index("stop"):])
    return p


def media_payload_audio(conn):
    """Audio decoded from the media messages received (should equal
    conn.inbound_audio)."""
    out = bytearray()
    for f in conn.events(name="media"):
        out += base64.b64decode(f.json["media"]["payload"])
    return bytes(out)


def default_binary():
    """Where cb-test-agent is: $CB_TEST_AGENT, else next to the gateway
    binaries of $CB_BIN_DIR (BUILD/gateway -> BUILD/tests/agent), else
    build/ in the source tree."""
    if os.environ.get("CB_TEST_AGENT"):
        return os.environ["CB_TEST_AGENT"]
    here = os.path.dirname(os.path.abspath(__file__))
    bindir = os.environ.get("CB_BIN_DIR",
                            os.path.join(here, "..", "..", "build",
                                         "gateway"))
    return os.path.normpath(os.path.join(bindir, "..", "tests", "agent",
                                         "cb-test-agent"))


class AgentProcess:
    """A cb-test-agent process on an ephemeral loopback port.

        with AgentProcess(signal="sig.ul") as agent:  # binary, dir: defaults
            url = agent.url("/play")              # ws://127.0.0.1:PORT/play
            ...
        # on exit: SIGTERM; agent.returncode, agent.stderr

    stop() sends SIGTERM and returns the exit status (0 when clean; in a
    sanitizer build anything else includes leaks and memory errors)."""

    def __init__(self, binary=None, directory=None, signal=None, tls=None,
                 exit_after=None, addr="127.0.0.1", verbose=False,
                 timeout=10.0):
        binary = binary or default_binary()
        if not os.access(binary, os.X_OK):
            raise FileNotFoundError("cb-test-agent not found at %s (build "
                                    "it, or set CB_TEST_AGENT)" % binary)
        if directory is None:
            import tempfile
            directory = tempfile.mkdtemp(prefix="cb-agent-")
        self.dir = directory
        args = [binary, "--addr", addr, "--port", "0", "--dir", directory]
        if signal:
            args += ["--signal", signal]
        if tls:
            args += ["--tls", tls[0], tls[1]]
        if exit_after:
            args += ["--exit-after-conns", str(exit_after)]
        if verbose:
            args.append("-v")
        self.addr = addr
        self.tls = bool(tls)
        self.rec = Recording(directory)
        self.returncode = None
        self.stderr = ""
        self._err = []
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self._t = threading.Thread(target=self._drain, daemon=True)
        self._t.start()
        got = []
        reader = threading.Thread(
            target=lambda: got.append(self.proc.stdout.readline()),
            daemon=True)
        reader.start()
        reader.join(timeout)
        line = got[0].decode() if got else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError("cb-test-agent did not start: %r %s"
                               % (line, self.stderr[-2000:]))
        self.port = int(line.split()[1])

    def _drain(self):
        for line in self.proc.stderr:
            self._err.append(line.decode(errors="replace"))

    def url(self, path="/", scheme=None):
        host = "[%s]" % self.addr if ":" in self.addr else self.addr
        return "%s://%s:%d%s" % (scheme or ("wss" if self.tls else "ws"),
                                 host, self.port, path)

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.returncode = "killed after %.0f s" % timeout
        self._t.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.stderr = "".join(self._err)
        return self.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.returncode is None:
            self.stop()
        return False
