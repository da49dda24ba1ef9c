#!/usr/bin/env python3
"""SRTP with SDES keys (RFC 3711, RFC 4568) on inbound calls, end to end.

SIPp is the carrier's signalling (tests/sipp/srtp_offer.xml: the test
writes the offer's transport and a=crypto lines); the carrier's media is
tests/integ/srtp_peer.py: libsrtp2 through ctypes on the test's own UDP
sockets, which the offer names. cb-test-agent is the agent: it plays a
known µ-law signal and records what it hears.

Three trunks, one per `media_encryption`, each with a number:
  - the answer: RTP/AVP or RTP/SAVP as the policy and the offer demand,
    else 488; with RTP/SAVP exactly one a=crypto, with the tag and suite
    of the first offered line the gateway can use (not another suite, no
    MKI, no session parameter, a good inline key) and a fresh key of its
    own; no usable line: 488;
  - audio both ways through SRTP, both suites, with and without
    rtcp-mux: the agent hears exactly the frames the carrier encrypted,
    the carrier decrypts exactly the agent's frames (every packet
    authenticates under the answer's key, with the suite's tag length);
  - the gateway's RTCP arrives as SRTCP (on the RTCP port, or the RTP
    port with rtcp-mux) that the carrier decrypts with that key: SR from
    the RTP stream's SSRC, BYE at the end; the carrier's SRTCP receiver
    reports reach the gateway's statistics (fraction lost, jitter, a
    round-trip time from the LSR of its own decrypted SR);
  - a carrier that encrypts with a key other than the one it offered gets
    nothing to the agent, and `stats.srtp_fail` counts every packet; wrong
    keys, plain RTP, replays and tampered packets mixed into a good stream
    change nothing the agent hears, and each is counted; a stream of
    forged packets from another address never moves the media there
    (refused before the latch).
"""

import base64
import socket
import struct
import time
import unittest

import callenv
import cbtest
import gensig
import srtp_peer as sp

S80 = "AES_CM_128_HMAC_SHA1_80"
S32 = "AES_CM_128_HMAC_SHA1_32"
N_NONE = "+14155557100"
N_OPT = "+14155557101"
N_REQ = "+14155557102"
POLICY = {N_NONE: "none", N_OPT: "srtp_optional", N_REQ: "srtp_required"}
KEY = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"       # RFC 4568's
SILENCE = {0xFF, 0x7F}                                 # µ-law zeros
RR = {"fraction": 64, "jitter": 800, "dlsr_cut": 0.05}  # 0.25, 100 ms


def line(tag, suite, key=KEY, tail=""):
    return "a=crypto:%d %s inline:%s%s" % (tag, suite, key, tail)


