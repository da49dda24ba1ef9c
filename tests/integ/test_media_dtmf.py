#!/usr/bin/env python3
"""Issue 4, DTMF both ways through the real gateway.

Caller to agent: SIPp plays its own RFC 4733 pcaps
(/usr/share/sip-tester/dtmf_2833_*.pcap: a start packet with the marker,
updates, the end packet three times) after some audio (SIPp's own
g711a.pcap, 30 ms packets of another SSRC, cut to one second; or a PCMU
speech-like signal), one key after another. The agent gets each key as
exactly one `dtmf` message (Twilio format: track "inbound_track"), in
order, on protocol twilio and raw, and the call's dtmf_rx counter agrees.

Agent to caller: cb-test-agent sends `{"event": "dtmf", "dtmf": {"digit":
.., "duration": ..}}`. With telephone-event in the SDP, the RTP sent to the
caller (captured on a UDP socket the SDP names) carries each key as a
valid RFC 4733 event in the negotiated payload type at the negotiated
clock (telephone-event/8000 on PCMU, telephone-event/48000 on Opus):
marker on the first packet only, one timestamp (the event's start, on the
audio's timeline) for all its packets, durations growing by one packet
time up to the key's length, exactly three end packets with the final
duration, volume 10 (-10 dBm0), the event code of the digit, sequence
numbers continuing the audio's, no audio packet while the event plays,
audio again afterwards. Without telephone-event the keys go as SIP INFO
(application/dtmf-relay, Signal= and Duration=), which SIPp answers with
200; the RTP then carries audio only.

Offer in the 200 (INVITE without SDP), answered with other numbers
(telephone-event at 96 for our 101; Opus at 96 and telephone-event/48000
at 97 for our 111 and 102): the agent's keys and audio go out with the
answer's numbers, and the caller's key, sent with our 101, still reaches
the agent (RFC 3264 5.1: each side receives with its own SDP's numbers).
"""

import os
import struct

import agentlog
import callenv
import media_harness as mh
import mkpcap

DIGITS_TS_ORDER = ["1", "0", "2", "3", "4", "5", "6", "7", "8", "9", "*",
                   "#"]
CODES = "0123456789*#ABCD"


def sipp_g711a(seconds):
    """SIPp's g711a.pcap (PCMA, 30 ms packets), cut to its first seconds,
    as a Source."""
    pk = mkpcap.read_pcap(os.path.join(mh.SIPP_PCAPS, "g711a.pcap"))
    t0 = pk[0].t
    keep = [p for p in pk if p.t - t0 < seconds]
    frames = [(p.t, p.payload, mkpcap._udp(p.src, p.sport, p.dst, p.dport,
                                           p.payload, i))
              for i, p in enumerate(keep)]
    return mh.Source(frames, b"", 8000, "alaw")


