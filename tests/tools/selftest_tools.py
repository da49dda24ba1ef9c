#!/usr/bin/env python3
"""Self-tests of the test tools: g711.py, gensig.py, mkpcap.py.

  selftest_tools.py            G.711 reference, signals, pcap parse-back
  selftest_tools.py --sipp     replay a generated pcap with SIPp's
                               play_pcap_audio against a loopback UDP peer
                               written here, and check every packet arrived
                               unchanged (exit 77 = skipped: no sipp or not
                               allowed to open raw sockets)

Exit status 0 when every check passed; each failure prints what differed.
"""

import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import g711  # noqa: E402
import gensig  # noqa: E402
import mkpcap  # noqa: E402

SKIP = 77
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


# ---- G.711 ------------------------------------------------------------

def test_g711():
    # decoder output values of G.711 Tables 1 and 2 at the ends
    cases = [(g711.ULAW_DEC[0x00], -32124), (g711.ULAW_DEC[0x80], 32124),
             (g711.ULAW_DEC[0xFF], 0), (g711.ULAW_DEC[0x7F], 0),
             (g711.ALAW_DEC[0xD5], 8), (g711.ALAW_DEC[0x55], -8),
             (g711.ALAW_DEC[0xAA], 32256), (g711.ALAW_DEC[0x2A], -32256)]
    for got, want in cases:
        check(got == want, "g711 decode: %d != %d" % (got, want))
    enc = [(g711.ulaw_encode_sample, 0, 0xFF),
           (g711.ulaw_encode_sample, -1, 0x7F),
           (g711.ulaw_encode_sample, 32767, 0x80),
           (g711.ulaw_encode_sample, -32768, 0x00),
           (g711.alaw_encode_sample, 0, 0xD5),
           (g711.alaw_encode_sample, -1, 0x55),
           (g711.alaw_encode_sample, 32767, 0xAA),
           (g711.alaw_encode_sample, -32768, 0x2A)]
    for f, x, want in enc:
        check(f(x) == want, "g711 %s(%d) = %#x, want %#x"
              % (f.__name__, x, f(x), want))
    # decode -> encode is the identity (except µ-law -0)
    for b in range(256):
        u = g711.ulaw_encode_sample(g711.ULAW_DEC[b])
        check(u == (0xFF if b == 0x7F else b), "ulaw round trip %#x" % b)
        a = g711.alaw_encode_sample(g711.ALAW_DEC[b])
        check(a == b, "alaw round trip %#x" % b)
    # encoding is monotonic in the decoded domain
    prev = None
    for x in range(-32768, 32768, 7):
        v = g711.ULAW_DEC[g711.ulaw_encode_sample(x)]
        check(prev is None or v >= prev, "ulaw not monotonic at %d" % x)
        prev = v
    # G.711 notes on double conversion (Tables 3 and 4): µ-A-µ raises µ
    # output value numbers 0, 2, ..., 14 by one; A-µ-A flips bit 8 of A
    # numbers 26, 28, 30, 32, 45, 47, 63, 80; all else is transparent
    def unum(b):               # µ-law value number 0..127 and sign
        return 127 - (b & 0x7F), b & 0x80

    for b in range(256):
        n, s = unum(b)
        n2, s2 = unum(g711.ALAW_TO_ULAW[g711.ULAW_TO_ALAW[b]])
        want = n + 1 if n in range(0, 15, 2) else n
        if b in (0x7F, 0xFF):              # both zeros
            continue
        check((n2, s2) == (want, s), "u-A-u of %#x: %d, want %d"
              % (b, n2, want))
    flip = {26, 28, 30, 32, 45, 47, 63, 80}
    for b in range(256):
        n = ((b ^ 0x55) & 0x7F) + 1           # A-law value numbers 1..128
        out = g711.ULAW_TO_ALAW[g711.ALAW_TO_ULAW[b]]
        check(out == (b ^ 1 if n in flip else b), "A-u-A of %#x" % b)


# ---- gensig -----------------------------------------------------------

def goertzel_power(pcm, rate, freq):
    w = 2 * 3.141592653589793 * freq / rate
    import math
    c = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in pcm:
        s1, s2 = x + c * s1 - s2, s1
    return s1 * s1 + s2 * s2 - c * s1 * s2


