"""Shared harness of the impairment tests (test_impair_*.py); no tests here.

One call, all real parts:

    SIPp (the carrier, plays a pcap) --> tests/tools/relay.py (impairs the
    carrier's RTP by a seeded schedule and logs what it did) --> callbridge
    --> cb-test-agent (records every frame with its arrival time)

    with Bench() as b:                         # daemon + agent
        b.add_number("+14155550101", codecs=["PCMU"])
        call = b.call("+14155550101", src, relay=dict(seed=7, loss=5))
        call.stats       # calls.get -> stats.jitter_buffer, after hang-up
        call.expected    # relay.expected_jb(): what the counters must be
        call.conn        # the agent's recording (agentlog.Conn)
        slots = classify(call, src)        # what each agent frame is
        problems = check_stats(call, slots) + check_stream(call) + ...

How an agent frame is identified (classify()), independently of the
gateway's code:
  - G.711 (µ-law agent): the test signal is seeded noise, every 20 ms
    frame unique, so a frame decoded from packet k is found by its bytes
    (PCMU: the payload; PCMA: G.711 Table 4 of the payload, tools/g711.py).
    After a concealment the first <= 9 ms are cross-faded: such a frame
    matches packet k in its last 10 ms. Anything else is concealment
    (or exact silence).
  - Opus (l16 agent at the decoder's rate): libopus itself, through
    ctypes, replays the gateway's decoder: for each frame it tries, from
    the state the previous frames left, a normal decode of the next
    packets, an in-band FEC decode from the packet after, and PLC; the
    frame must be one of them bit for bit. So every frame is known as
    FRAME k, FEC k or PLC, and its state follows the gateway's.

Slot kinds: "frame" (packet k decoded; "xfade" for a G.711 frame with a
cross-faded head), "fec" (packet k recovered from k+1), "conceal" (PLC,
G.711 or Opus), "silence" (G.711 exact silence).
"""

import base64
import ctypes
import ctypes.util
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.normpath(os.path.join(HERE, "..", "tools"))
sys.path.insert(0, HERE)
sys.path.insert(0, TOOLS)
import agentlog  # noqa: E402
import cbtest  # noqa: E402
import g711  # noqa: E402
import gensig  # noqa: E402
import mkpcap  # noqa: E402
import relay as relaymod  # noqa: E402
import sipp  # noqa: E402

SKIP = 77
FRAME_MS = 20
SILENCE_AFTER = 3     # slots concealed before an unexplained gap turns to
                      # silence (jb silence_after 60 ms, docs/jitter-buffer.md)
STALL_BOUND_MS = 20   # largest lag of an agent frame behind the 20 ms
                      # grid that no witnessed stall explains (check_pacing)
DROP_STALL_MS = 40    # a stall of the host after which the jitter buffer
                      # may discard packets (check_slots)
GRACE_MS = 5          # jb grace: how long a missing packet is waited for
CLEAN_TRIES = 3       # clean calls run until the carrier's pacing was clean

