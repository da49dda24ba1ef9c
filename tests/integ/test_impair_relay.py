#!/usr/bin/env python3
"""Tests of the impairment relay itself (tests/tools/relay.py), on loopback
with sockets standing in for the carrier and the gateway: the seeded
schedule, SDP and Via rewriting, where media goes and comes from, the log
and the counters derived from it, bad input and the loop's bounds."""

import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import relay  # noqa: E402

OFFER = ("v=0\r\no=sipp 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
         "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n"
         "a=rtpmap:0 PCMU/8000\r\n")


def rtp(seq, ts=0, pt=0, payload=b"x" * 160):
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, ts, 0x1234) + \
        payload


def recv_all(sock, timeout=0.5, limit=10000):
    """Datagrams until the socket stays quiet for timeout (bounded)."""
    out = []
    for _ in range(limit):
        r, _, _ = select.select([sock], [], [], timeout)
        if not r:
            break
        data, src = sock.recvfrom(65536)
        out.append((time.monotonic(), data, src))
    return out


def sip_request(method, call_id, via_port, body=b"", mf=70):
    hdr = ["%s sip:+14155550100@127.0.0.1 SIP/2.0" % method,
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s-1"
           % (via_port, call_id),
           "From: <sip:a@127.0.0.1>;tag=1",
           "To: <sip:+14155550100@127.0.0.1>",
           "Call-ID: %s" % call_id, "CSeq: 1 %s" % method,
           "Max-Forwards: %d" % mf]
    if body:
        hdr.append("Content-Type: application/sdp")
    hdr.append("Content-Length: %d" % len(body))
    return ("\r\n".join(hdr) + "\r\n\r\n").encode() + body


def response_to(req, code, body=b""):
    """A UAS response to req (bytes) as the gateway would send it."""
    m = relay.SipMsg(req)
    lines = ["SIP/2.0 %d OK" % code]
    for v in m.vias():
        lines.append("Via: %s;received=127.0.0.1" % v)
    for n in ("from", "to", "call-id"):
        lines.append("%s: %s" % (n, m.get(n)))
    lines.append("CSeq: %s" % m.get("cseq"))
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Schedule(unittest.TestCase):

    def fates(self, n=4000, leg=0, **conf):
        s = relay.Schedule(leg, **conf)
        return [s.next() for _ in range(n)]

    def test_repeatable(self):
        conf = dict(seed=9, loss=5, dup=3, reorder=10, jitter=40, late=2)
        self.assertEqual(self.fates(**conf), self.fates(**conf))
        self.assertNotEqual(self.fates(**conf),
                            self.fates(**dict(conf, seed=10)))
        # each leg has its own stream
        self.assertNotEqual(self.fates(**conf), self.fates(leg=1, **conf))

    def test_fate_of_i_depends_on_i_only(self):
        # a different loss rate changes which packets are lost, but not
        # the jitter drawn for packet i
        a = self.fates(seed=3, jitter=40)
        b = self.fates(seed=3, jitter=40, loss=50)
        for (da, _), (db, _) in zip(a, b):
            if db:
                self.assertEqual(da[0], db[0])

    def test_rates(self):
        n = 20000
        f = self.fates(n, seed=5, loss=5, dup=2, reorder=10, late=1,
                       jitter=40)
        lost = sum(1 for d, _ in f if not d)
        dup = sum(1 for d, _ in f if len(d) == 2)
        late = sum(1 for d, fl in f if fl["late"])
        reo = sum(1 for d, fl in f if fl["reorder"])
        # binomial: within 5 standard deviations
        for got, p in ((lost, .05), (dup, .02 * .95), (late, .01 * .95),
                       (reo, .10 * .99 * .95)):
            sd = (n * p * (1 - p)) ** 0.5
            self.assertLess(abs(got - n * p), 5 * sd, (got, p))

    def test_delays(self):
        for d, fl in self.fates(seed=2, jitter=40, late=10, late_ms=150,
                                reorder=20, reorder_ms=30, dup=20):
            base = 150 if fl["late"] else 30 if fl["reorder"] else 0
            self.assertTrue(base <= d[0] <= base + 40, (d, fl))
            if len(d) == 2:
                self.assertTrue(d[1] >= d[0] + 1 and d[1] <= d[0] + 40)
            self.assertFalse(fl["late"] and fl["reorder"])

    def test_clean_first(self):
        f = self.fates(100, seed=1, loss=100, clean_first=10)
        self.assertEqual([d for d, _ in f[:10]], [[0.0]] * 10)
        self.assertEqual([d for d, _ in f[10:]], [[]] * 90)

    def test_bad_conf(self):
        for bad in (dict(loss=101), dict(jitter=-1), dict(late_ms=20000),
                    dict(nonsense=1)):
            with self.assertRaises(ValueError):
                relay.Schedule(**bad)