def test_gensig(tmp):
    out = os.path.join(tmp, "f.ul")
    check(gensig.main([out, "--seconds", "3", "--seed", "7"]) == 0,
          "gensig runs")
    data = open(out, "rb").read()
    check(len(data) == 24000, "3 s of µ-law is 24000 bytes")
    check(b"\x7f" not in data, "no µ-law -0 in a signal")
    frames = [data[i:i + 160] for i in range(0, len(data), 160)]
    check(len(set(frames)) == len(frames), "every frame is unique")
    check(data == gensig.generate("frames", "ulaw", 3, seed=7),
          "the same seed gives the same signal")
    check(data != gensig.generate("frames", "ulaw", 3, seed=8),
          "another seed gives another signal")
    alaw = gensig.generate("frames", "alaw", 1)
    check(len(alaw) == 8000, "1 s of A-law")

    import math
    pcm = g711.ulaw_decode(data)
    rms = math.sqrt(sum(x * x for x in pcm) / len(pcm))
    check(abs(20 * math.log10(rms / 32767) + 20) < 0.5,
          "frames at -20 dBFS RMS")

    sine = g711.ulaw_decode(gensig.generate("sine", "ulaw", 1, freq=1000,
                                            level=-6))
    p1k = goertzel_power(sine, 8000, 1000)
    check(p1k > 100 * goertzel_power(sine, 8000, 1300),
          "the sine is at 1 kHz")
    peak = max(abs(x) for x in sine)
    check(abs(20 * math.log10(peak / 32767) + 6) < 0.5, "sine peak -6 dBFS")
    l16 = gensig.generate("sine", "l16", 0.5, rate=16000, freq=1000)
    check(len(l16) == 16000, "0.5 s of l16 at 16 kHz is 16000 bytes")
    check(set(gensig.generate("silence", "ulaw", 0.1)) == {0xFF},
          "µ-law silence")
    check(set(gensig.generate("silence", "alaw", 0.1)) == {0xD5},
          "A-law silence")

    # steps: the dominant frequency of frame k is 300 + 20 k Hz
    steps = g711.ulaw_decode(gensig.generate("steps", "ulaw", 0.2,
                                             level=-6))
    for k in (0, 5, 9):
        fr = steps[k * 160:(k + 1) * 160]
        want = 300 + 20 * k
        check(goertzel_power(fr, 8000, want) >
              4 * goertzel_power(fr, 8000, want + 200),
              "steps frame %d at %d Hz" % (k, want))

    # check_frames: exact, with a gap, a duplicate, foreign data inside
    ref = gensig.generate("frames", "ulaw", 1, seed=3)
    f = [ref[i:i + 160] for i in range(0, len(ref), 160)]
    sil = b"\xff" * 160
    cases = [
        ("exact", sil * 3 + ref + sil, True, True),
        ("offset start", b"\xff" * 37 + ref, True, True),
        ("gap", b"".join(f[:10] + f[11:]), False, False),
        ("dup", b"".join(f[:10] + [f[9]] + f[10:]), False, False),
        ("foreign", b"".join(f[:10] + [sil] + f[10:]), False, False),
        ("tail missing", b"".join(f[:30]), False, True),
        ("corrupt byte", ref[:800] + b"\x00" + ref[801:], False, False),
    ]
    for name, recv, exact, contiguous in cases:
        r = gensig.check_frames(ref, recv)
        check(r.exact == exact and r.contiguous == contiguous,
              "check_frames %s: %s" % (name, r))
    check(gensig.check_frames(ref, sil * 10).matched == 0,
          "check_frames finds nothing in silence")


# ---- mkpcap -----------------------------------------------------------