PCMU_OFFER = "m=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
PCMA_OFFER = "m=audio [media_port] RTP/AVP 8\na=rtpmap:8 PCMA/8000\n"
OPUS_OFFER = ("m=audio [media_port] RTP/AVP 111\n"
              "a=rtpmap:111 opus/48000/2\n"
              "a=fmtp:111 useinbandfec=1\n")

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="callbridge impairment call">
  <send retrans="500">
    <![CDATA[
      INVITE sip:%(number)s@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:+15005550006@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:%(number)s@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
%(offer)s    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[
      ACK sip:%(number)s@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:+15005550006@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:%(number)s@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="%(lead)d"/>
  <nop><action><exec play_pcap_audio="%(pcap)s"/></action></nop>
  <pause milliseconds="%(pause)d"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:%(number)s@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:+15005550006@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:%(number)s@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


def skip_reason():
    """Why these tests cannot run here, or None."""
    if not shutil.which("sipp"):
        return "sipp not installed"
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW,
                      socket.IPPROTO_UDP).close()
    except PermissionError:
        return "no raw sockets (SIPp's play_pcap_audio needs them: root)"
    return None


def isolate():
    """Run this test process (and the daemon, agent, relay and SIPp it
    starts) in a private network namespace holding only loopback, when
    the kernel allows it (callenv.isolate(), the issue-3 call tests'
    helper): tests running in parallel then cannot take each other's
    ports or see each other's packets. Returns whether it did."""
    try:
        import callenv
        return callenv.isolate()
    except Exception as e:          # optional: run in the host's namespace
        sys.stderr.write("impair: no private network namespace: %s\n" % e)
        return False


def instrument_realtime(pid):
    """Run process pid (single-threaded: cb-test-agent) SCHED_FIFO at the
    lowest priority when allowed (root). The agent is the instrument that
    times the gateway's frames (check_pacing): on a busy host a normal
    agent is itself held up 50-100 ms now and then, and its receive times
    then lag the grid with no stall the witnesses see (seen under
    stress-ng --cpu 2: a frame 111 ms behind, 65 ms of stalls seen). The
    gateway, relay and SIPp keep their normal priority: their stalls are
    what the witnesses measure. Returns whether it did."""
    try:
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(1))
        return True
    except (OSError, AttributeError):
        return False


def _indent(offer):
    return "".join("      %s\n" % ln for ln in offer.strip().split("\n"))


# ---- sources ---------------------------------------------------------------

class Source:
    """What SIPp plays: the pcap and, per RTP sequence number, the payload
    and the PCM it carries."""

    def __init__(self, codec, pcap, pcm, rate):
        self.codec = codec                 # "PCMU", "PCMA", "opus"
        self.pcap = pcap
        self.pcm = pcm                     # source samples at rate
        self.rate = rate
        pk = mkpcap.read_pcap(pcap)
        self.payload = {p.rtp["seq"]: p.rtp["payload"] for p in pk}
        self.span_s = pk[-1].t - pk[0].t + FRAME_MS / 1000.0
        self.first_seq = min(self.payload)

    def pcm_frame(self, seq):
        """The source samples packet seq carries (20 ms at rate)."""
        n = self.rate // 50
        k = seq - self.first_seq
        return self.pcm[k * n:(k + 1) * n]


def g711_source(directory, law, seconds, seed):
    """Seeded noise (every 20 ms frame unique) as PCMU or PCMA RTP."""
    audio = gensig.generate("frames", law, seconds, seed=seed)
    raw = os.path.join(directory, "src.%s" % law)
    with open(raw, "wb") as f:
        f.write(audio)
    pcap = os.path.join(directory, "src-%s.pcap" % law)
    rc = mkpcap.main([raw, pcap, "--law", law])
    if rc:
        raise RuntimeError("mkpcap failed: %r" % rc)
    return Source("PCMU" if law == "ulaw" else "PCMA", pcap,
                  g711.decode(law, audio), 8000)


def tone_frames(seconds, rate, level=8000):
    """A tone whose frequency changes every 20 ms (400..3100 Hz in 180 Hz
    steps, frame k at step 7k mod 16, so no two frames within 15 of each
    other share a frequency), phase continuous."""
    out, ph, n = [], 0.0, rate // 50
    for k in range(int(seconds * 50)):
        f = 400 + 180 * ((k * 7) % 16)
        for _ in range(n):
            ph += 2 * math.pi * f / rate
            out.append(int(round(level * math.sin(ph))))
    return out


def opus_tool():
    """Path of tests/tools/opus_pcap in the build, or None."""
    p = os.environ.get("CB_OPUS_PCAP")
    if p:
        return p
    bindir = os.environ.get("CB_BIN_DIR", os.path.join(HERE, "..", "..",
                                                       "build", "gateway"))
    p = os.path.normpath(os.path.join(bindir, "..", "tests", "tools",
                                      "opus_pcap"))
    return p if os.access(p, os.X_OK) else None


def opus_source(directory, seconds, rate=16000, fec=True, tool=None):
    """tone_frames() at rate, encoded by tests/tools/opus_pcap."""
    pcm = tone_frames(seconds, rate)
    raw = os.path.join(directory, "src-%d.raw" % rate)
    with open(raw, "wb") as f:
        f.write(struct.pack("<%dh" % len(pcm), *pcm))
    pcap = os.path.join(directory, "src-opus.pcap")
    args = [tool or opus_tool(), raw, pcap, "--rate", str(rate)]
    if fec:
        args.append("--fec")
    subprocess.run(args, check=True, timeout=60, stdout=subprocess.DEVNULL)
    return Source("opus", pcap, pcm, rate)


# ---- the call ----------------------------------------------------------------

class Frame:
    """One media message the agent received."""

    __slots__ = ("t", "chunk", "ts", "data")

    def __init__(self, t, chunk, ts, data):
        self.t = t                 # time.monotonic() [s]
        self.chunk = chunk
        self.ts = ts               # media.timestamp [ms]
        self.data = data


class Call:
    """A finished call: what every part recorded."""

    def __init__(self, number, src, records, entry, conn, sipp_rc,
                 sipp_err):
        self.number = number
        self.src = src
        self.records = records
        self.entry = entry                 # the calls.get entry
        self.stats = (entry.get("stats") or {}).get("jitter_buffer") or {}
        self.conn = conn
        self.sipp_rc = sipp_rc
        self.sipp_err = sipp_err
        end = next((r for r in records if r["ev"] == "end"), {})
        self.relay_stats = end.get("stats", {})
        self.expected = relaymod.expected_jb(records)
        self.frames = []
        for f in conn.events(name="media"):
            md = f.json.get("media") or {}
            try:
                self.frames.append(Frame(
                    f.t_us / 1e6, int(md.get("chunk")),
                    int(md.get("timestamp")),
                    base64.b64decode(md.get("payload", ""))))
            except (TypeError, ValueError):
                self.frames.append(Frame(f.t_us / 1e6, None, None, b""))

    def sip_time(self, prefix, direction="c2g"):
        """time.monotonic() when the relay forwarded the first SIP message
        whose first line starts with prefix, or None."""
        for r in self.records:
            if r["ev"] == "sip" and r["dir"] == direction and \
                    r["line"].startswith(prefix):
                return r["t"]
        return None


class Bench:
    """The daemon and one cb-test-agent, for any number of calls."""

    def __init__(self, workers=1, settings=None):
        isolate()
        self.tmp = tempfile.mkdtemp(prefix="cb-impair-")
        s = {"rtp_timeout_s": 30}
        s.update(settings or {})
        self.gw = cbtest.Daemon(settings=s, workers=workers,
                                prefix="cb-impair-gw-")
        self.agent = None
        self.sipp = shutil.which("sipp")
        self.ncalls = 0

    def __enter__(self):
        try:
            self.gw.__enter__()
            self.agent = agentlog.AgentProcess(
                directory=os.path.join(self.tmp, "agent"))
            if not instrument_realtime(self.agent.proc.pid):
                sys.stderr.write("impair: cb-test-agent not SCHED_FIFO "
                                 "(not root): its receive times may "
                                 "lag on a busy host\n")
            r = self.gw.request("trunks.put", trunk={
                "id": "relay", "kind": "byoc",
                "inbound": {"allowed_sources": ["127.0.0.0/8"]}})
            assert r.get("ok"), r
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        """Stops the agent and the daemon (SIGTERM: a sanitizer report or
        an unclean exit fails the test), removes the temporary files."""
        try:
            rc = self.agent.stop() if self.agent else 0
            grc = self.gw.stop() if self.gw.alive() else 0
        finally:
            self.gw.__exit__(exc_type, exc, tb)
            if os.environ.get("CB_KEEP_TMP"):
                sys.stderr.write("impair: kept %s\n" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        if exc_type is None:
            if rc != 0:
                raise AssertionError("cb-test-agent exited with %r: %s"
                                     % (rc, self.agent.stderr[-2000:]))
            if grc != 0:
                raise AssertionError("callbridge exited with %r" % grc)
        return False

    def add_number(self, number, codecs=(), audio=None):
        """A number answered by the recording agent in the given format."""
        agent_id = "rec-" + number.lstrip("+")
        r = self.gw.request("agents.put", agent={
            "id": agent_id, "url": self.agent.url("/record"),
            "protocol": "twilio",
            "audio": audio or {"encoding": "mulaw", "sample_rate": 8000}})
        assert r.get("ok"), r
        r = self.gw.request("numbers.put", number={
            "number": number, "friendly_name": "impairment " + number,
            "trunk_id": "relay", "inbound_agent_id": agent_id,
            "codecs": list(codecs)})
        assert r.get("ok"), r

    def call(self, number, src, relay, lead_ms=300, tail_ms=600):
        """One call: SIPp plays src through a relay with the schedule
        relay (relay.Schedule keys), pauses tail_ms and hangs up. Returns
        the Call once it has ended everywhere."""
        offer = {"PCMU": PCMU_OFFER, "PCMA": PCMA_OFFER,
                 "opus": OPUS_OFFER}[src.codec]
        self.ncalls += 1
        d = os.path.join(self.tmp, "call%d" % self.ncalls)
        os.makedirs(d)
        log = os.path.join(d, "relay.jsonl")
        scen = os.path.join(d, "call.xml")
        with open(scen, "w") as f:
            f.write(SCENARIO % {"number": number, "offer": _indent(offer),
                                "pcap": src.pcap, "lead": lead_ms,
                                "pause": int(src.span_s * 1000) + tail_ms})
        timeout = int(src.span_s + 30)
        before = set(self.agent.rec.names())
        with relaymod.RelayProcess("127.0.0.1:%d" % self.gw.sip_port, log,
                                   max_seconds=timeout + 30,
                                   **relay) as rl:
            proc = subprocess.Popen(
                [self.sipp, "-sf", scen, "-m", "1", "-i", "127.0.0.1",
                 "-p", str(cbtest.free_port()), "-mi", "127.0.0.1",
                 "-mp", str(sipp.free_media_port()), "-nostdin", "-timeout", "%ds" % timeout, "-timeout_error",
                 "-trace_err", "-error_file", os.path.join(d, "err.log"),
                 "127.0.0.1:%d" % rl.sip_port],
                cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                _, err = proc.communicate(timeout=timeout + 10)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                rc = "timeout"
            err = err.decode(errors="replace")
            rl.stop()
            records = rl.records()
        if os.path.exists(os.path.join(d, "err.log")):
            with open(os.path.join(d, "err.log"), errors="replace") as f:
                err += f.read()
        if rc != 0:
            raise AssertionError("SIPp exit status %r: %s" % (rc, err[-3000:]))
        conn = self.agent.rec.wait_closed(
            1, timeout=15, where=lambda c: c.name not in before)[0]
        sid = ((conn.start or {}).get("start") or {}).get("callSid")
        entry = {}
        for _ in range(100):                 # bounded: about 5 s
            rep = self.gw.request("calls.get", call_sid=sid)
            if rep.get("ok") and rep["call"].get("state") == "ended":
                entry = rep["call"]
                break
            time.sleep(0.05)
        if not entry:
            raise AssertionError("call %s not ended in calls.get: %r"
                                 % (sid, rep))
        return Call(number, src, records, entry, conn, rc, err)


# ---- what each agent frame is ---------------------------------------------

class Slot:
    """One agent frame, identified."""

    __slots__ = ("kind", "seq")

    def __init__(self, kind, seq=None):
        self.kind = kind           # frame, xfade, fec, conceal, silence
        self.seq = seq             # the packet it comes from, if any

    @property
    def played(self):
        """Decoded from its own packet (in time)."""
        return self.kind in ("frame", "xfade")

    def __repr__(self):
        return "%s%s" % (self.kind, "" if self.seq is None else self.seq)


def classify_g711(call):
    """Slots of a PCMU/PCMA call to a µ-law 8 kHz agent."""
    src = call.src
    full, tail = {}, {}
    for seq, p in src.payload.items():
        if src.codec == "PCMU":
            u = p
        else:
            # a whole good packet: G.711 Table 4; after a loss the frame
            # is decoded, cross-faded and encoded again
            u = g711.alaw_to_ulaw(p)
            tail[g711.ulaw_encode(g711.alaw_decode(p))[80:]] = seq
        full[u] = seq
        tail[u[80:]] = seq
    silence = bytes([g711.ULAW_SILENCE]) * 160
    out = []
    for f in call.frames:
        if f.data in full:
            out.append(Slot("frame", full[f.data]))
        elif len(f.data) == 160 and f.data[80:] in tail:
            out.append(Slot("xfade", tail[f.data[80:]]))
        elif f.data == silence:
            out.append(Slot("silence"))
        else:
            out.append(Slot("conceal"))
    return out


class OpusRef:
    """libopus through ctypes: a mono decoder whose state can be tried on a
    copy and kept or thrown away."""

    MAX = 5760

    def __init__(self, rate):
        name = ctypes.util.find_library("opus")
        if not name:
            raise RuntimeError("libopus not found")
        lib = ctypes.CDLL(name)
        lib.opus_decoder_get_size.argtypes = [ctypes.c_int]
        lib.opus_decoder_init.argtypes = [ctypes.c_void_p, ctypes.c_int32,
                                          ctypes.c_int]
        lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                    ctypes.c_int32,
                                    ctypes.POINTER(ctypes.c_int16),
                                    ctypes.c_int, ctypes.c_int]
        self.lib = lib
        self.size = lib.opus_decoder_get_size(1)
        self.state = ctypes.create_string_buffer(self.size)
        self.trial = ctypes.create_string_buffer(self.size)
        if lib.opus_decoder_init(self.state, rate, 1) != 0:
            raise RuntimeError("opus_decoder_init failed at %d Hz" % rate)
        self.pcm = (ctypes.c_int16 * self.MAX)()
        self.slot = rate // 50

    def attempt(self, payload=None, fec=False):
        """Decode on a copy of the state: a packet, FEC from a packet, or
        PLC (payload None). Returns the PCM as 16-bit LE bytes."""
        ctypes.memmove(self.trial, self.state, self.size)
        if payload is None:
            n = self.lib.opus_decode(self.trial, None, 0, self.pcm,
                                     self.slot, 0)
        elif fec:
            n = self.lib.opus_decode(self.trial, payload, len(payload),
                                     self.pcm, self.slot, 1)
        else:
            n = self.lib.opus_decode(self.trial, payload, len(payload),
                                     self.pcm, self.MAX, 0)
        return ctypes.string_at(self.pcm, 2 * n) if n > 0 else b""

    def keep(self):
        """The last attempt becomes the state."""
        ctypes.memmove(self.state, self.trial, self.size)


def classify_opus(call, ahead=8):
    """Slots of an Opus call to an l16 agent at the decoder's rate (a rate
    libopus decodes at: no resampling). A frame nothing reproduces is
    "unknown" (the decoder state is left as it was)."""
    src = call.src
    ref = OpusRef(src.rate)
    pay = src.payload
    last = src.first_seq - 1
    quiet = 0        # slots in a row not decoded from a packet
    out = []
    for f in call.frames:
        slot = None
        for seq in range(last + 1, last + 1 + ahead):
            if seq in pay and ref.attempt(pay[seq]) == f.data:
                slot = Slot("frame", seq)
                break
        if slot is None:
            for seq in range(last + 1, last + 1 + ahead):
                if seq + 1 in pay and \
                        ref.attempt(pay[seq + 1], fec=True) == f.data:
                    slot = Slot("fec", seq)
                    break
        if slot is None and ref.attempt(None) == f.data:
            slot = Slot("conceal")
        if slot is None and quiet >= 3 and not any(f.data):
            # past 60 ms of silence the gateway plays zeros instead of
            # running the decoder's PLC: the decoder state stays
            out.append(Slot("silence"))
            quiet += 1
            continue
        if slot is None:
            out.append(Slot("unknown"))
            continue
        ref.keep()
        if slot.seq is not None:
            last = slot.seq
        quiet = 0 if slot.kind in ("frame", "fec") else quiet + 1
        out.append(slot)
    return out


# ---- checks: each returns a list of problems (empty: passed) --------------

def check_stream(call, media_format=None):
    """The agent's stream: well-formed Twilio messages, chunk continuous
    from 1, media.timestamp advancing by exactly 20 ms."""
    p = agentlog.check_twilio_stream(call.conn, media_format=media_format)
    fr = call.frames
    if not fr:
        return p + ["no media"]
    chunks = [f.chunk for f in fr]
    if chunks != list(range(1, len(fr) + 1)):
        p.append("chunks not 1..%d in order" % len(fr))
    ts = [f.ts for f in fr]
    bad = [k for k in range(1, len(ts)) if ts[k] != ts[k - 1] + FRAME_MS]
    if bad:
        p.append("timestamp steps not 20 ms at chunks %s" % bad[:10])
    return p


def grid_lag(times):
    """Each time's lag behind the earliest-anchored 20 ms grid [ms]."""
    if not times:
        return []
    g = [t - k * FRAME_MS / 1000.0 for k, t in enumerate(times)]
    m = min(g)
    return [(x - m) * 1000.0 for x in g]


def stalls(call):
    """How long processes on this host were held up during the call [ms],
    from three witnesses that do not involve the agent stream:
      relay    the relay's lateness in sending a packet that was due
      carrier  SIPp's pacing: its packets' arrival lag behind their grid
      gateway  callbridge's own 20 ms RTP tick (same worker thread as the
               agent's frames): its packets' arrival lag behind their grid
    """
    rtp = [r["t"] for r in call.records if r["ev"] == "rtp"]
    back = [r["t"] for r in call.records if r["ev"] == "back"]
    return {"relay": call.relay_stats.get("lag_max_ms", 0.0),
            "carrier": max(grid_lag(rtp) or [0.0]),
            "gateway": max(grid_lag(back) or [0.0])}


def check_pacing(call, metrics):
    """50 frames per second with no gap and no burst.

    Count: the agent's timeline starts when the first packet arrives (the
    jitter buffer's first slot is due then) and ends when the gateway has
    taken the BYE: between the relay forwarding the BYE and forwarding the
    gateway's 200 OK to it. The frames must number that time in 20 ms,
    within 2 (more if the host stalled: see below).

    Burst: a frame's lag behind the 20 ms grid anchored at the earliest
    frames must stay below STALL_BOUND_MS plus the longest stall a
    witness saw during the call (stalls()). Frames are emitted on the
    worker's 20 ms slot clock, so a frame only lags while something holds
    it up, and the frames that follow catch up in a burst no longer than
    that. A healthy gateway's frames lag by the jitter buffer's grace (a
    concealed slot waits 5 ms for its packet) plus scheduling noise: 6-8
    ms here. STALL_BOUND_MS (one frame) is what no witness explains; it is
    not a speed: a gateway that emits slots as packets come (40 ms early
    at most: 46 ms of lag, tried) or whose slot clock drifts (lag grows
    without end) exceeds it on a quiet host, and the relay's deliveries
    lag their own grid by far more (checked by the tests)."""
    p = []
    fr = call.frames
    dl = call.expected["delivered"]
    t_bye = call.sip_time("BYE ")
    t_ok = next((r["t"] for r in call.records if r["ev"] == "sip" and
                 r["dir"] == "g2c" and r["line"].startswith("SIP/2.0 200")
                 and r["t"] > (t_bye or 0)), None)
    if not fr or not dl or t_bye is None or t_ok is None:
        return ["no frames, deliveries, BYE or its 200 OK"]
    st = stalls(call)
    stall = max(st.values())
    metrics["stalls_ms"] = {k: round(v, 1) for k, v in st.items()}
    tol = 2 + stall / FRAME_MS
    lo = (t_bye - dl[0]["t"]) * 1000.0 / FRAME_MS - tol
    hi = (t_ok - dl[0]["t"]) * 1000.0 / FRAME_MS + tol
    metrics["frames"] = len(fr)
    metrics["frames_expected"] = (round(lo + tol, 1), round(hi - tol, 1))
    if not lo <= len(fr) <= hi:
        p.append("%d frames for %.1f..%.1f frames of call time (first "
                 "delivery to BYE and its 200 OK, with %.1f frames of "
                 "tolerance)" % (len(fr), lo + tol, hi - tol, tol))
    lag = grid_lag([f.t for f in fr])
    metrics["lag_max_ms"] = round(max(lag), 2)
    bound = STALL_BOUND_MS + stall
    if max(lag) > bound:
        k = lag.index(max(lag))
        p.append("frame %d arrived %.1f ms behind the 20 ms grid (bound "
                 "%d ms + %.1f ms of stalls seen: %s)"
                 % (k + 1, max(lag), STALL_BOUND_MS, stall, st))
    return p


def input_lag_ms(call):
    """How far the relay's first deliveries lag their own 20 ms grid
    (indexed by sequence number) at most [ms]."""
    first = call.expected["first"]
    if not first:
        return 0.0
    s0 = min(first)
    g = [d["t"] - (s - s0) * FRAME_MS / 1000.0 for s, d in first.items()]
    return (max(g) - min(g)) * 1000.0


def check_slots(call, slots, metrics):
    """The frames against what the relay delivered and the statistics.

      - every frame is identified, its packets in increasing order;
      - a cross-faded (G.711) frame follows a concealed one;
      - nothing before the first packet's frame;
      - concealed = the concealed/FEC frames between the first and the
        last decoded frame, plus those after it (the stream's end) up to
        SILENCE_AFTER: that many slots of an unexplained gap are concealed
        before it becomes silence (exact, but for a gap longer than that
        between two decoded frames, whose later slots may be silence or
        concealment that has faded out: then a range);
      - the packets not decoded are exactly those the relay dropped,
        stats.late others (delivered after their slot) and stats.dropped
        (the buffer's own discards), and it discards none unless a
        witness saw the host stall DROP_STALL_MS or more: after a stall
        (the gateway's worker, the relay or SIPp held up 100-400 ms by
        other processes; seen under stress-ng --cpu 2), the packets
        queued meanwhile come at once, far above the buffer's target,
        and it skips media to come back down or discards what no longer
        fits, counted;
      - a packet is decoded only after the relay sent it (causality)."""
    p = []
    st = call.stats
    unknown = [k for k, s in enumerate(slots) if s.kind == "unknown"]
    if unknown:
        p.append("%d frames match no packet, FEC or PLC (first at chunk "
                 "%d)" % (len(unknown), unknown[0] + 1))
    seqs = [s.seq for s in slots if s.seq is not None]
    if any(b <= a for a, b in zip(seqs, seqs[1:])):
        p.append("packets out of order or repeated in the agent's stream")
    played = [k for k, s in enumerate(slots) if s.played]
    if not played:
        return p + ["no frame decoded from a packet"]
    a, b = played[0], played[-1]
    if a != 0:
        p.append("%d frames before the first packet's" % a)
    for k in range(1, len(slots)):
        if slots[k].kind == "xfade" and slots[k - 1].played:
            p.append("cross-faded frame at chunk %d without a loss before"
                     % (k + 1))
    inner = slots[a:b + 1]
    tail = slots[b + 1:]
    # concealed slots between the first and the last decoded frame: each
    # gap (a run of frames not decoded from their packet) is concealed for
    # at least its first SILENCE_AFTER slots (all of it when the packet
    # after it is already here), the rest may be silence; a G.711
    # concealed frame that is not silent is a concealed slot for sure
    lo = hi = 0
    run = []
    for s in inner + [Slot("frame")]:
        if not s.played:
            run.append(s)
            continue
        if run:
            # Opus PLC and silence look alike; G.711 silence is exact
            sure = sum(1 for r in run if r.kind == "fec" or
                       (r.kind == "conceal" and call.src.codec != "opus"))
            lo += max(sure, min(len(run), SILENCE_AFTER))
            hi += len(run)
            run = []
    if call.src.codec == "opus":
        n_tail = min(SILENCE_AFTER, len(tail))   # PLC either way
    else:
        n_tail = sum(1 for s in tail if s.kind == "conceal")
        if n_tail != min(SILENCE_AFTER, len(tail)) or \
                any(s.kind != "silence" for s in tail[n_tail:]):
            p.append("stream end: %s, want %d concealed then silence"
                     % (tail[:6], SILENCE_AFTER))
    metrics["concealed_inner"] = (lo, hi)
    metrics["concealed_tail"] = n_tail
    metrics["fec"] = sum(1 for s in slots if s.kind == "fec")
    c = st.get("concealed")
    if not isinstance(c, int) or not lo + n_tail <= c <= hi + n_tail:
        p.append("stats concealed %r, the agent got %s concealed frames "
                 "(%d..%d between decoded frames, %d at the end)"
                 % (c, lo + n_tail if lo == hi else "%d..%d"
                    % (lo + n_tail, hi + n_tail), lo, hi, n_tail))

    exp = call.expected
    first = exp["first"]
    played_seqs = {slots[k].seq for k in played}
    dropped = set(exp["dropped_seqs"])
    not_played = set(first) - played_seqs
    if played_seqs & dropped:
        p.append("packets the relay dropped were decoded: %s"
                 % sorted(played_seqs & dropped)[:10])
    metrics["late_by_agent"] = len(not_played)
    late, dropped = st.get("late"), st.get("dropped")
    if not isinstance(late, int) or not isinstance(dropped, int) or \
            late + dropped != len(not_played):
        p.append("stats late %r and dropped %r, but %d delivered packets "
                 "were not played (%s)" % (late, dropped, len(not_played),
                                           sorted(not_played)[:10]))
    held_up = max(stalls(call).values())
    if dropped and held_up < DROP_STALL_MS:
        p.append("stats dropped %r, with no stall of the host over %d ms "
                 "seen (%.1f ms)" % (dropped, DROP_STALL_MS, held_up))
    for k in played:
        s = slots[k]
        d = first.get(s.seq)
        if d is None or d["t"] >= call.frames[k].t:
            p.append("chunk %d holds packet %d before the relay sent it"
                     % (k + 1, s.seq))
            break
    return p


def check_decoder(call, metrics):
    """stats.decoder, the transcoder's counts: one slot per frame the
    agent got (passed through, decoded or concealed); FEC exactly the
    frames check_slots() found recovered by FEC (none for G.711); no
    decode error on a stream of good packets. After check_slots()."""
    p = []
    dec = (call.entry.get("stats") or {}).get("decoder") or {}
    slots = sum(dec.get(k, 0) for k in ("passthrough", "decoded",
                                        "concealed"))
    if slots != len(call.frames):
        p.append("stats.decoder %r: %d slots, but the agent got %d frames"
                 % (dec, slots, len(call.frames)))
    if dec.get("fec") != metrics.get("fec", 0):
        p.append("stats.decoder.fec %r, the agent got %d FEC frames"
                 % (dec.get("fec"), metrics.get("fec", 0)))
    if dec.get("decode_errors") != 0:
        p.append("stats.decoder.decode_errors %r on good packets"
                 % dec.get("decode_errors"))
    return p


def check_counters(call):
    """received, duplicate, lost, reordered: exactly what the relay
    did (relay.expected_jb())."""
    p = []
    for k in ("received", "duplicate", "lost", "reordered"):
        if call.stats.get(k) != call.expected[k]:
            p.append("stats %s %r, the relay did %d"
                     % (k, call.stats.get(k), call.expected[k]))
    return p


def latency_ms(call, slots):
    """For every decoded frame: the agent's receive time minus the relay's
    first delivery of its packet [ms], sorted."""
    first = call.expected["first"]
    out = []
    for f, s in zip(call.frames, slots):
        if s.played and s.seq in first:
            out.append((f.t - first[s.seq]["t"]) * 1000.0)
    return sorted(out)


def pct(xs, q):
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(q / 100.0 * len(xs)))]


