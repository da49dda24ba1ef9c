#!/usr/bin/env python3
"""Issue 3, media both ways with real peers: SIPp is the carrier (its RTP
is a pcap of a known µ-law or A-law signal), cb-test-agent is the agent
(it plays a known µ-law signal back), and the test records the RTP the
gateway sends to SIPp's media port.

Asserted per call (PCMU over UDP, PCMA over UDP, PCMU over TCP):
  - the agent receives exactly the carrier's audio after decode (µ-law
    bit-exact; A-law through G.711's A->µ table), with no gap and no
    duplicate frame;
  - `connected`, `start`, `media`, `stop`, field by field (Twilio formats
    of every SID, tracks, mediaFormat, customParameters = call facts +
    agent parameters + the INVITE's X- headers, sequenceNumber from 1 over
    every message, chunk from 1, timestamp +20 ms per chunk, as strings);
  - the agent's audio reaches the carrier complete and in order (PCMA: the
    µ->A table), as one RTP stream (one SSRC, seq +1, timestamp +160) at
    50 packets per second over the whole call;
  - the call's final statistics agree with what both peers saw;
  - the number is found in the Request-URI or the To header, in sip: and
    tel: forms, with visual separators.
"""

import base64
import os
import unittest

import agentlog
import callenv
import gensig
import rtpsniff

NUMBER = "+14155550100"
FRIENDLY = "Media test line"
PARAMS = {"lang": "en", "tenant": "acme"}
X_A, X_B = "cust-42", "spring sale"
CALLER = "+15550001111"