class Sdp(unittest.TestCase):

    def test_table(self):
        cases = [
            # (body, expected substrings, old (host, port, mux))
            (OFFER % 6000, ["c=IN IP4 127.0.0.9\r\n",
                            "m=audio 40000 RTP/AVP 0\r\n"],
             ("127.0.0.1", 6000, False)),
            # media-level c= wins; a=rtcp follows; rtcp-mux noted
            ("v=0\no=x 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n"
             "m=audio 7000 RTP/AVP 0\nc=IN IP4 127.0.0.5\n"
             "a=rtcp:7003\na=rtcp-mux\n",
             ["c=IN IP4 127.0.0.9\nt=0 0", "m=audio 40000 RTP/AVP 0\n"
              "c=IN IP4 127.0.0.9\n", "a=rtcp:40001 IN IP4 127.0.0.9\n"],
             ("127.0.0.5", 7000, True)),
            # a second audio stream and video are left alone
            ("v=0\nc=IN IP4 127.0.0.1\nm=audio 7000 RTP/AVP 0\n"
             "m=audio 7100 RTP/AVP 8\nm=video 7200 RTP/AVP 96\n",
             ["m=audio 40000 RTP/AVP 0\n", "m=audio 7100", "m=video 7200"],
             ("127.0.0.1", 7000, False)),
        ]
        for body, want, old in cases:
            new, got = relay.rewrite_sdp(body.encode(), "127.0.0.9", 40000,
                                         40001)
            self.assertEqual(got, old)
            for w in want:
                self.assertIn(w, new.decode(), body)
        new, _ = relay.rewrite_sdp(
            (OFFER % 6000).replace("IP4 127.0.0.1", "IP6 ::1").encode(),
            "::1", 40000, 40001)
        self.assertIn("c=IN IP6 ::1\r\n", new.decode())

    def test_bad(self):
        for body in ("v=0\nc=IN IP4 1.2.3.4\n", "v=0\nm=audio 5 RTP/AVP 0\n",
                     "v=0\nc=IN IP4 1.2.3.4\nm=audio x RTP/AVP 0\n",
                     "v=0\nc=IN\nm=audio 5 RTP/AVP 0\n"):
            with self.assertRaises(ValueError, msg=body):
                relay.rewrite_sdp(body.encode(), "127.0.0.1", 2, 3)


class Counters(unittest.TestCase):
    """expected_jb() on hand-made logs."""

    @staticmethod
    def log(deliveries, sent=None):
        """deliveries: seq per delivery in order; sent: seqs the carrier
        sent (default: 0..max)."""
        recs, seen = [], {}
        sent = sent if sent is not None else range(max(deliveries) + 1)
        for i, s in enumerate(sent):
            recs.append({"ev": "rtp", "leg": 0, "i": i, "seq": s,
                         "ts": s * 160, "pt": 0, "t": i * 0.02})
            seen[s] = i
        for n, s in enumerate(deliveries):
            recs.append({"ev": "tx", "leg": 0, "i": seen[s], "copy": 0,
                         "due": 0, "t": 1 + n * 0.02, "n": n})
        return recs

    def test_table(self):
        cases = [
            # deliveries, received, duplicate, lost, reordered
            ([1, 2, 3, 4], 4, 0, 0, 0),
            ([1, 3, 4], 3, 0, 1, 0),                  # 2 lost
            ([1, 3, 2, 4], 4, 0, 0, 1),               # 2 reordered
            ([1, 2, 2, 3], 4, 1, 0, 0),               # duplicate
            ([1, 4, 3, 2, 5], 5, 0, 0, 2),            # 3, 2 behind 4
            ([1, 3, 3, 5, 2], 5, 1, 1, 1),            # all kinds; 4 lost
            ([5, 1, 2, 3], 4, 0, 1, 3),               # 4 lost, 1-3 behind
            ([65534, 65535, 0, 1], 4, 0, 0, 0),       # wrap
            ([65535, 1, 0], 3, 0, 0, 1),              # wrap, reordered
        ]
        for dl, rx, dup, lost, reo in cases:
            sent = sorted(set(dl), key=lambda s: (s < 30000, s)) \
                if 0 in dl and 65535 in dl else None
            e = relay.expected_jb(self.log(dl, sent))
            self.assertEqual((e["received"], e["duplicate"], e["lost"],
                              e["reordered"]), (rx, dup, lost, reo), dl)


