"""Shared parts of the media tests (test_media_*.py); no tests here.

Real parts only: the daemon (callenv.CallEnv, on the product's jitter
buffer defaults), SIPp as the carrier playing pcaps (tests/sipp/media_*.xml),
cb-test-agent as the agent playing a known speech-like signal, and the RTP
callbridge sends captured on loopback (rtpsniff.Sniffer on SIPp's media
port, or a UDP socket of the test that the SDP names).

    env = MediaEnv()                       # daemon + a speech agent
    env.agent("a16", "/script/play:all", protocol="raw",
              encoding="l16", rate=16000)
    env.number("+14155550301", "a16")
    src = Source.speech_g711("alaw", 3.0, seed=11)   # or .speech_opus()
    call = MediaCall(env, "media_call.xml", "+14155550301", "raw16",
                     keys={"fmt": "8 101"}, files={"call.pcap": src.pcap()},
                     sets={"lead": 200, "hold": 3600})
    res = call.run()                       # sipp.Result; call.rtp: packets
    conn = env.conn("a16")                 # the agent's recording
    r = compare(src.ref, src.rate, inbound_pcm(conn), 16000, at=8000)
    r["corr"], r["segsnr_db"], r["delay_ms"] ...

Signals come from tests/tools/sigcmp (the speech-like signal of sigq.c),
comparisons too (delay search, SNR, segmental SNR, correlation, LSD), and
Opus RTP is written by tests/tools/opus_pcap and read by
tests/tools/opus_dec: the C tools next to the gateway's build.
"""

import base64
import ipaddress
import json
import os
import shutil
import struct
import subprocess
import tempfile

import agentlog
import callenv
import cbtest
import g711
import mkpcap
import rtpsniff
import sipp

TOOLS_BIN = os.path.normpath(os.path.join(cbtest.BIN_DIR, "..", "tests",
                                          "tools"))
SIPP_PCAPS = "/usr/share/sip-tester"

# How closely audio must match its source, block by block (see compare()
# and test_media_formats.py for where the figures come from):
# (median block SNR [dB], a good block's SNR [dB], fraction of good
#  blocks, correlation over the blocks)
G711_MATCH = (30.0, 20.0, 0.85, 0.95)
OPUS_MATCH = (5.0, 3.0, 0.85, 0.85)

# keys every media_*.xml scenario takes, and their defaults
OFFER = {"fmt": "0", "opus_pt": 111, "opus_fmtp": "useinbandfec=1",
         "te48_pt": 102, "ptime": 20}


def tool(name):
    """Path of a tests/tools binary; fails clearly if it was not built."""
    path = os.path.join(TOOLS_BIN, name)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError("%s not built (looked in %s)"
                                % (name, TOOLS_BIN))
    return path


