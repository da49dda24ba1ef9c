#!/usr/bin/env python3
"""SIPp replays what opus_pcap writes, packet for packet.

  selftest_opus_pcap.py --tool PATH/opus_pcap

Makes 16 kHz PCM (gensig.py), writes Opus RTP with opus_pcap (once with
DTX, once with FEC over IPv4), lets SIPp 3.6.1 place a call to a UDP
peer written here and play the pcap with play_pcap_audio, and checks
that every RTP packet arrived, unchanged and in order, paced like the
pcap. Exit 0 passed, 1 failed, 77 skipped (no sipp, or no raw sockets,
which play_pcap_audio needs).
"""

import argparse
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gensig  # noqa: E402
import mkpcap  # noqa: E402

SKIP = 77

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="opus pcap replay">
  <send retrans="500">
    <![CDATA[
      INVITE sip:opus@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:opus@[remote_ip]:[remote_port]>
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
      m=audio [media_port] RTP/AVP 111
      a=rtpmap:111 opus/48000/2
      a=fmtp:111 useinbandfec=1;usedtx=1
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[
      ACK sip:opus@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:opus@[remote_ip]:[remote_port]>[peer_tag_param]
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
      BYE sip:opus@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:opus@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


def reply(req, code, reason, body=b"", extra=()):
    """A SIP response copying Via, From, To (+tag), Call-ID, CSeq."""
    out = [b"SIP/2.0 %d %s" % (code, reason)]
    for line in req.split(b"\r\n")[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"via", b"v", b"from", b"f", b"call-id", b"i",
                    b"cseq"):
            out.append(line)
        elif name in (b"to", b"t"):
            out.append(line if b";tag=" in line else line + b";tag=op1")
    out += list(extra)
    out.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(out) + b"\r\n\r\n" + body


def replay(sipp, tmp, pcap, seconds):
    """Run one call that plays pcap; returns (rc, bye, [(t, payload)])."""
    scen = os.path.join(tmp, "opus.xml")
    with open(scen, "w") as f:
        f.write(SCENARIO % {"pcap": pcap, "pause": int(seconds * 1000)
                            + 500})
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    sdp = ("v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
           "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 111\r\n"
           "a=rtpmap:111 opus/48000/2\r\n" % rtp.getsockname()[1]).encode()
    proc = subprocess.Popen(
        [sipp, "-sf", scen, "-m", "1", "-i", "127.0.0.1", "-p", "0",
         "-mi", "127.0.0.1", "-mp", "0", "-nostdin", "-timeout", "30s",
         "-timeout_error", "127.0.0.1:%d" % sip.getsockname()[1]],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    got, bye = [], False
    deadline = time.monotonic() + seconds + 20
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            r, _, _ = select.select([sip, rtp], [], [], 0.2)
            if rtp in r:
                got.append((time.monotonic(), rtp.recv(2048)))
            if sip in r:
                msg, peer = sip.recvfrom(65536)
                if msg.startswith(b"INVITE "):
                    sip.sendto(reply(
                        msg, 200, b"OK", sdp,
                        (b"Contact: <sip:peer@127.0.0.1:%d>"
                         % sip.getsockname()[1],
                         b"Content-Type: application/sdp")), peer)
                elif msg.startswith(b"BYE "):
                    bye = True
                    sip.sendto(reply(msg, 200, b"OK"), peer)
        for _ in range(1000):            # packets already queued
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
    if rc:
        print(err[-800:], file=sys.stderr)
    return rc, bye, got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True, help="path of opus_pcap")
    a = ap.parse_args()

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

    failures = []
    tmp = tempfile.mkdtemp(prefix="cb-opus-sipp-")
    try:
        raw = os.path.join(tmp, "in.raw")
        pcm = gensig.generate("steps", "l16", 1.0, rate=16000) + \
            gensig.generate("silence", "l16", 0.6, rate=16000) + \
            gensig.generate("steps", "l16", 0.4, rate=16000)
        with open(raw, "wb") as f:
            f.write(pcm)
        for opts in (["--dtx"], ["--fec", "--bitrate", "24000"]):
            pcap = os.path.join(tmp, "opus.pcap")
            rc = subprocess.run([a.tool, raw, pcap, "--rate", "16000"]
                                + opts, timeout=60).returncode
            if rc:
                failures.append("opus_pcap %s: exit %d" % (opts, rc))
                continue
            sent = mkpcap.read_pcap(pcap)
            span = sent[-1].t - sent[0].t
            rc, bye, got = replay(sipp, tmp, pcap, span)
            what = " ".join(opts)
            if rc:
                failures.append("%s: sipp exit status %d" % (what, rc))
            if not bye:
                failures.append("%s: sipp did not hang up" % what)
            if [d for _, d in got] != [p.payload for p in sent]:
                failures.append("%s: received %d packets, sent %d, not "
                                "the same" % (what, len(got), len(sent)))
            elif len(got) > 1:
                took = got[-1][0] - got[0][0]
                print("%s: %d packets, replay took %.3f s for %.3f s of "
                      "pcap time" % (what, len(got), took, span))
                if abs(took - span) > 0.25:
                    failures.append("%s: paced %.3f s, not %.3f s"
                                    % (what, took, span))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    if failures:
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