class Live(unittest.TestCase):
    """A Relay in a thread between two loopback sockets."""

    def setUp(self):
        self.gw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.gw.bind(("127.0.0.1", 0))
        self.gw_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.gw_rtp.bind(("127.0.0.1", 0))
        self.car = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.car.bind(("127.0.0.1", 0))
        self.car_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.car_rtp.bind(("127.0.0.1", 0))
        self.tmp = tempfile.mkdtemp(prefix="cb-relay-")
        self.logpath = os.path.join(self.tmp, "relay.jsonl")
        self.relay = None
        self.thread = None

    def start(self, **conf):
        self.relay = relay.Relay("127.0.0.1:%d" % self.gw.getsockname()[1],
                                 "127.0.0.1:0", self.logpath,
                                 max_seconds=60, **conf)
        self.thread = threading.Thread(target=self.relay.run, daemon=True)
        self.thread.start()
        self.addr = ("127.0.0.1", self.relay.sip_port)

    def tearDown(self):
        if self.relay:
            self.relay.stop()
            self.thread.join(10)
            self.relay.close()
        for s in (self.gw, self.gw_rtp, self.car, self.car_rtp):
            s.close()
        for f in os.listdir(self.tmp):
            os.unlink(os.path.join(self.tmp, f))
        os.rmdir(self.tmp)

    def expect(self, sock):
        r, _, _ = select.select([sock], [], [], 5)
        self.assertTrue(r, "nothing arrived")
        return sock.recvfrom(65536)

    def setup_call(self, call_id="c1"):
        """INVITE/200 OK through the relay; returns the addresses each
        side was told to send media to."""
        cport = self.car.getsockname()[1]
        inv = sip_request("INVITE", call_id, cport,
                          (OFFER % self.car_rtp.getsockname()[1]).encode())
        self.car.sendto(inv, self.addr)
        got, src = self.expect(self.gw)
        self.assertEqual(src, self.addr)
        m = relay.SipMsg(got)
        vias = m.vias()
        self.assertEqual(len(vias), 2)
        self.assertTrue(vias[0].startswith("SIP/2.0/UDP 127.0.0.1:%d;"
                                           % self.relay.sip_port))
        self.assertIn(";rport", vias[0])
        self.assertEqual(m.get("max-forwards"), "69")
        self.assertEqual(int(m.get("content-length")), len(m.body))
        _, (h, p, _) = relay.rewrite_sdp(m.body, "x", 1, 2)
        gw_sees = (h, p)
        self.assertNotEqual(p, self.car_rtp.getsockname()[1])
        # the answer
        ans = (OFFER % self.gw_rtp.getsockname()[1]).encode()
        self.gw.sendto(response_to(got, 200, ans), src)
        got, src = self.expect(self.car)
        self.assertEqual(src, self.addr)
        m = relay.SipMsg(got)
        self.assertEqual(len(m.vias()), 1)
        self.assertIn("z9hG4bK-%s-1" % call_id, m.vias()[0])
        self.assertEqual(int(m.get("content-length")), len(m.body))
        _, (h, p, _) = relay.rewrite_sdp(m.body, "x", 1, 2)
        return gw_sees, (h, p)

    def test_sip_and_media_paths(self):
        self.start()
        gw_sees, car_sees = self.setup_call()
        # carrier RTP -> relay -> gateway, from the address in the
        # gateway's SDP (so its latch accepts the first packet)
        for k in range(5):
            self.car_rtp.sendto(rtp(100 + k), car_sees)
        got = recv_all(self.gw_rtp)
        self.assertEqual([d for _, d, _ in got],
                         [rtp(100 + k) for k in range(5)])
        self.assertTrue(all(src == gw_sees for _, _, src in got))
        # gateway RTP and RTCP -> carrier, unimpaired
        self.gw_rtp.sendto(rtp(7, pt=0), gw_sees)
        data, src = self.expect(self.car_rtp)
        self.assertEqual((data, src), (rtp(7, pt=0), car_sees))
        rr = struct.pack("!BBHI", 0x80, 201, 1, 0x1234)
        self.gw_rtp.sendto(rr, (gw_sees[0], gw_sees[1] + 1))
        # RTCP goes to the carrier's RTP port + 1, which nobody holds
        # here; the relay counts it
        # ACK and BYE from the carrier go to the gateway with our Via
        self.car.sendto(sip_request("BYE", "c1", self.car.getsockname()[1]),
                        self.addr)
        got, _ = self.expect(self.gw)
        self.assertTrue(got.startswith(b"BYE "))
        self.relay.stop()
        self.thread.join(10)
        recs = relay.read_log(self.logpath)
        evs = [r["ev"] for r in recs]
        self.assertEqual(evs[0], "start")
        self.assertEqual(evs[-1], "end")
        self.assertEqual(sum(1 for r in recs if r["ev"] == "rtp"), 5)
        self.assertEqual(sum(1 for r in recs if r["ev"] == "tx"), 5)
        self.assertEqual(sum(1 for r in recs if r["ev"] == "back"), 1)
        end = recs[-1]["stats"]
        self.assertEqual(end["rtcp"], 1)
        self.assertEqual(end["sip_bad"], 0)

    def test_impairment_logged(self):
        self.start(seed=3, loss=20, dup=20, jitter=30, reorder=20,
                   reorder_ms=30)
        gw_sees, car_sees = self.setup_call()
        n = 200
        for k in range(n):
            self.car_rtp.sendto(rtp(1000 + k, ts=160 * k), car_sees)
            time.sleep(0.002)
        got = recv_all(self.gw_rtp, timeout=0.3)
        self.relay.stop()
        self.thread.join(10)
        recs = relay.read_log(self.logpath)
        e = relay.expected_jb(recs)
        # the log says exactly what arrived, in order
        self.assertEqual([d for _, d, _ in got],
                         [rtp(d["seq"], ts=d["ts"]) for d in e["delivered"]])
        fates = [r for r in recs if r["ev"] == "rtp"]
        self.assertEqual(len(fates), n)
        s = relay.Schedule(0, seed=3, loss=20, dup=20, jitter=30, reorder=20,
                           reorder_ms=30)
        for r in fates:
            d, _ = s.next()
            self.assertEqual(r["delays"], [round(x, 3) for x in d])
        self.assertGreater(e["reordered"], 0)
        self.assertGreater(e["duplicate"], 0)
        self.assertGreater(e["lost"], 0)
        # every copy went out no earlier than due
        for r in recs:
            if r["ev"] == "tx":
                self.assertGreaterEqual(r["t"], r["due"])

    def test_bad_input(self):
        self.start()
        junk = [b"", b"hello", b"INVITE\r\n\r\n", b"\xff" * 300,
                b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n",
                sip_request("INVITE", "c9", 1, b"v=0\r\n")]
        for j in junk:
            self.car.sendto(j, self.addr)
        # a response not via the relay, from the gateway
        self.gw.sendto(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;"
                       b"branch=z9hG4bK1\r\nCall-ID: x\r\n\r\n", self.addr)
        # max-forwards 0
        self.car.sendto(sip_request("OPTIONS", "c8", 1, mf=0), self.addr)
        # nothing of it reached the gateway; it still serves a call
        self.assertEqual(recv_all(self.gw, timeout=0.3), [])
        self.setup_call("c2")
        self.relay.stop()
        self.thread.join(10)
        end = relay.read_log(self.logpath)[-1]
        self.assertEqual(end["ev"], "end")
        self.assertGreaterEqual(end["stats"]["sip_bad"], len(junk))

    def test_bounds(self):
        self.start()
        self.relay.max_packets = 3
        _, car_sees = self.setup_call()
        for k in range(5):
            self.car_rtp.sendto(rtp(k), car_sees)
        self.thread.join(10)
        self.assertFalse(self.thread.is_alive())
        self.assertEqual(self.relay.why, "max-packets")