def run_tool(name, *args):
    p = subprocess.run([tool(name)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("%s %s failed (%d): %s"
                             % (name, " ".join(map(str, args)),
                                p.returncode, p.stderr))
    return p.stdout


def speech(seconds, rate=8000, seed=1, ulaw=False, level=-20):
    """The speech-like signal: 16-bit LE PCM at rate, or µ-law bytes."""
    with tempfile.TemporaryDirectory(prefix="cb-sig-") as d:
        out = os.path.join(d, "s.raw")
        args = ["gen", out, "--rate", rate, "--seconds", seconds,
                "--seed", seed, "--level", level]
        if ulaw:
            args.append("--ulaw")
        run_tool("sigcmp", *args)
        with open(out, "rb") as f:
            return f.read()


def compare(ref, ref_rate, test, test_rate, at=None, ulaw_ref=False,
            ulaw_test=False, max_delay_ms=3000, skip_ms=0, len_ms=None,
            good_db=20, drift_ms=100):
    """sigcmp cmp of two signals (bytes); returns its report (a dict:
    delay_ms, snr_db, segsnr_db, corr, lsd_db, gain_db, n, worst, and
    blocks: count, snr_median, snr_p10, good (fraction of blocks over
    good_db), corr, delays, shifts -- see tests/tools/sigcmp.c)."""
    with tempfile.TemporaryDirectory(prefix="cb-cmp-") as d:
        a, b = os.path.join(d, "ref"), os.path.join(d, "test")
        with open(a, "wb") as f:
            f.write(ref)
        with open(b, "wb") as f:
            f.write(test)
        args = ["cmp", a, ref_rate, b, test_rate, "--max-delay",
                max_delay_ms, "--skip", skip_ms, "--good", good_db,
                "--drift", drift_ms]
        if at:
            args += ["--at", at]
        if len_ms:
            args += ["--len", len_ms]
        if ulaw_ref:
            args.append("--ulaw-ref")
        if ulaw_test:
            args.append("--ulaw-test")
        return json.loads(run_tool("sigcmp", *args))


def match_problems(r, lim, min_blocks=15):
    """What keeps compare() report r from matching by lim (G711_MATCH or
    OPUS_MATCH), as a list of strings; empty: it matches."""
    b = r["blocks"]
    p = []
    if b["count"] < min_blocks:
        p.append("%d blocks with sound, want %d" % (b["count"], min_blocks))
    if b["snr_median"] <= lim[0]:
        p.append("median block SNR %.1f dB <= %.1f" % (b["snr_median"],
                                                        lim[0]))
    if b["good"] < lim[2]:
        p.append("%.0f %% of blocks over %.0f dB, want %.0f %%"
                 % (100 * b["good"], lim[1], 100 * lim[2]))
    if b["corr"] <= lim[3]:
        p.append("correlation %.4f <= %.2f" % (b["corr"], lim[3]))
    if abs(r["gain_db"]) > 1.5:
        p.append("gain %+.2f dB" % r["gain_db"])
    return p


def describe(r):
    """One line of a compare() report."""
    b = r["blocks"]
    return ("delay %.1f ms, corr %.4f, SNR %.2f dB, segSNR %.2f dB, gain "
            "%+.2f dB; blocks %d: median %.1f dB, p10 %.1f dB, good %.2f, "
            "corr %.4f, delays %s; worst %s"
            % (r["delay_ms"], r["corr"], r["snr_db"], r["segsnr_db"],
               r["gain_db"], b["count"], b["snr_median"], b["snr_p10"],
               b["good"], b["corr"], b["delays"][:6], r["worst"]))


def exact_runs(ref, test, delay, seg, slack=0):
    """Line test up behind ref by delay bytes (negative: ahead) and cut
    both into segments of seg bytes; returns (segments of ref compared,
    segments equal byte for byte, longest run of equal ones). With slack
    S a segment also counts as equal at up to S whole segments either
    side of delay (a jitter buffer that inserted or skipped packet times
    moved the rest of the stream by that much)."""
    total = equal = run = best = 0
    for k in range(0, len(ref) - seg + 1, seg):
        j = k + delay
        if j < 0 or j + seg > len(test):
            continue
        total += 1
        want = ref[k:k + seg]
        if any(0 <= j + s * seg and j + (s + 1) * seg <= len(test) and
               test[j + s * seg:j + (s + 1) * seg] == want
               for s in sorted(range(-slack, slack + 1), key=abs)):
            equal += 1
            run += 1
            best = max(best, run)
        else:
            run = 0
    return total, equal, best


def opus_exact(src, got, rate, ulaw=False):
    """Compare what an agent got from an Opus call with libopus's own
    decoding of the caller's packets at the agent's rate (then µ-law for
    a mulaw agent), 20 ms frame by frame; returns (frames compared,
    frames equal, longest run of equal frames, compare() report)."""
    ref = src.decode(rate)
    r = compare(ref, rate, got, rate, at=rate, drift_ms=0, ulaw_test=ulaw)
    bps = 2
    if ulaw:
        ref = bytes(g711.encode("ulaw", g711.from_pcm16le(ref)))
        bps = 1
    total, equal, best = exact_runs(ref, got, r["delay_samples"] * bps,
                                    rate // 50 * bps)
    return total, equal, best, r


def pcm(samples):
    """16-bit samples -> little-endian bytes (saturating)."""
    return struct.pack("<%dh" % len(samples),
                       *[max(-32768, min(32767, int(x))) for x in samples])


def g711_pcm(law, data):
    """G.711 bytes -> 16-bit LE PCM at 8 kHz."""
    return pcm(g711.decode(law, data))


def _frames(pkts, port=6000):
    """[(t, payload, ethernet frame)] of UDP payloads, for write_pcap."""
    lo = ipaddress.ip_address("127.0.0.1")
    return [(1700000000.0 + 0.02 * i, p, mkpcap._udp(lo, 40000, lo, port, p,
                                                     i & 0xFFFF))
            for i, p in enumerate(pkts)]


def opus_decode(payloads, rate=48000, pt=None):
    """Decode RTP datagrams (bytes, in arrival order) of Opus with
    opus_dec; returns (16-bit LE PCM at rate, opus_dec's report)."""
    with tempfile.TemporaryDirectory(prefix="cb-opus-") as d:
        pcap = os.path.join(d, "rtp.pcap")
        out = os.path.join(d, "out.raw")
        mkpcap.write_pcap(pcap, _frames(payloads))
        args = [pcap, out, "--rate", rate]
        if pt is not None:
            args += ["--pt", pt]
        rep = json.loads(run_tool("opus_dec", *args))
        with open(out, "rb") as f:
            return f.read(), rep


class Source:
    """What the carrier plays: a pcap and the audio it must decode to."""

    def __init__(self, packets, ref, rate, law=None):
        self.packets = packets      # mkpcap.build/read_pcap style tuples
        self.ref = ref              # 16-bit LE PCM the payload decodes to
        self.rate = rate
        self.law = law              # "ulaw", "alaw" or None (Opus)
        self.payload = None         # G.711: the payload bytes played

    @classmethod
    def speech_g711(cls, law, seconds, seed, ptime=20, ssrc=0x5EEC0011):
        ul = speech(seconds, 8000, seed, ulaw=True)
        data = ul if law == "ulaw" else g711.ulaw_to_alaw(ul)
        pk = mkpcap.build(data, law=law, ptime=ptime, ssrc=ssrc)
        src = cls(pk, g711_pcm(law, data), 8000, law)
        src.payload = data
        return src

    @classmethod
    def speech_opus(cls, seconds, seed, pt=111, extra=(), stereo=False):
        """Opus RTP of the 48 kHz speech-like signal (opus_pcap options in
        extra); stereo codes it in both channels (L = R = the signal)."""
        ref = speech(seconds, 48000, seed)
        with tempfile.TemporaryDirectory(prefix="cb-opsrc-") as d:
            raw = os.path.join(d, "s48.raw")
            pcap = os.path.join(d, "o.pcap")
            with open(raw, "wb") as f:
                if stereo:
                    f.write(b"".join(ref[i:i + 2] * 2
                                     for i in range(0, len(ref), 2)))
                else:
                    f.write(ref)
            run_tool("opus_pcap", raw, pcap, "--rate", 48000, "--pt", pt,
                     "--channels", 2 if stereo else 1, *extra)
            src = cls(None, ref, 48000)
            with open(pcap, "rb") as f:
                src._pcap = f.read()
            return src

    def corrupt_opus(self, every, first=10):
        """This Opus source with every `every`-th packet from the
        `first`-th on made malformed, at its own length: its TOC asks
        for code 3 and its frame count byte says 0 frames, which RFC 6716
        3.2.5 forbids (libopus: OPUS_INVALID_PACKET). Returns the RTP
        sequence numbers made malformed."""
        with tempfile.TemporaryDirectory(prefix="cb-opbad-") as d:
            pcap = os.path.join(d, "o.pcap")
            self.write(pcap)
            pkts = mkpcap.read_pcap(pcap)
        out, bad, k = [], [], 0
        for i, pk in enumerate(pkts):
            p = pk.payload
            r = mkpcap.parse_rtp(p)
            if r and len(r["payload"]) >= 2 and r["pt"] != 101:
                if k >= first and (k - first) % every == 0:
                    off = len(p) - len(r["payload"])
                    p = p[:off] + bytes([p[off] | 0x03, 0]) + p[off + 2:]
                    bad.append(r["seq"])
                k += 1
            out.append((pk.t, p, mkpcap._udp(pk.src, pk.sport, pk.dst,
                                             pk.dport, p, i)))
        self.packets = out
        return bad

    def decode(self, rate):
        """An Opus source decoded by libopus (opus_dec, mono) at rate:
        what a gateway that decodes at that rate must produce."""
        with tempfile.TemporaryDirectory(prefix="cb-opref-") as d:
            pcap = os.path.join(d, "o.pcap")
            out = os.path.join(d, "o.raw")
            self.write(pcap)
            run_tool("opus_dec", pcap, out, "--rate", rate)
            with open(out, "rb") as f:
                return f.read()

    def write(self, path):
        if self.packets is not None:
            mkpcap.write_pcap(path, self.packets)
        else:
            with open(path, "wb") as f:
                f.write(self._pcap)


class MediaEnv(callenv.CallEnv):
    """A CallEnv on the jitter buffer's product defaults, with one more
    cb-test-agent that plays the speech-like signal (µ-law, 8 kHz):
    env.speech, env.SPEECH (its index in env.agents)."""

    def __init__(self, settings=None, agent_seconds=3.0, agent_seed=77,
                 workers=2):
        s = {"jb_min_ms": 0, "jb_max_ms": 60}
        s.update(settings or {})
        super().__init__(settings=s, workers=workers, agents=0)
        try:
            self.speech = speech(agent_seconds, 8000, agent_seed, ulaw=True)
            path = os.path.join(self.tmp, "speech.ul")
            with open(path, "wb") as f:
                f.write(self.speech)
            d = os.path.join(self.tmp, "speech-agent")
            os.makedirs(d)
            self.SPEECH = len(self.agents)
            self.agents.append(agentlog.AgentProcess(directory=d,
                                                     signal=path))
            self.agent_signals.append(self.speech)
        except BaseException:
            self.close(check=False)
            raise

    def agent(self, agent_id, path="/", protocol="twilio",
              encoding="mulaw", rate=8000, **fields):
        """An agent on the speech agent with this script path; its
        connections carry ?agent=ID so that conn() finds them."""
        return super().agent(agent_id, "%s?agent=%s" % (path, agent_id),
                             which=self.SPEECH, protocol=protocol,
                             audio={"encoding": encoding,
                                    "sample_rate": rate}, **fields)

    def conns(self, agent_id):
        return self.agents[self.SPEECH].rec.conns(
            where=lambda c: c.query == "agent=" + agent_id)

    def conn(self, agent_id, timeout=15.0):
        """The one finished connection of an agent (waits, bounded)."""
        rec = self.agents[self.SPEECH].rec
        done = rec.wait_closed(1, timeout=timeout, where=lambda c:
                               c.query == "agent=" + agent_id)
        if len(done) != 1:
            raise AssertionError("agent %s: %d connections"
                                 % (agent_id, len(done)))
        return done[0]

    def call_record(self, conn, timeout=10.0):
        """calls.get of the agent's call, once it has ended."""
        sid = (conn.start or {}).get("start", {}).get("callSid")

        def ended():
            r = self.gw.request("calls.get", call_sid=sid)
            c = r.get("call") if r.get("ok") else None
            return c if c and c.get("state") == "ended" else None
        return cbtest.wait_for(ended, timeout, "call %s to end" % sid,
                               interval=0.05)


class MediaCall:
    """One SIPp call of a tests/sipp/media_*.xml scenario.

    keys override OFFER (fmt, opus_pt, opus_fmtp, te48_pt, ptime) and may
    set rtp_port (default: SIPp's media port); files maps names in SIPp's
    working directory to a Source, a path to copy, or bytes. With sniff,
    what callbridge sends to SIPp's media port is recorded (self.rtp:
    rtpsniff.Pkt list)."""

    def __init__(self, env, scenario, number, name, keys=None, sets=None,
                 files=None, sniff=True, timeout=60):
        self.env = env
        self.dir = env.workdir(name)
        for fname, what in (files or {}).items():
            dst = os.path.join(self.dir, fname)
            if isinstance(what, Source):
                what.write(dst)
            elif isinstance(what, (bytes, bytearray)):
                with open(dst, "wb") as f:
                    f.write(what)
            else:
                shutil.copyfile(what, dst)
        self.media_port = sipp.free_media_port()
        k = dict(OFFER)
        k["rtp_port"] = self.media_port
        k["number"] = number
        k.update(keys or {})
        self.keys = k
        self.sipp = env.sipp(scenario, self.dir, keys=k, sets=sets or {},
                             media_port=self.media_port, timeout=timeout)
        self.sniff = sniff
        self.sniffer = None
        self.result = None
        self.rtp = []

    def start(self):
        if self.sniff:
            self.sniffer = rtpsniff.Sniffer(self.media_port)
        self.sipp.start()
        return self

    def wait(self, timeout=None):
        try:
            self.result = self.sipp.wait(timeout)
        finally:
            if self.sniffer:
                self.sniffer.close()
                self.rtp = self.sniffer.rtp()
        return self.result

    def run(self, timeout=None):
        self.start()
        return self.wait(timeout)


def run_all(calls, timeout=None):
    """Start every MediaCall, then wait for each; returns the results."""
    for c in calls:
        c.start()
    out = []
    for c in calls:
        out.append(c.wait(timeout))
    return out


def parse_sdp(body):
    """The first m=audio section of an SDP body: port, formats, rtpmap and
    fmtp per payload type, other attributes, connection address."""
    sdp = {"port": None, "fmts": [], "rtpmap": {}, "fmtp": {}, "attrs": [],
           "c": None}
    in_audio = False
    for line in body.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if line.startswith("c=") and sdp["c"] is None:
            sdp["c"] = line[2:].split()[-1]
        if line.startswith("m="):
            if sdp["port"] is not None:
                break
            parts = line[2:].split()
            in_audio = parts[0] == "audio"
            if in_audio:
                sdp["port"] = int(parts[1])
                sdp["fmts"] = [int(p) for p in parts[3:]]
            continue
        if not in_audio or not line.startswith("a="):
            continue
        name, _, val = line[2:].partition(":")
        if name == "rtpmap":
            pt, _, enc = val.partition(" ")
            sdp["rtpmap"][int(pt)] = enc
        elif name == "fmtp":
            pt, _, params = val.partition(" ")
            sdp["fmtp"][int(pt)] = params
        else:
            sdp["attrs"].append(line[2:])
    return sdp


def answer_sdp(res):
    """The SDP of the 200 OK to the INVITE (parse_sdp), or None."""
    m = res.final_msg("INVITE")
    if m is None or m.code != 200 or not m.body.strip():
        return None
    return parse_sdp(m.body)


def inbound_frames(conn):
    """[(t_us, bytes)] of the audio frames the agent received: `media`
    payloads (twilio) or binary frames (raw)."""
    out = []
    for f in conn.received():
        if f.kind == "binary":
            out.append((f.t_us, f.data))
        elif f.event == "media":
            md = f.json.get("media") or {}
            out.append((f.t_us, base64.b64decode(md.get("payload", ""))))
    return out


def frame_problems(conn, frame_bytes):
    """Everything that is not exactly one frame of frame_bytes every
    20 ms: wrong sizes, and a count that does not match the time the
    frames span (50 a second, +-3 frames or 2 %).

    The agent's receive times come from user space, and a host that holds
    the agent up delays frames, never hastens them: frame i arrives at
    t0 + 20 ms * i + a delay >= 0. So the span is read from the least
    delayed frames at each end (the 10th percentile of t - 20 ms * i over
    the first and the last fifth): a late first frame does not shorten
    it, while a gateway sending 49 or 51 frames a second still drifts."""
    fr = inbound_frames(conn)
    p = []
    if len(fr) < 10:
        return ["only %d audio frames" % len(fr)]
    sizes = sorted({len(b) for _, b in fr})
    if sizes != [frame_bytes]:
        p.append("frame sizes %s, want %d" % (sizes[:5], frame_bytes))
    d = [t - 20000.0 * i for i, (t, _) in enumerate(fr)]
    k = max(5, len(d) // 5)

    def low(v):
        return sorted(v)[len(v) // 10]

    # the windows' middles are len - k frames apart: scaled to the span
    drift = (low(d[-k:]) - low(d[:k])) / 20000.0 * (len(d) - 1) / \
        (len(d) - k)
    if abs(drift) > max(3, 0.02 * len(fr)):
        p.append("%d frames over %.1f frame times: not 50 per second"
                 % (len(fr), len(fr) + drift))
    return p


def rtp_payloads(pkts, pt=None):
    """RTP payloads (bytes) of captured packets, optionally of one PT."""
    out = []
    for p in pkts:
        r = rtpsniff.parse_rtp(p.payload)
        if r and (pt is None or r["pt"] == pt):
            out.append(r["payload"])
    return out


def sipp_dtmf(digit):
    """Path of SIPp's RFC 4733 pcap of a digit (0-9, *, #)."""
    name = {"*": "star", "#": "pound"}.get(digit, digit)
    return os.path.join(SIPP_PCAPS, "dtmf_2833_%s.pcap" % name)