class SrtpTest(callenv.NothingLeft, callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        why = sp.available()
        if why:
            raise unittest.SkipTest(why)
        cls.env = callenv.CallEnv(agent_seconds=2.0)
        cls.env.agent("srtp-agent", "/script/play:all")
        for number, policy in POLICY.items():
            tid = "t-" + policy.replace("_", "-")
            cls.env.request("trunks.put", trunk={
                "id": tid, "kind": "byoc", "name": "SRTP " + policy,
                "media_encryption": policy})
            cls.env.number(number, "srtp-agent", trunk=tid)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    # -- one call -----------------------------------------------------------

    def offer(self, number, proto, attrs, peer, hold=300, name="offer"):
        """Start SIPp's offer; returns the run."""
        w = self.env.workdir(name)
        return self.env.sipp("srtp_offer.xml", w, keys={
            "number": number, "rtp_port": peer.port, "proto": proto,
            "fmt": "0 101", "attrs": "".join("\r\n" + a for a in attrs)},
            sets={"hold": hold}).start()

    @staticmethod
    def final(run, timeout=20):
        return run.wait_message(lambda m: m.dir == "recv" and m.code and
                                m.code >= 200 and
                                m.cseq_method == "INVITE", timeout,
                                "a final answer to the INVITE")

    def agent_conn(self, before):
        conns = self.env.agents[0].rec.wait_closed(before + 1, timeout=15)
        self.assertEqual(len(conns), before + 1, "one agent connection")
        return conns[-1]

    def call_stats(self, conn):
        sid = conn.start["start"]["callSid"]

        def ended():
            r = self.env.gw.request("calls.get", call_sid=sid)
            c = r.get("call") if r.get("ok") else None
            return c if c and c.get("state") == "ended" else None
        return cbtest.wait_for(ended, 10, "call %s to end" % sid,
                               interval=0.05)

    # -- offer and answer ---------------------------------------------------

    def test_01_offer_answer(self):
        bad = [
            line(1, "AES_CM_256_HMAC_SHA1_80",
                 "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzWVNfX19zZW1jdGw="),
            line(2, "F8_128_HMAC_SHA1_80"),
            line(3, S80, tail="|2^20|1:4"),
            line(4, S80, tail=" KDR=1"),
            line(5, S32, tail=" UNENCRYPTED_SRTP"),
            line(6, S80, key="!" * 40),
            line(7, S80, key=KEY[:-4]),
            "a=crypto:8 %s uri:https://keys.example/k" % S80,
        ]
        cases = [
            # name, number, proto, a= lines, code, answer proto,
            # expected (tag, suite) or None
            ("none-avp", N_NONE, "RTP/AVP", [], 200, "RTP/AVP", None),
            ("none-avp-crypto", N_NONE, "RTP/AVP", [line(1, S80)], 200,
             "RTP/AVP", None),
            ("none-savp", N_NONE, "RTP/SAVP", [line(1, S80)], 488, None,
             None),
            ("opt-avp", N_OPT, "RTP/AVP", [], 200, "RTP/AVP", None),
            ("opt-savp-80", N_OPT, "RTP/SAVP", [line(1, S80)], 200,
             "RTP/SAVP", (1, S80)),
            ("opt-savp-32", N_OPT, "RTP/SAVP", [line(9, S32)], 200,
             "RTP/SAVP", (9, S32)),
            ("opt-savp-nothing-usable", N_OPT, "RTP/SAVP", bad, 488, None,
             None),
            ("req-avp", N_REQ, "RTP/AVP", [], 488, None, None),
            ("req-avp-crypto", N_REQ, "RTP/AVP", [line(1, S80)], 488,
             None, None),
            ("req-savp-80", N_REQ, "RTP/SAVP", [line(1, S80)], 200,
             "RTP/SAVP", (1, S80)),
            ("req-savp-32-lifetime", N_REQ, "RTP/SAVP",
             [line(123456789, S32, tail="|2^31")], 200, "RTP/SAVP",
             (123456789, S32)),
            ("req-savp-no-crypto", N_REQ, "RTP/SAVP", [], 488, None, None),
            ("req-savp-nothing-usable", N_REQ, "RTP/SAVP", bad, 488, None,
             None),
            ("req-savp-first-usable", N_REQ, "RTP/SAVP",
             bad + [line(30, S32), line(31, S80)], 200, "RTP/SAVP",
             (30, S32)),
            ("req-savp-first-of-two", N_REQ, "RTP/SAVP",
             [line(41, S80), line(42, S32)], 200, "RTP/SAVP", (41, S80)),
        ]
        env = self.env
        keys = set()
        for name, number, proto, attrs, code, aproto, want in cases:
            with self.subTest(case=name):
                with sp.Peer(S80) as peer:
                    run = self.offer(number, proto, attrs, peer, name=name)
                    res = run.wait()
                self.assertEqual(res.rc, 0, res.summary())
                m = res.final_msg("INVITE")
                self.assertIsNotNone(m, res.summary())
                self.assertEqual(m.code, code, "%s (%s): %s"
                                 % (name, POLICY[number], m.first))
                if code != 200:
                    continue
                port, got_proto, fmts, cryptos, _ = sp.parse_answer(m.body)
                self.assertNotEqual(port, 0)
                self.assertEqual(got_proto, aproto, m.body)
                self.assertEqual(fmts[:1], ["0"], m.body)
                if want is None:
                    self.assertEqual(cryptos, [], "no a=crypto with "
                                     "RTP/AVP: %s" % m.body)
                    continue
                self.assertEqual(len(cryptos), 1, m.body)
                tag, suite, key, text = cryptos[0]
                self.assertEqual((tag, suite), want, text)
                self.assertRegex(text, r"^a=crypto:\d+ \S+ inline:"
                                 r"[A-Za-z0-9+/]{40}$")
                self.assertEqual(len(key), 30)
                self.assertNotEqual(key, base64.b64decode(KEY),
                                    "the gateway's key is its own")
                keys.add(key)
        env.wait_idle()
        self.assertEqual(len(keys), sum(1 for c in cases if c[-1]),
                         "a fresh key per call")
        self.env.take_baseline()

    # -- media --------------------------------------------------------------

    def media_call(self, suite, mux, tag, seed, plan_how=None, extra=(),
                   hold=3500, rr=RR, name="media"):
        """One SRTP call with audio both ways; returns (peer, result,
        agent connection, calls.get record, signal)."""
        env = self.env
        sig = gensig.generate("frames", "ulaw", 2.0, seed=seed)
        before = len(env.agents[0].rec.conns())
        peer = sp.Peer(suite, mux=mux, rr=rr)
        try:
            attrs = [peer.crypto_attr(tag)] + (["a=rtcp-mux"] if mux
                                               else [])
            run = self.offer(N_REQ, "RTP/SAVP", attrs, peer, hold=hold,
                             name=name)
            m = self.final(run)
            self.assertEqual(m.code, 200, m.first)
            port, proto, _, cryptos, ans_attrs = sp.parse_answer(m.body)
            self.assertEqual(proto, "RTP/SAVP")
            self.assertEqual(len(cryptos), 1, m.body)
            self.assertEqual(cryptos[0][:2], (tag, suite))
            self.assertEqual("rtcp-mux" in ans_attrs, mux, m.body)
            peer.set_rx_key(cryptos[0][2], suite)
            plan = peer.rtp_plan(sig, how=plan_how) + list(extra)
            peer.play(("127.0.0.1", port), plan)
            peer.wait_sent(15)
            res = run.wait()
            env.wait_idle()
        finally:
            peer.close()
        self.assertEqual(res.rc, 0, res.summary())
        conn = self.agent_conn(before)
        return peer, res, conn, self.call_stats(conn), sig

    def check_gateway_srtp(self, peer, suite, mux):
        """What the gateway sent: all SRTP/SRTCP under its key."""
        tag_len = sp.SUITES[suite]
        gw_port = peer.dest[1]
        rtp_raw = [d for _, _, d, _ in peer.raw_in if not sp.is_rtcp(d)]
        # RTP from the answer's port; RTCP from the port above it, or,
        # with rtcp-mux, from the RTP port too (RFC 5761)
        self.assertEqual({(src, k) for _, k, d, src in peer.raw_in
                          if not sp.is_rtcp(d)},
                         {(("127.0.0.1", gw_port), "rtp")})
        self.assertEqual({(src, k) for _, k, d, src in peer.raw_in
                          if sp.is_rtcp(d)},
                         {(("127.0.0.1", gw_port + (0 if mux else 1)),
                           "rtp" if mux else "rtcp")})
        self.assertGreater(len(rtp_raw), 100)
        self.assertEqual({len(d) for d in rtp_raw}, {12 + 160 + tag_len},
                         "RTP: header, 160 bytes, the %s tag" % suite)
        self.assertEqual(peer.rtp_failed(), [], "every packet "
                         "authenticates under the answer's key")
        plain = peer.rtp_plain()
        self.assertEqual(len(plain), len(rtp_raw))
        ssrcs = {struct.unpack("!I", p[8:12])[0] for p in plain}
        self.assertEqual(len(ssrcs), 1)
        # encrypted: the payload on the wire is not the plain one
        self.assertFalse(any(d[12:172] == p[12:172]
                             for d, p in zip(rtp_raw[:20], plain)))

        # agent -> carrier, exactly
        audio = b"".join(p[12:] for p in plain)
        rep = gensig.check_frames(self.env.agent_signals[0], audio)
        self.assertTrue(rep.exact, "agent -> carrier: %s" % rep)

        # SRTCP, where rtcp-mux puts it
        rtcp = peer.rtcp_in
        self.assertGreaterEqual(len(rtcp), 2, "an SR within the call, "
                                "and the BYE compound")
        self.assertEqual({k for _, k, _, _ in rtcp},
                         {"rtp" if mux else "rtcp"})
        self.assertEqual([st for _, _, st, _ in rtcp], [sp.OK] * len(rtcp))
        raw = [d for _, _, d, _ in peer.raw_in if sp.is_rtcp(d)]
        for (_, _, _, p), d in zip(rtcp, raw):
            self.assertEqual(len(d), len(p) + sp.SRTCP_ADDED)
            self.assertTrue(d[len(p)] & 0x80, "E flag: encrypted")
            self.assertEqual(sp.rtcp_types(p)[0], 200, "SR first")
            self.assertEqual(struct.unpack("!I", p[4:8])[0],
                             next(iter(ssrcs)), "SR of the RTP stream")
        self.assertIn(203, sp.rtcp_types(rtcp[-1][3]), "BYE at the end")

    def check_carrier_rr(self, peer, st):
        """Our SRTCP receiver report made it into the statistics."""
        self.assertGreaterEqual(len(peer.rr_sent), 1)
        rem = st["remote"]
        self.assertEqual(rem["fraction_lost"], 0.25, st)
        self.assertEqual(rem["jitter_ms"], 100.0, st)
        # LSR of the gateway's own SR, DLSR 50 ms short: RTT >= 50 ms
        self.assertGreaterEqual(rem["rtt_ms"], 49.0, st)
        self.assertLess(rem["rtt_ms"], 5000.0, st)

    def media_test(self, suite, mux, tag, seed):
        peer, res, conn, rec, sig = self.media_call(
            suite, mux, tag, seed, name="media-%s-%s" % (suite[-2:], mux))
        rep = gensig.check_frames(sig, conn.inbound_audio)
        st = rec["stats"]
        self.assert_frames_heard(rep, st)
        self.check_gateway_srtp(peer, suite, mux)
        self.assertEqual(st["srtp_fail"], 0, st)
        self.assertEqual(st["rtp_rx"], len(sig) // 160, st)
        self.assertEqual(st["rtp_bad"], 0, st)
        self.check_carrier_rr(peer, st)

    def test_02_media_80(self):
        self.media_test(S80, False, 3, seed=31)

    def test_03_media_32(self):
        self.media_test(S32, False, 77, seed=32)

    def test_04_media_80_rtcp_mux(self):
        self.media_test(S80, True, 1, seed=33)

    def test_05_media_32_rtcp_mux(self):
        self.media_test(S32, True, 2, seed=34)

    # -- what the gateway must refuse ---------------------------------------

    def test_06_wrong_key(self):
        """The carrier encrypts with a key it did not offer: nothing of it
        reaches the agent; every packet is counted."""
        wrong_rr = [(0.5 + 0.4 * i, "wrongkey", "rtcp", None,
                     {"fraction": 192, "jitter": 8000}) for i in range(3)]
        for suite in (S80, S32):
            with self.subTest(suite=suite):
                peer, res, conn, rec, sig = self.media_call(
                    suite, False, 5, seed=35, plan_how=lambda k:
                    "wrongkey", extra=wrong_rr, rr=None, name="wrongkey")
                sent = peer.sent_count("wrongkey")
                self.assertEqual(sent, len(sig) // 160 + len(wrong_rr))
                st = rec["stats"]
                self.assertEqual(st["srtp_fail"], sent, st)
                self.assertEqual(st["rtp_rx"], 0, st)
                self.assertEqual(st["remote"]["fraction_lost"], 0.0, st)
                audio = conn.inbound_audio
                self.assertEqual(gensig.check_frames(sig, audio).matched,
                                 0)
                self.assertLessEqual(set(audio), SILENCE, "the agent hears "
                                     "silence at most, never garbage")
                # the gateway still speaks SRTP with its own key
                self.check_gateway_srtp(peer, suite, False)

    def test_07_forgeries_in_a_good_stream(self):
        """Wrong keys, plain RTP, replays and tampered packets between the
        packets of a good stream: the agent hears exactly the good stream,
        and each forgery is counted."""
        alien = gensig.generate("frames", "ulaw", 2.0, seed=99)
        for suite in (S80, S32):
            with self.subTest(suite=suite):
                # forgeries 5 ms after good packet k, with the sequence
                # number (and alien audio) of packet k + 1
                extra = []
                for k in range(2, 98):
                    kind = {1: "wrongkey", 3: "plain", 5: "replay",
                            7: "tamper"}.get(k % 8)
                    if not kind:
                        continue
                    data = sp.rtp_header(1000 + k + 1, (k + 1) * 160,
                                         0x5EC00001) + \
                        alien[k * 160:(k + 1) * 160]
                    extra.append((k * 0.020 + 0.005, kind, "rtp", data, 1))
                # SRTCP forgeries claiming 75 % loss, after the first SR
                for i, kind in enumerate(("wrongkey", "plain", "tamper")):
                    extra.append((1.5 + 0.1 * i, kind, "rtcp", None,
                                  {"fraction": 192, "jitter": 8000}))
                peer, res, conn, rec, sig = self.media_call(
                    suite, False, 6, seed=36, extra=extra,
                    name="forgeries")
                forged = sum(peer.sent_count(h) for h in
                             ("wrongkey", "plain", "replay", "tamper"))
                self.assertEqual(forged, len(extra))
                rep = gensig.check_frames(sig, conn.inbound_audio)
                self.assertTrue(rep.exact, "carrier -> agent: %s" % rep)
                self.assertEqual(gensig.check_frames(
                    alien, conn.inbound_audio).matched, 0)
                st = rec["stats"]
                self.assertEqual(st["srtp_fail"], forged, st)
                self.assertEqual(st["rtp_rx"], len(sig) // 160, st)
                self.check_carrier_rr(peer, st)

    def test_08_forged_source_cannot_move_the_media(self):
        """A steady stream of wrong-key packets from another address while
        the carrier is quiet (what would take over the latch if it were
        plain RTP): the gateway keeps sending to the carrier, never to
        that address, and counts every forged packet."""
        forged_n = 50
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attacker.bind(("127.0.0.1", 0))
        attacker.setblocking(False)
        fake = sp.Session(S80, sp.random_key(), inbound=False)
        env = self.env
        sig = gensig.generate("frames", "ulaw", 2.0, seed=38)
        before = len(env.agents[0].rec.conns())
        peer = sp.Peer(S80, rr=RR)
        try:
            run = self.offer(N_REQ, "RTP/SAVP", [peer.crypto_attr(4)],
                             peer, hold=4500, name="forged-source")
            m = self.final(run)
            self.assertEqual(m.code, 200, m.first)
            port, _, _, cryptos, _ = sp.parse_answer(m.body)
            peer.set_rx_key(cryptos[0][2])
            peer.play(("127.0.0.1", port), peer.rtp_plan(sig))
            # once the carrier is quiet, so a plain RTP latch would move
            peer.wait_sent(15)
            t0 = time.monotonic() + 0.1
            for k in range(forged_n):      # 20 ms apart, absolute times
                time.sleep(max(0.0, t0 + 0.02 * k - time.monotonic()))
                pkt = sp.rtp_header(500 + k, 160 * k, 0xBAD0BAD) + \
                    bytes([0x55]) * 160
                attacker.sendto(fake.protect(pkt), ("127.0.0.1", port))
            res = run.wait()
            env.wait_idle()
            got = []
            for _ in range(10000):
                try:
                    got.append(attacker.recv(2048))
                except BlockingIOError:
                    break
        finally:
            peer.close()
            attacker.close()
            fake.close()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(got, [], "the gateway sent media to the forger")
        conn = self.agent_conn(before)
        rep = gensig.check_frames(sig, conn.inbound_audio)
        self.assertTrue(rep.exact, "carrier -> agent: %s" % rep)
        self.check_gateway_srtp(peer, S80, False)
        st = self.call_stats(conn)["stats"]
        self.assertEqual(st["srtp_fail"], forged_n, st)
        self.assertEqual(st["rtp_foreign"], 0, "refused before the "
                         "latch saw them: %s" % st)


if __name__ == "__main__":
    callenv.run_tests()
