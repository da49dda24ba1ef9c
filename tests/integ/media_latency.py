#!/usr/bin/env python3
"""Measure (not a test): how long the gateway holds clean audio.

  CB_BIN_DIR=build/gateway python3 tests/integ/media_latency.py
      [--seconds 10] [--codec pcmu|opus|both] [--calls 1]

One call per codec from SIPp (a clean pcap, loopback, no impairment) to a
recording agent on the gateway's default jitter buffer settings. For each
RTP packet the kernel's receive time at the gateway's RTP port is taken
(rtpsniff.Sniffer, SO_TIMESTAMPNS), and the time cb-test-agent read the
20 ms frame that carries that packet's audio (frames are identified by
content: PCMU is passed through byte for byte; Opus frames are libopus's
own decoding of each packet at the agent's rate, which the gateway
matches exactly). The difference is everything the gateway adds between
the socket and the agent's socket: the jitter buffer's wait, decoding and
the WebSocket write; on loopback the last two take well under a
millisecond, so what is left is the jitter buffer.

Prints per codec: frames matched, latency median / 95th percentile /
maximum [ms], and the call's jitter buffer statistics (target, maximum
depth, concealed, jitter). Needs root (SIPp's play_pcap_audio and the
sniffer).
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))

import callenv  # noqa: E402
import gensig  # noqa: E402
import media_harness as mh  # noqa: E402
import mkpcap  # noqa: E402


def measure(env, codec, seconds, n):
    aid = "lat-%s-%d" % (codec, n)
    number = "+1415555%04d" % (9000 + n)
    env.agent(aid, "/record")
    env.number(number, aid)
    if codec == "pcmu":
        sig = gensig.generate("frames", "ulaw", seconds, seed=60 + n)
        src = mh.Source(mkpcap.build(sig, law="ulaw"), None, 8000, "ulaw")
        frames = [sig[i:i + 160] for i in range(0, len(sig) - 159, 160)]
        keys = {"fmt": "0"}
    else:
        src = mh.Source.speech_opus(seconds, seed=60 + n)
        ref = mh.Source.decode(src, 8000)
        ul = bytes(mh.g711.encode("ulaw", mh.g711.from_pcm16le(ref)))
        frames = [ul[i:i + 160] for i in range(0, len(ul) - 159, 160)]
        keys = {"fmt": "111"}
    call = mh.MediaCall(env, "media_call.xml", number, aid, keys=keys,
                        files={"call.pcap": src}, sniff=False,
                        sets={"lead": 600, "hold": int(seconds * 1000)
                              + 600})
    call.start()
    ok = call.sipp.wait_message(
        lambda m: m.dir == "recv" and m.code == 200 and
        m.cseq_method == "INVITE", 10, "the 200 OK")
    port = mh.parse_sdp(ok.body)["port"]
    with mh.rtpsniff.Sniffer(port) as sn:
        res = call.wait()
        pkts = sn.rtp()
    if res.rc != 0:
        raise AssertionError(res.summary())
    conn = env.conn(aid)
    rec = env.call_record(conn)

    arrival = {}
    for k, p in enumerate(pkts):
        arrival.setdefault(k, p.t)
    index = {}
    for k, f in enumerate(frames):
        index.setdefault(f, k)
    lat = []
    for t_us, data in mh.inbound_frames(conn):
        if codec == "opus" and len(data) != 160:
            continue
        k = index.get(data)
        if k is None or k not in arrival or len(set(data)) < 3:
            continue
        lat.append((t_us / 1e6 - arrival[k]) * 1000)
    return lat, rec["stats"]["jitter_buffer"], len(pkts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--codec", choices=("pcmu", "opus", "both"),
                    default="both")
    ap.add_argument("--calls", type=int, default=1)
    a = ap.parse_args()
    callenv.isolate()
    env = mh.MediaEnv(agent_seconds=1.0)
    try:
        for codec in (("pcmu", "opus") if a.codec == "both" else
                      (a.codec,)):
            for n in range(a.calls):
                lat, jb, npk = measure(env, codec, a.seconds, n)
                lat.sort()
                if not lat:
                    print("%s: no frame matched" % codec)
                    continue
                print("%-5s %d packets, %d frames matched: latency median "
                      "%.2f ms, p95 %.2f ms, max %.2f ms, min %.2f ms; jb "
                      "target %s ms, depth max %s ms, concealed %s, jitter "
                      "%.2f ms"
                      % (codec, npk, len(lat), statistics.median(lat),
                         lat[int(0.95 * (len(lat) - 1))], lat[-1], lat[0],
                         jb["target_ms"], jb["depth_max_ms"],
                         jb["concealed"], jb["jitter_ms"]))
    finally:
        env.close(check=False)


if __name__ == "__main__":
    main()