def test_mkpcap(tmp):
    audio = gensig.generate("frames", "ulaw", 1.0, seed=5)   # 50 packets
    raw = os.path.join(tmp, "a.ul")
    open(raw, "wb").write(audio[:-40])            # last packet padded
    pcap = os.path.join(tmp, "a.pcap")
    check(mkpcap.main([raw, pcap, "--ssrc", "0x11223344", "--seq", "65530",
                       "--ts", "0xfffffe00", "--start", "1000.5"]) == 0,
          "mkpcap runs")
    pk = mkpcap.read_pcap(pcap)
    check(len(pk) == 50, "50 packets for 1 s (got %d)" % len(pk))
    hdr = open(pcap, "rb").read(24)
    check(struct.unpack("<IHHiIII", hdr)[6] == 1, "link type Ethernet")
    for i, p in enumerate(pk):
        r = p.rtp
        check(r is not None, "packet %d is RTP" % i)
        if r is None:
            continue
        check(r["pt"] == 0 and r["ssrc"] == 0x11223344, "pt/ssrc %d" % i)
        check(r["seq"] == (65530 + i) & 0xFFFF, "seq %d wraps" % i)
        check(r["ts"] == (0xFFFFFE00 + 160 * i) & 0xFFFFFFFF, "ts %d" % i)
        check(r["marker"] == (i == 0), "marker only on the first")
        want = audio[i * 160:(i + 1) * 160]
        if i == 49:
            want = audio[49 * 160:-40] + b"\xff" * 40
        check(r["payload"] == want, "payload %d" % i)
        check(abs(p.t - (1000.5 + 0.02 * i)) < 2e-6, "pcap time %d" % i)
        check(p.caplen == p.wirelen, "caplen == len")
        check((str(p.src), p.sport, str(p.dst), p.dport) ==
              ("127.0.0.1", 40000, "127.0.0.1", 6000), "addresses")
    # the checksums are valid
    data = open(pcap, "rb").read()
    frame = data[24 + 16:24 + 16 + pk[0].caplen]
    ip = frame[14:34]
    check(mkpcap._csum(ip) == 0, "IPv4 header checksum")
    udp = frame[34:]
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
    check(mkpcap._csum(pseudo + udp) == 0, "UDP checksum")

    # A-law, 30 ms, IPv6
    araw = os.path.join(tmp, "a.al")
    open(araw, "wb").write(gensig.generate("frames", "alaw", 0.6))
    pcap6 = os.path.join(tmp, "a6.pcap")
    mkpcap.main([araw, pcap6, "--law", "alaw", "--ptime", "30",
                 "--src", "[::1]:5000", "--dst", "[::1]:7000"])
    pk6 = mkpcap.read_pcap(pcap6)
    check(len(pk6) == 20, "0.6 s at 30 ms is 20 packets")
    check(all(p.rtp["pt"] == 8 and len(p.rtp["payload"]) == 240
              for p in pk6), "PCMA, 240 bytes")
    check(str(pk6[0].dst) == "::1" and pk6[0].dport == 7000, "IPv6")
    check(all(abs((b.t - a.t) - 0.03) < 2e-6 for a, b in zip(pk6, pk6[1:])),
          "30 ms spacing")

    # DTMF: 5 at 200 ms for 100 ms, # at 600 ms for 60 ms
    dpcap = os.path.join(tmp, "d.pcap")
    mkpcap.main([raw, dpcap, "--dtmf", "5@200+100", "--dtmf", "#@600+60",
                 "--start", "0"])
    pk = mkpcap.read_pcap(dpcap)
    ev = [(round(p.t * 1000), p.rtp) for p in pk if p.rtp["pt"] == 101]
    au = [(round(p.t * 1000), p.rtp) for p in pk if p.rtp["pt"] == 0]
    five = [(t, r) for t, r in ev if r["event"]["event"] == 5]
    pound = [(t, r) for t, r in ev if r["event"]["event"] == 11]
    check(len(five) == 5 + 3 and len(pound) == 3 + 3,
          "5 and 3 event packets plus 3 end packets each")
    check([t for t, _ in five] == list(range(200, 360, 20)),
          "event packets every 20 ms from 200 ms")
    check(all(r["ts"] == 200 * 8 for _, r in five), "event timestamp")
    check([r["event"]["duration"] for _, r in five] ==
          [160, 320, 480, 640, 800, 800, 800, 800], "growing duration")
    check([r["event"]["end"] for _, r in five] == [False] * 5 + [True] * 3,
          "three end packets")
    check([r["marker"] for _, r in five] == [True] + [False] * 7,
          "marker on the first event packet")
    check([r["event"]["duration"] for _, r in pound] == [160, 320, 480,
                                                        480, 480, 480],
          "60 ms event")
    check(not any(200 <= t < 360 or 600 <= t < 720 for t, _ in au),
          "audio suppressed during events")
    check(len(au) == 50 - 8 - 6, "the other slots carry audio")
    seqs = [p.rtp["seq"] for p in pk]
    check(seqs == list(range(1000, 1000 + len(pk))), "one sequence")
    check(all(r["ts"] == t * 8 for t, r in au), "audio ts follows time")
    check(all(r["payload"] == audio[t * 8:t * 8 + 160] for t, r in au
              if t < 980), "audio resumes at its time")

    keep = os.path.join(tmp, "k.pcap")
    mkpcap.main([raw, keep, "--dtmf", "1@100", "--dtmf-keep-audio"])
    pk = mkpcap.read_pcap(keep)
    check(sum(1 for p in pk if p.rtp["pt"] == 0) == 50,
          "--dtmf-keep-audio keeps all audio")
    check(sum(1 for p in pk if p.rtp["pt"] == 101) == 5 + 3,
          "100 ms event: 5 packets + 3 end")

    for bad in (["--dtmf", "X@100"], ["--dtmf", "5"], ["--ptime", "15"],
                ["--src", "::1:5", "--dst", "127.0.0.1:5"]):
        rc = subprocess.run([sys.executable, os.path.join(HERE, "mkpcap.py"),
                             raw, os.path.join(tmp, "bad.pcap")] + bad,
                            capture_output=True, timeout=30).returncode
        check(rc == 2, "mkpcap rejects %s (rc %d)" % (bad, rc))


