#!/usr/bin/env python3
"""How accurately relay.py delivers packets at their due time.

  relay_timing.py [--seconds 20] [--jitter 40] [--calls 1]

Runs relay.py as a subprocess between sockets standing in for the carrier
and the gateway (loopback), sets up --calls calls through it (INVITE/200 OK
with SDP), sends one 172-byte RTP packet per call every 20 ms for
--seconds, and reports from the relay's log how late each packet left
after its due time (the relay's lag: due = arrival + scheduled delay),
and how late it reached the stand-in gateway. A measurement, not a test.
"""

import argparse
import os
import select
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relay  # noqa: E402

SDP = ("v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio %d RTP/AVP 0\r\n")


def pct(xs, q):
    return xs[min(len(xs) - 1, int(q / 100.0 * len(xs)))] if xs else 0.0


def sip(method_or_code, call_id, port, body, vias=None):
    first = ("SIP/2.0 %d OK" % method_or_code if isinstance(
        method_or_code, int) else "%s sip:+1@127.0.0.1 SIP/2.0"
        % method_or_code)
    vias = vias or ["SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s"
                    % (port, call_id)]
    lines = [first] + ["Via: %s" % v for v in vias] + [
        "Call-ID: %s" % call_id, "CSeq: 1 INVITE",
        "Content-Type: application/sdp", "Content-Length: %d" % len(body)]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--jitter", type=float, default=40.0)
    ap.add_argument("--calls", type=int, default=1)
    a = ap.parse_args()

    def udp():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        return s

    gw_sip, car_sip = udp(), udp()
    tmp = tempfile.mkdtemp(prefix="cb-relay-timing-")
    log = os.path.join(tmp, "relay.jsonl")
    legs = []
    with relay.RelayProcess("127.0.0.1:%d" % gw_sip.getsockname()[1], log,
                            seed=1, jitter=a.jitter) as rl:
        raddr = ("127.0.0.1", rl.sip_port)
        for n in range(a.calls):
            car_rtp, gw_rtp = udp(), udp()
            cid = "t%d" % n
            car_sip.sendto(sip("INVITE", cid, car_sip.getsockname()[1],
                               SDP % car_rtp.getsockname()[1]), raddr)
            select.select([gw_sip], [], [], 5)
            inv, src = gw_sip.recvfrom(65536)
            vias = relay.SipMsg(inv).vias()
            gw_sip.sendto(sip(200, cid, 0, SDP % gw_rtp.getsockname()[1],
                              vias), src)
            select.select([car_sip], [], [], 5)
            ok, _ = car_sip.recvfrom(65536)
            _, (h, p, _) = relay.rewrite_sdp(relay.SipMsg(ok).body, "x", 1,
                                             2)
            legs.append((car_rtp, gw_rtp, (h, p)))
        t0 = time.monotonic()
        n = int(a.seconds * 50)
        got = []
        for k in range(n):
            due = t0 + k * 0.02
            while True:                      # bounded by due
                left = due - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([g for _, g, _ in legs], [], [],
                                        left)
                for g in r:
                    got.append(time.monotonic())
                    g.recv(2048)
            for car_rtp, _, dst in legs:
                car_rtp.sendto(struct.pack("!BBHII", 0x80, 0, k, 160 * k, 1)
                               + b"\xff" * 160, dst)
        end = time.monotonic() + a.jitter / 1000.0 + 0.5
        while time.monotonic() < end:
            r, _, _ = select.select([g for _, g, _ in legs], [], [], 0.05)
            for g in r:
                got.append(time.monotonic())
                g.recv(2048)
    recs = relay.read_log(log)
    lag = sorted((r["t"] - r["due"]) * 1000.0 for r in recs
                 if r["ev"] == "tx")
    print("relay.py, %d call(s), %d packets, jitter 0..%.0f ms: lag after "
          "due time [ms] median %.3f p99 %.3f p99.9 %.3f max %.3f "
          "(%d received by the gateway side)"
          % (a.calls, len(lag), a.jitter, pct(lag, 50), pct(lag, 99),
             pct(lag, 99.9), lag[-1] if lag else 0.0, len(got)))
    os.unlink(log)
    os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
