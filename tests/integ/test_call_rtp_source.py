#!/usr/bin/env python3
"""Where a call's RTP may come from (issue 14, fault 2; rtp/latch.c).

Before, three consecutive packets over 40 ms from any address moved a
call's media whenever the real source was quiet: an attacker that spoke
before the caller's first packet, or during a silence, got the gateway's
audio, and its own reached the agent. Now:

  - by default (a trunk's rtp_latching off) the source is the SDP's
    address and port from the first packet on: an attacker that sends
    before the caller, during a 2 s silence of the caller, and then
    interleaved with it (its own stream, and copies of the caller's SSRC
    and sequence numbers) gets no packet, none of its audio reaches the
    agent, the caller's audio reaches it byte for byte, and every attacker
    packet is counted in rtp_foreign;
  - a NATed caller (the SDP names one address, packets come from
    another) works on a trunk with rtp_latching nat, and gets nowhere on
    a strict one.

The test owns the caller's media: SIPp (uac_many.xml) carries the
signalling with the SDP naming one of the test's sockets.
"""

import os
import time

import callenv
import gensig
import rtpsniff

N_STRICT = "+14155550701"
N_NAT = "+14155550702"
N_NAT_STRICT = "+14155550703"


def sig(seconds, seed):
    return gensig.generate("frames", "ulaw", seconds, seed=seed)


class RtpSourceTest(callenv.NothingLeft, callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        cls.env = env = callenv.CallEnv()
        env.agent("rec", "/record")
        env.request("trunks.put", trunk={
            "id": "natted", "kind": "byoc", "name": "NAT",
            "rtp_latching": "nat"})
        env.number(N_STRICT, "rec")
        env.number(N_NAT, "rec", trunk="natted")
        env.number(N_NAT_STRICT, "rec")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def call(self, number, sdp_ep, hold_ms, name):
        """One SIPp call whose SDP names sdp_ep; returns (run, gateway RTP
        address, the 200's time)."""
        w = self.env.workdir(name)
        inf = os.path.join(w, "calls.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n%s;%d;0\n" % (number, sdp_ep.port))
        run = self.env.sipp("uac_many.xml", w, calls=1, inf=inf,
                            sets={"hold": hold_ms}, timeout=30)
        run.start()
        ok = run.wait_message(lambda m: m.code == 200 and
                              m.cseq_method == "INVITE", 10, "200 OK")
        port = int(ok.body.split("m=audio ")[1].split()[0])
        return run, ("127.0.0.1", port), time.monotonic()

    def record(self, n_before):
        conns = self.env.agents[0].rec.wait_closed(n_before + 1)
        return conns[n_before]

    def check_caller(self, ref, audio, jb, what, leading=0):
        """The caller's audio reached the agent in order, once, with
        nothing in between but the frames the jitter buffer says it had
        to conceal (a busy host: late, lost or dropped packets), and the
        first `leading` frames (packets that were not yet the source)."""
        rep = gensig.check_frames(ref, audio)
        self.assertTrue(rep.matched, "%s -> agent: %s" % (what, rep))
        self.assertEqual(rep.duplicates, 0, "%s: %s" % (what, rep))
        known = [i for i in rep.indexes if i is not None]
        self.assertTrue(all(b > a for a, b in zip(known, known[1:])),
                        "%s out of order: %s" % (what, rep))
        excused = jb["late"] + jb["lost"] + jb["dropped"] + \
            jb["skipped"] + leading
        self.assertLessEqual(rep.nref - rep.matched, excused,
                             "%s -> agent: %s; jitter buffer %s"
                             % (what, rep, jb))
        return rep

    def stats(self, conn):
        sid = conn.start["start"]["callSid"]
        self.env.wait_idle()
        return self.env.recent_call(sid)["stats"]

    def test_01_attacker_gets_nothing(self):
        n = len(self.env.agents[0].rec.conns())
        part1, part2 = sig(1.0, 701), sig(1.0, 702)
        attack = sig(4.0, 799)
        with rtpsniff.RtpHub() as hub:
            caller, evil = hub.endpoint(), hub.endpoint()
            run, gw, t0 = self.call(N_STRICT, caller, 5600, "strict")
            # 1 s before the caller's first packet
            evil.play(gw, attack[:8000], ssrc=0xBAD0001, seq=5000,
                      start=t0)
            seq, ts, t1 = caller.play(gw, part1, ssrc=0xCA11E4,
                                      seq=100, start=t0 + 1.0)
            # 2 s while the caller is silent
            evil.play(gw, attack[8000:24000], ssrc=0xBAD0002, seq=7000,
                      start=t1)
            # then interleaved with the caller: copies of its SSRC,
            # sequence numbers and timestamps, 10 ms after each packet
            caller.play(gw, part2, ssrc=0xCA11E4, seq=seq, ts=ts + 16000,
                        start=t1 + 2.0)
            evil.play(gw, attack[24000:32000], ssrc=0xCA11E4, seq=seq,
                      ts=ts + 16000, start=t1 + 2.01)
            res = run.wait()
            self.assertEqual(res.rc, 0, res.summary())
            to_evil, to_caller = evil.rtp(), caller.rtp()
        self.assertEqual(to_evil, [], "the gateway sent RTP to the "
                         "attacker")
        self.assertGreater(len(to_caller), 200)

        conn = self.record(n)
        audio = conn.inbound_audio
        st = self.stats(conn)
        for name, ref in (("caller part 1", part1),
                          ("caller part 2", part2)):
            self.check_caller(ref, audio, st["jitter_buffer"], name)
        bad = gensig.check_frames(attack, audio)
        self.assertEqual(bad.matched, 0, "attacker -> agent: %s" % bad)
        self.assertEqual(st["rtp_foreign"], 200, st)
        self.assertEqual(st["rtp_rx"], 100, st)

    def nat_call(self, number, name):
        """The SDP names one socket, the caller speaks from another."""
        n = len(self.env.agents[0].rec.conns())
        talk = sig(2.0, 711)
        with rtpsniff.RtpHub() as hub:
            named, actual = hub.endpoint(), hub.endpoint()
            run, gw, t0 = self.call(number, named, 2600, name)
            actual.play(gw, talk, ssrc=0x0A7, seq=10, start=t0 + 0.1)
            res = run.wait()
            self.assertEqual(res.rc, 0, res.summary())
            got = actual.rtp()
        conn = self.record(n)
        return talk, got, conn, self.stats(conn)

    def test_02_nat_caller_on_a_nat_trunk(self):
        talk, got, conn, st = self.nat_call(N_NAT, "nat")
        # the learning run: 3 packets over 40 ms at least; the ones
        # before the packet that completed it are not the caller's yet
        self.assertIn(st["rtp_foreign"], (2, 3), st)
        self.check_caller(talk, conn.inbound_audio, st["jitter_buffer"],
                          "caller", leading=st["rtp_foreign"])
        # the gateway's audio follows the learned source: from the third
        # packet on (60 ms), about the 2 s that are left
        self.assertGreater(len(got), 80)

    def test_03_nat_caller_on_a_strict_trunk(self):
        talk, got, conn, st = self.nat_call(N_NAT_STRICT, "nat-strict")
        rep = gensig.check_frames(talk, conn.inbound_audio)
        self.assertEqual(rep.matched, 0, "caller -> agent: %s" % rep)
        self.assertEqual(got, [])
        self.assertEqual(st["rtp_foreign"], 100, st)


if __name__ == "__main__":
    callenv.run_tests()