class Process(unittest.TestCase):

    def test_cli(self):
        tmp = tempfile.mkdtemp(prefix="cb-relay-")
        log = os.path.join(tmp, "r.jsonl")
        try:
            with relay.RelayProcess("127.0.0.1:9", log, seed=2,
                                    loss=1) as r:
                self.assertGreater(r.sip_port, 0)
            self.assertEqual(r.returncode, 0)
            recs = relay.read_log(log)
            self.assertEqual(recs[0]["conf"]["loss"], 1.0)
            self.assertEqual(recs[-1]["why"], "stopped")
            # not loopback, bad numbers: refused with a message
            for bad in (["--gateway", "192.0.2.1:5060"],
                        ["--gateway", "127.0.0.1:5060", "--loss", "200"],
                        ["--gateway", "127.0.0.1"]):
                p = subprocess.run([sys.executable, relay.__file__] + bad,
                                   capture_output=True, text=True,
                                   timeout=30)
                self.assertEqual(p.returncode, 2, bad)
                self.assertIn("relay:", p.stderr)
            # the time bound
            p = subprocess.run([sys.executable, relay.__file__, "--gateway",
                                "127.0.0.1:9", "--max-seconds", "0.2"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 3)
        finally:
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            os.rmdir(tmp)


if __name__ == "__main__":
    unittest.main(verbosity=2)