def snr_db(out, ref):
    e = sum((a - b) ** 2 for a, b in zip(out, ref))
    s = sum(b * b for b in ref)
    if not s:
        return float("nan")
    return 99.0 if not e else 10 * math.log10(s / e)


def frame_pcm(call, k):
    """Agent frame k as samples (µ-law decoded, or l16)."""
    d = call.frames[k].data
    if call.src.codec == "opus":
        return list(struct.unpack("<%dh" % (len(d) // 2), d))
    return g711.ulaw_decode(d)


def summary(name, call, metrics, slots):
    """One line of figures for the test log."""
    lat = latency_ms(call, slots)
    st = call.stats
    return ("%s: %d frames; relay: %d in, %d delivered, lag max %.2f ms; "
            "jb: received %s lost %s late %s dup %s reordered %s "
            "dropped %s skipped %s inserted %s "
            "concealed %s target %s ms depth max %s ms jitter %s ms; "
            "latency relay->agent min %.2f median %.2f p95 %.2f max %.2f "
            "ms; agent lag behind grid max %.2f ms; stalls seen %s"
            % (name, len(call.frames), call.relay_stats.get("rtp_in", 0),
               call.relay_stats.get("rtp_out", 0),
               call.relay_stats.get("lag_max_ms", 0), st.get("received"),
               st.get("lost"), st.get("late"), st.get("duplicate"),
               st.get("reordered"), st.get("dropped"), st.get("skipped"),
               st.get("inserted"), st.get("concealed"),
               st.get("target_ms"), st.get("depth_max_ms"),
               st.get("jitter_ms"), pct(lat, 0), pct(lat, 50),
               pct(lat, 95), lat[-1] if lat else float("nan"),
               metrics.get("lag_max_ms", float("nan")),
               metrics.get("stalls_ms")))


def input_lateness_ms(call):
    """How far the relay's first deliveries fell behind the schedule of the
    first packet (t0 + 20 ms per sequence number) at most [ms]."""
    first = call.expected["first"]
    if not first:
        return 0.0
    s0 = min(first)
    t0 = first[s0]["t"]
    return max(((d["t"] - t0) - (s - s0) * FRAME_MS / 1000.0) * 1000.0
               for s, d in first.items())


def input_clean(call):
    """Whether every packet reached the gateway on the first packet's 20 ms
    schedule within what the jitter buffer waits on clean input: only then
    must a clean call conceal nothing. The buffer anchors its first slot
    up to half its grace before the first packet's arrival and waits the
    grace for a missing packet, so a packet is sure to be in time when it
    lags the first one's schedule by less than half the grace (minus
    0.5 ms for the way through loopback and the gateway)."""
    return input_lateness_ms(call) < GRACE_MS / 2.0 - 0.5