class DtmfTest(callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        cls.env = mh.MediaEnv(agent_seconds=2.0)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def line(self, path, proto="twilio", enc="mulaw", rate=8000):
        DtmfTest.n += 1
        aid = "dtmf-%02d" % self.n
        self.env.agent(aid, path, protocol=proto, encoding=enc, rate=rate)
        number = "+14155556%03d" % self.n
        self.env.number(number, aid)
        return aid, number

    # -- caller -> agent ---------------------------------------------------

    def test_sipp_pcaps_reach_the_agent_once_each(self):
        callenv.require_sipp(pcap=True)
        cases = [
            # name, agent protocol, offer, audio source
            ("pcma-sipp-audio", "twilio", "8 101", sipp_g711a(1.0)),
            ("pcmu-raw", "raw", "0 101",
             mh.Source.speech_g711("ulaw", 1.0, seed=41)),
        ]
        placed = []
        for name, proto, fmt, audio in cases:
            aid, number = self.line("/record", proto,
                                    "l16" if proto == "raw" else "mulaw",
                                    16000 if proto == "raw" else 8000)
            files = {"audio.pcap": audio}
            for i, d in enumerate(DIGITS_TS_ORDER):
                files["d%02d.pcap" % (i + 1)] = mh.sipp_dtmf(d)
            call = mh.MediaCall(self.env, "media_dtmf.xml", number, aid,
                                keys={"fmt": fmt}, files=files, sniff=False,
                                sets={"lead": 100, "audio": 1100,
                                      "gap": 250, "tail": 600})
            placed.append((name, aid, proto, call))
        mh.run_all([c for *_, c in placed])

        for name, aid, proto, call in placed:
            with self.subTest(case=name):
                res = call.result
                self.assertEqual(res.rc, 0, res.summary())
                conn = self.env.conn(aid)
                if proto == "raw":
                    self.assertEqual(agentlog.check_raw_stream(conn, 16000),
                                     [])
                else:
                    self.assertEqual(agentlog.check_twilio_stream(conn), [])
                got = conn.dtmf_digits()
                self.assertEqual(got, DIGITS_TS_ORDER,
                                 "each key exactly once, in order")
                for f in conn.events(name="dtmf"):
                    self.assertEqual(f.json["dtmf"]["track"],
                                     "inbound_track")
                    self.assertEqual(f.json["streamSid"], conn.stream_sid)
                st = self.env.call_record(conn)["stats"]
                self.assertEqual(st["dtmf_rx"], len(DIGITS_TS_ORDER), st)
                self.assertEqual(st["rtp_bad"], 0, st)

    # -- agent -> caller ---------------------------------------------------

    def test_agent_dtmf_as_rfc4733(self):
        # ('#' cannot be scripted: cb-test-agent takes its script from
        # the URL path, where '#' starts a fragment, and does not
        # percent-decode)
        keys = [("5", 200), ("*", 400), ("1", 40), ("D", 130)]
        script = ",".join("dtmf:%s:%d,wait:500" % (d, ms)
                          for d, ms in keys)
        cases = [
            # name, offer, audio PT, telephone-event PT, clock, ptime
            ("pcmu", {"fmt": "0 101"}, 0, 101, 8000, 20),
            ("pcmu-30ms", {"fmt": "0 101", "ptime": 30}, 0, 101, 8000, 30),
            ("opus", {"fmt": "111 101 102", "opus_pt": 111,
                      "te48_pt": 102}, 111, 102, 48000, 20),
            ("opus-pt97", {"fmt": "97 98", "opus_pt": 97, "te48_pt": 98},
             97, 98, 48000, 20),
        ]
        with mh.rtpsniff.RtpHub() as hub:
            placed = []
            for name, offer, apt, tpt, clock, ptime in cases:
                aid, number = self.line("/script/wait:300," + script)
                ep = hub.endpoint()
                k = dict(offer)
                k["rtp_port"] = ep.port
                call = mh.MediaCall(self.env, "media_offer.xml", number,
                                    aid, keys=k, sniff=False,
                                    sets={"hold": 3500})
                placed.append((name, aid, apt, tpt, clock, ptime, ep, call))
            mh.run_all([p[-1] for p in placed])
            for name, aid, apt, tpt, clock, ptime, ep, call in placed:
                with self.subTest(case=name):
                    res = call.result
                    self.assertEqual(res.rc, 0, res.summary())
                    ans = mh.answer_sdp(res)
                    self.assertEqual(ans["fmts"], [apt, tpt], ans)
                    self.assertEqual(ans["rtpmap"][tpt].lower(),
                                     "telephone-event/%d" % clock)
                    self.assertEqual(res.requests("INFO"), [],
                                     "no SIP INFO with telephone-event")
                    pkts = [mh.rtpsniff.parse_rtp(p.payload)
                            for p in ep.rtp()]
                    self.check_events(pkts, keys, apt, tpt, clock, ptime)
                    conn = self.env.conn(aid)
                    st = self.env.call_record(conn)["stats"]
                    self.assertEqual(st["dtmf_tx"], len(keys), st)

    def test_offer_in_200_answer_numbers_its_own(self):
        # INVITE without SDP: the gateway offers PCMU 0, Opus 111,
        # telephone-event 101 (8 kHz) and 102 (48 kHz); the answer in the
        # ACK numbers them its own way. RFC 3264 5.1: each side receives
        # with the numbers of its own SDP, so the agent's keys (and Opus)
        # go out with the answer's numbers, and the caller's key, sent
        # with the offer's 101 (SIPp's pcap), still reaches the agent.
        callenv.require_sipp(pcap=True)
        keys = [("5", 200), ("*", 400)]
        script = ",".join("dtmf:%s:%d,wait:500" % (d, ms)
                          for d, ms in keys)
        cases = [
            # name, answer, audio PT, telephone-event PT, clock, caller
            # key taken
            ("pcmu-te96", {"fmt": "0 96", "te_pt": 96, "opus_pt": 98,
                           "te48_pt": 99}, 0, 96, 8000, True),
            ("opus96-te97", {"fmt": "96 97", "opus_pt": 96, "te_pt": 98,
                             "te48_pt": 97}, 96, 97, 48000, False),
        ]
        placed = []
        for name, answer, apt, tpt, clock, rx in cases:
            aid, number = self.line("/script/wait:300," + script)
            call = mh.MediaCall(self.env, "media_nosdp.xml", number, aid,
                                keys=answer, sniff=True,
                                files={"d01.pcap": mh.sipp_dtmf("7")},
                                sets={"lead": 400, "tail": 2600})
            placed.append((name, aid, apt, tpt, clock, rx, call))
        mh.run_all([p[-1] for p in placed])
        for name, aid, apt, tpt, clock, rx, call in placed:
            with self.subTest(case=name):
                res = call.result
                self.assertEqual(res.rc, 0, res.summary())
                offer = mh.answer_sdp(res)
                self.assertEqual(offer["rtpmap"][101].lower(),
                                 "telephone-event/8000", offer)
                self.assertEqual(offer["rtpmap"][102].lower(),
                                 "telephone-event/48000", offer)
                self.assertEqual(res.requests("INFO"), [],
                                 "no SIP INFO with telephone-event")
                pkts = [mh.rtpsniff.parse_rtp(p.payload)
                        for p in call.rtp]
                self.check_events(pkts, keys, apt, tpt, clock, 20)
                conn = self.env.conn(aid)
                st = self.env.call_record(conn)["stats"]
                self.assertEqual(st["dtmf_tx"], len(keys), st)
                if rx:
                    self.assertEqual(conn.dtmf_digits(), ["7"])
                    self.assertEqual(st["dtmf_rx"], 1, st)
                    self.assertEqual(st["rtp_bad"], 0, st)

    def check_events(self, pkts, keys, apt, tpt, clock, ptime):
        step = clock * ptime // 1000
        self.assertEqual({p["pt"] for p in pkts}, {apt, tpt})
        self.assertEqual(len({p["ssrc"] for p in pkts}), 1, "one SSRC")
        seqs = [p["seq"] for p in pkts]
        self.assertEqual({(b - a) & 0xFFFF for a, b in zip(seqs, seqs[1:])},
                         {1}, "events take the audio's sequence numbers")

        # split the stream into runs of telephone-event packets
        events, cur = [], None
        for i, p in enumerate(pkts):
            if p["pt"] == tpt:
                if cur is None:
                    cur = {"first": i, "pkts": []}
                    events.append(cur)
                cur["pkts"].append(p)
            else:
                cur = None
        self.assertEqual(len(events), len(keys),
                         "one run of telephone-event packets per key")

        for (digit, ms), ev in zip(keys, events):
            with self.subTest(digit=digit):
                ep = ev["pkts"]
                units = ms * clock // 1000
                rep = [mkpcap.parse_rtp(_raw(p))["event"] for p in ep]
                self.assertTrue(all(len(p["payload"]) == 4 for p in ep))
                self.assertEqual({r["event"] for r in rep},
                                 {CODES.index(digit)})
                self.assertEqual({r["volume"] for r in rep}, {10})
                self.assertEqual([p["marker"] for p in ep],
                                 [True] + [False] * (len(ep) - 1))
                self.assertEqual({p["ts"] for p in ep}, {ep[0]["ts"]},
                                 "one timestamp: the event's start")
                ends = [r for r in rep if r["end"]]
                self.assertEqual(len(ends), 3, "the end packet, 3 times")
                self.assertTrue(all(r["end"] for r in rep[-3:]))
                self.assertEqual({r["duration"] for r in ends}, {units})
                updates = [r["duration"] for r in rep if not r["end"]]
                want = list(range(step, units, step)) + [units]
                self.assertEqual(updates, want, "durations grow by one "
                                 "packet time to the key's length")
                # on the audio's timeline: the packet before the event
                # is the audio of the previous packet time
                # (a worker stalled by a loaded machine skips the ticks it
                # missed: the timestamp then jumps by whole packet times)
                before = pkts[ev["first"] - 1]
                self.assertEqual(before["pt"], apt)
                gap = (ep[0]["ts"] - before["ts"]) & 0xFFFFFFFF
                self.assertTrue(gap >= step and gap % step == 0, gap)
                after = pkts[ev["first"] + len(ep)]
                self.assertEqual(after["pt"], apt, "audio resumes")
                gap = (after["ts"] - ep[0]["ts"]) & 0xFFFFFFFF
                self.assertTrue(gap >= step * len(ep) and gap % step == 0,
                                "audio resumes on its own timeline: %d"
                                % gap)

    def test_agent_dtmf_as_sip_info(self):
        keys = [("7", 250), ("*", 120), ("B", 5000)]
        script = ",".join("dtmf:%s:%d,wait:300" % (d, ms) for d, ms in keys)
        with mh.rtpsniff.RtpHub() as hub:
            ep = hub.endpoint()
            aid, number = self.line("/script/wait:200," + script)
            call = mh.MediaCall(self.env, "media_info.xml", number, aid,
                                keys={"fmt": "0", "rtp_port": ep.port},
                                sniff=False)
            res = call.run()
            pkts = [mh.rtpsniff.parse_rtp(p.payload) for p in ep.rtp()]
        self.assertEqual(res.rc, 0, res.summary())
        ans = mh.answer_sdp(res)
        self.assertEqual(ans["fmts"], [0], "no telephone-event offered")
        infos = res.requests("INFO")
        self.assertEqual(len(infos), len(keys), res.summary())
        for (digit, ms), m in zip(keys, infos):
            with self.subTest(digit=digit):
                self.assertEqual(m.header("content-type").split(";")[0]
                                 .strip().lower(), "application/dtmf-relay")
                body = dict(line.split("=", 1) for line in
                            m.body.replace("\r", "").split("\n")
                            if "=" in line)
                self.assertEqual(body.get("Signal", "").strip(), digit)
                self.assertEqual(body.get("Duration", "").strip(), str(ms))
        # SIPp answered every INFO with 200
        oks = res.sent(lambda m: m.code == 200 and m.cseq_method == "INFO")
        self.assertEqual(len(oks), len(keys))
        self.assertGreater(len(pkts), 50)
        self.assertEqual({p["pt"] for p in pkts}, {0}, "audio only")
        conn = self.env.conn(aid)
        st = self.env.call_record(conn)["stats"]
        self.assertEqual(st["dtmf_tx"], len(keys), st)


def _raw(p):
    """Rebuild RTP bytes from a parsed packet (for mkpcap.parse_rtp)."""
    return struct.pack("!BBHII", 0x80, (0x80 if p["marker"] else 0) |
                       p["pt"], p["seq"], p["ts"], p["ssrc"]) + p["payload"]


if __name__ == "__main__":
    callenv.run_tests()