# ---- SIPp replay ------------------------------------------------------

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="callbridge pcap replay check">
  <send retrans="500">
    <![CDATA[
      INVITE sip:check@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:check@[remote_ip]:[remote_port]>
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
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[
      ACK sip:check@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:check@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop><action><exec play_pcap_audio="%(pcap)s"/></action></nop>
  <pause milliseconds="%(pause)d"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:check@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:check@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


def sip_reply(req, code, reason, body=b"", extra=()):
    """A response copying Via, From, To (+tag), Call-ID, CSeq."""
    lines = req.split(b"\r\n")
    out = [b"SIP/2.0 %d %s" % (code, reason)]
    for line in lines[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"via", b"v", b"from", b"f", b"call-id", b"i",
                    b"cseq"):
            out.append(line)
        elif name in (b"to", b"t"):
            out.append(line if b";tag=" in line else line + b";tag=uas1")
    out += list(extra)
    out.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(out) + b"\r\n\r\n" + body


def test_sipp(tmp):
    sipp = shutil.which("sipp")
    if not sipp:
        print("sipp not installed: skipped")
        return SKIP
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW,
                      socket.IPPROTO_UDP).close()
    except PermissionError:
        print("no raw sockets (play_pcap_audio needs them): skipped")
        return SKIP

    audio = gensig.generate("frames", "ulaw", 1.0, seed=11)
    raw = os.path.join(tmp, "s.ul")
    open(raw, "wb").write(audio)
    pcap = os.path.join(tmp, "s.pcap")
    mkpcap.main([raw, pcap, "--dtmf", "7@400+60", "--ssrc", "0xabcdef01"])
    sent = mkpcap.read_pcap(pcap)
    scen = os.path.join(tmp, "replay.xml")
    open(scen, "w").write(SCENARIO % {"pcap": pcap, "pause": 1500})

    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rport = rtp.getsockname()[1]
    sdp = ("v=0\r\no=uas 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
           "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\n"
           "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
           % rport).encode()

    proc = subprocess.Popen(
        [sipp, "-sf", scen, "-m", "1", "-i", "127.0.0.1", "-p", "0",
         "-mi", "127.0.0.1", "-mp", "0", "-nostdin", "-timeout", "20s",
         "-timeout_error", "127.0.0.1:%d" % sip.getsockname()[1]],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    got, bye = [], False
    deadline = time.monotonic() + 25
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            r, _, _ = select.select([sip, rtp], [], [], 0.2)
            if rtp in r:
                data = rtp.recv(2048)
                got.append((time.monotonic(), data))
            if sip in r:
                msg, peer = sip.recvfrom(65536)
                if msg.startswith(b"INVITE "):
                    sip.sendto(sip_reply(
                        msg, 200, b"OK", sdp,
                        (b"Contact: <sip:uas@127.0.0.1:%d>"
                         % sip.getsockname()[1],
                         b"Content-Type: application/sdp")), peer)
                elif msg.startswith(b"BYE "):
                    bye = True
                    sip.sendto(sip_reply(msg, 200, b"OK"), peer)
        while True:                     # late packets already queued
            r, _, _ = select.select([rtp], [], [], 0.1)
            if not r:
                break
            got.append((time.monotonic(), rtp.recv(2048)))
        rc = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        sip.close()
        rtp.close()

    check(rc == 0, "sipp exit status %d: %s" % (rc, err[-500:]))
    check(bye, "sipp hung up with BYE")
    check(len(got) == len(sent), "received %d of %d packets"
          % (len(got), len(sent)))
    check([d for _, d in got] == [p.payload for p in sent],
          "every RTP packet arrived unchanged and in order")
    if len(got) == len(sent) and len(got) > 1:
        span = got[-1][0] - got[0][0]
        want = sent[-1].t - sent[0].t
        print("replay took %.3f s for %.3f s of pcap time" % (span, want))
    return 0


def main():
    tmp = tempfile.mkdtemp(prefix="cb-tools-")
    try:
        if "--sipp" in sys.argv[1:]:
            if test_sipp(tmp) == SKIP:
                return SKIP
        else:
            test_g711()
            test_gensig(tmp)
            test_mkpcap(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