class MediaTest(callenv.NothingLeft, callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp(pcap=True)
        cls.env = callenv.CallEnv(agent_seconds=2.0)
        cls.env.agent("talker", "/script/play:all,mark:end",
                      parameters=PARAMS)
        cls.env.number(NUMBER, "talker", friendly_name=FRIENDLY)
        cls.account_sid = cls.env.request("status")["account_sid"]

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    # -- one call, every assertion ---------------------------------------

    def call(self, law, transport="u1", seconds=2.0, hold=2600, seed=5):
        env = self.env
        w = env.workdir("%s-%s" % (law, transport))
        ref = env.pcap(w, law, seconds, seed=seed)
        nconn = len(env.agents[0].rec.conns())
        run = env.sipp("uac_call.xml", w, transport=transport, keys={
            "ruri": "sip:%s@127.0.0.1:%d" % (NUMBER, env.gw.sip_port),
            "to_uri": "sip:%s@127.0.0.1" % NUMBER,
            "fmt": "0 8 101" if law == "ulaw" else "8 101",
            "dir": "sendrecv", "ctype": "application/sdp",
            "xhdr_a": X_A, "xhdr_b": X_B}, sets={"hold": hold})
        with rtpsniff.Sniffer(run.media_port) as sn:
            res = run.run()
            env.wait_idle()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(res.final("INVITE"), 200, res.summary())
        self.assertEqual(res.final("BYE"), 200, res.summary())

        conns = env.agents[0].rec.wait_closed(nconn + 1, timeout=10)
        self.assertEqual(len(conns), nconn + 1, "one agent connection")
        conn = conns[-1]
        self.check_stream(conn, law)
        self.check_inbound(conn, law, ref)
        self.check_outbound(res, sn.rtp(), law)
        self.check_stats(conn, sn.rtp(), law)
        return conn

    def check_stream(self, conn, law):
        self.assertEqual(agentlog.check_twilio_stream(conn), [])
        ev = conn.events()
        names = [e.event for e in ev]
        self.assertEqual(names[:2], ["connected", "start"])
        self.assertEqual(names[-1], "stop")
        self.assertEqual(set(names), {"connected", "start", "media", "mark",
                                      "stop"})

        c = ev[0].json
        self.assertEqual(c, {"event": "connected", "protocol": "Call",
                             "version": "1.0.0"})

        s = ev[1].json
        self.assertEqual(set(s), {"event", "sequenceNumber", "streamSid",
                                  "start"})
        self.assertEqual(s["sequenceNumber"], "1")
        sid = s["streamSid"]
        self.assertRegex(sid, r"^MZ[0-9a-f]{32}$")
        st = s["start"]
        self.assertEqual(set(st), {"streamSid", "accountSid", "callSid",
                                   "tracks", "customParameters",
                                   "mediaFormat"})
        self.assertEqual(st["streamSid"], sid)
        self.assertRegex(st["callSid"], r"^CA[0-9a-f]{32}$")
        self.assertRegex(st["accountSid"], r"^AC[0-9a-f]{32}$")
        self.assertEqual(st["accountSid"], self.account_sid)
        self.assertEqual(st["tracks"], ["inbound"])
        self.assertEqual(st["mediaFormat"], {"encoding": "audio/x-mulaw",
                                             "sampleRate": 8000,
                                             "channels": 1})
        want = dict(PARAMS)
        want.update({"from": CALLER, "to": NUMBER,
                     "friendly_name": FRIENDLY, "trunk_id": "carrier",
                     "X-Customer-Id": X_A, "X-Campaign": X_B})
        self.assertEqual(st["customParameters"], want)
        rec = self.env.recent_call(st["callSid"])
        self.assertIsNotNone(rec, "the agent's callSid is the call's SID")
        self.assertEqual(rec["codec"], "PCMU" if law == "ulaw" else "PCMA")

        seq = 1
        chunks, stamps = [], []
        for e in ev[1:]:
            m = e.json
            self.assertEqual(m["sequenceNumber"], str(seq), m)
            seq += 1
            if m["event"] == "media":
                md = m["media"]
                self.assertEqual(set(m), {"event", "sequenceNumber",
                                          "streamSid", "media"})
                self.assertEqual(set(md), {"track", "chunk", "timestamp",
                                           "payload"})
                self.assertEqual(m["streamSid"], sid)
                self.assertEqual(md["track"], "inbound")
                self.assertIsInstance(md["chunk"], str)
                self.assertIsInstance(md["timestamp"], str)
                chunks.append(int(md["chunk"]))
                stamps.append(int(md["timestamp"]))
                self.assertEqual(len(base64.b64decode(md["payload"],
                                                      validate=True)), 160)
        self.assertEqual(chunks, list(range(1, len(chunks) + 1)))
        steps = {b - a for a, b in zip(stamps, stamps[1:])}
        self.assertEqual(steps, {20}, "timestamp advances 20 ms a chunk")

        stop = ev[-1].json
        self.assertEqual(stop, {"event": "stop",
                                "sequenceNumber": str(len(ev) - 1),
                                "streamSid": sid,
                                "stop": {"accountSid": self.account_sid,
                                         "callSid": st["callSid"]}})
        # caller hung up: stop, then the gateway closes the WebSocket
        self.assertIsNotNone(conn.peer_close, "gateway sent a close frame")
        self.assertEqual(conn.peer_close[0], 1000)
        self.assertIsNone(conn.agent_close)

    def check_inbound(self, conn, law, ref):
        audio = conn.inbound_audio
        self.assertEqual(audio, agentlog.media_payload_audio(conn))
        rep = gensig.check_frames(callenv.to_agent(law, ref), audio)
        self.assertTrue(rep.exact, "carrier -> agent: %s" % rep)

    def check_outbound(self, res, pkts, law):
        rep = rtpsniff.rtp_report(pkts)
        self.assertEqual(rep.problems(pt=0 if law == "ulaw" else 8), [])
        self.assertTrue(rep.rtp[0]["marker"], "marker on the first packet")
        agent_sig = self.env.agent_signals[0]
        fr = gensig.check_frames(callenv.to_carrier(law, agent_sig),
                                 rtpsniff.payload_audio(pkts))
        self.assertTrue(fr.exact, "agent -> carrier: %s" % fr)
        # 50 packets per second: the count over the stream's span (one
        # packet per 20 ms, +-1 for where the span's ends fall), the
        # median spacing (+-0.5 ms: loopback, kernel receive times), and
        # the stream covers the call from the 200 OK to the BYE (+-3
        # packets: SIPp logs its send/receive times from user space)
        self.assertAlmostEqual(rep.count - 1, rep.duration / 0.020,
                               delta=1.0)
        self.assertAlmostEqual(rep.median_spacing, 0.020, delta=0.0005)
        t_200 = res.final_msg("INVITE").t
        t_bye = res.requests("BYE", "sent")[0].t
        self.assertAlmostEqual(rep.count, (t_bye - t_200) / 0.020, delta=3)

    def check_stats(self, conn, pkts, law):
        sid = conn.start["start"]["callSid"]
        rec = self.env.recent_call(sid)
        self.assertEqual(rec["end_reason"], "caller-bye")
        st = rec["stats"]
        self.assertEqual(st["rtp_rx"], 100)          # the pcap's packets
        self.assertEqual(st["rtp_tx"], len(pkts))
        self.assertEqual(st["ws_tx_media"],
                         len(conn.events(name="media")))
        self.assertEqual(st["marks"], 1)
        self.assertEqual(st["rtp_foreign"], 0)
        self.assertEqual(st["rtp_bad"], 0)
        self.assertEqual(st["agent_dropped"], 0)
        self.assertEqual([n for _, n in conn.mark_echoes()], ["end"])

    # -- the tests ---------------------------------------------------------

    def test_01_pcmu_udp(self):
        self.call("ulaw")
        self.env.take_baseline()

    def test_02_pcma_udp(self):
        self.call("alaw", seed=6)

    def test_03_pcmu_tcp(self):
        self.call("ulaw", transport="t1", seed=7)

    def test_04_number_forms(self):
        """Where the number comes from, and how it is written."""
        env = self.env
        host = "127.0.0.1:%d" % env.gw.sip_port
        cases = [
            # Request-URI, To URI, expected answer
            ("sip:%s@%s" % (NUMBER, host), "sip:x@%s" % host, 200),
            ("sip:14155550100@%s" % host, "sip:x@%s" % host, 200),
            ("sip:+1-415-555-0100@%s" % host, "sip:x@%s" % host, 200),
            ("sip:+1(415)555.0100@%s" % host, "sip:x@%s" % host, 200),
            ("sip:%%2B14155550100@%s" % host, "sip:x@%s" % host, 200),
            ("sip:+14155550100;isub=12@%s;user=phone" % host,
             "sip:x@%s" % host, 200),
            ("tel:+1-415-555-0100", "tel:+14155550100", 200),
            ("sip:%s" % host, "tel:+1.415.555.0100", 200),
            ("sip:%s" % host, "sip:+14155550100@%s" % host, 200),
            ("sip:+14155550199@%s" % host, "sip:%s@%s" % (NUMBER, host),
             404),
            ("sip:support@%s" % host, "sip:%s@%s" % (NUMBER, host), 404),
            ("sip:%s" % host, "sip:someone@%s" % host, 404),
        ]
        for ruri, to, code in cases:
            with self.subTest(ruri=ruri, to=to):
                w = env.workdir("form")
                env.pcap(w, "ulaw", 0.2, seed=9)
                before = {c["call_sid"] for c in env.recent()}
                res = env.sipp("uac_call.xml", w, keys={
                    "ruri": ruri, "to_uri": to, "fmt": "0 101",
                    "dir": "sendrecv", "ctype": "application/sdp",
                    "xhdr_a": "a", "xhdr_b": "b"},
                    sets={"hold": 200}).run()
                self.assertEqual(res.final("INVITE"), code, res.summary())
                env.wait_idle()
                new = [c for c in env.recent()
                       if c["call_sid"] not in before]
                if code == 200:
                    self.assertEqual([c["number"] for c in new], [NUMBER])
                else:
                    self.assertEqual(new, [])


if __name__ == "__main__":
    callenv.run_tests()
