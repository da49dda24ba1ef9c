#!/usr/bin/env python3
"""Issue 4, Opus (RFC 7587) end to end through the real gateway.

Caller to agent: tests/tools/opus_pcap writes Opus RTP of the 48 kHz
speech-like signal, SIPp plays it as the carrier (SDP offering
opus/48000/2 with the payload type of the case), and the audio the agent
receives must be that signal (compared block by block by
tests/tools/sigcmp, thresholds mh.OPUS_MATCH, justified in
test_media_formats.py). Cases: a mulaw/8000 and an l16/16000 agent (the
brief's two), a stereo-coded stream, packets of 10, 40 and 60 ms, and a
DTX stream (pauses not sent: the gap is silence, not loss), and
packets of 120 ms (two 60 ms frames) decoded at 48 kHz.

Agent to caller: the SDP names a UDP socket of this test instead of
SIPp's media port, the agent plays its speech-like signal, and the RTP
the gateway sends there is decoded with libopus (tests/tools/opus_dec)
and must match what the agent sent. Per case the peer's fmtp must be
honoured: the payload type the offer chose, RFC 7587's 48 kHz clock
(timestamp step = packet time x 48), ptime (fmtp or a=ptime),
maxplaybackrate (the coded bandwidth, from each packet's TOC),
maxaveragebitrate (the bitrate of the stream), usedtx (silence coded as
DTX frames of at most 2 bytes). The answer tells the caller the agent's
band: maxplaybackrate and sprop-maxcapturerate at the agent's rate, below
48 kHz.
"""


import agentlog
import callenv
import media_harness as mh

SECONDS = 3.0

NB, MB, WB, SWB, FB = 1101, 1102, 1103, 1104, 1105


class OpusTest(callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp(pcap=True)
        cls.env = mh.MediaEnv(agent_seconds=SECONDS)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def line(self, agent_path, enc="l16", rate=16000, proto="twilio"):
        """A fresh agent and number; returns (agent id, number)."""
        OpusTest.n += 1
        aid = "opus-%02d" % self.n
        self.env.agent(aid, agent_path, protocol=proto, encoding=enc,
                       rate=rate)
        number = "+14155554%03d" % self.n
        self.env.number(number, aid)
        return aid, number

    # -- caller -> agent -----------------------------------------------------

    def test_caller_to_agent(self):
        cases = [
            # name, agent encoding, rate, opus_pcap options, stereo, PT,
            # fmtp of the offer
            ("mulaw8", "mulaw", 8000, (), False, 111, "useinbandfec=1"),
            ("l16-16k", "l16", 16000, (), False, 111, "useinbandfec=1"),
            ("stereo", "l16", 16000, (), True, 96,
             "stereo=1;sprop-stereo=1"),
            ("10ms", "l16", 48000, ("--ptime", 10), False, 100,
             "minptime=10"),
            ("40ms", "mulaw", 8000, ("--ptime", 40), False, 111,
             "ptime=40"),
            ("60ms", "l16", 24000, ("--ptime", 60), False, 127, ""),
            # two 60 ms frames a packet, decoded at 48 kHz: 5760 samples
            ("120ms", "l16", 48000, ("--ptime", 120), False, 111, ""),
            ("dtx", "l16", 16000, ("--dtx",), False, 111, "usedtx=1"),
        ]
        placed = []
        for name, enc, rate, extra, stereo, pt, fmtp in cases:
            aid, number = self.line("/record", enc, rate)
            src = mh.Source.speech_opus(SECONDS, seed=300 + len(placed),
                                        pt=pt, extra=extra, stereo=stereo)
            call = mh.MediaCall(self.env, "media_call.xml", number, aid,
                                keys={"fmt": "%d 102" % pt, "opus_pt": pt,
                                      "opus_fmtp": fmtp or "minptime=10"},
                                files={"call.pcap": src}, sniff=False,
                                sets={"lead": 200, "hold": 3600})
            placed.append((name, aid, enc, rate, src, call))
        mh.run_all([p[-1] for p in placed])

        for name, aid, enc, rate, src, call in placed:
            with self.subTest(case=name):
                res = call.result
                self.assertEqual(res.rc, 0, res.summary())
                ans = mh.answer_sdp(res)
                pt = call.keys["opus_pt"]
                self.assertEqual(ans["fmts"][0], pt, ans)
                self.assertEqual(ans["rtpmap"][pt].lower(), "opus/48000/2")
                # the agent's band, told to the caller (RFC 7587 6.1):
                # nothing above it is worth coding, or sent back
                fp = dict(kv.split("=", 1) for kv in
                          ans["fmtp"].get(pt, "").split(";") if "=" in kv)
                want = str(rate) if rate < 48000 else None
                self.assertEqual((fp.get("maxplaybackrate"),
                                  fp.get("sprop-maxcapturerate")),
                                 (want, want), ans["fmtp"])
                conn = self.env.conn(aid)
                fmt = {"encoding": "audio/x-mulaw" if enc == "mulaw" else
                       "audio/l16", "sampleRate": rate, "channels": 1}
                self.assertEqual(agentlog.check_twilio_stream(conn, fmt), [])
                frame = rate // 50 * (1 if enc == "mulaw" else 2)
                self.assertEqual(mh.frame_problems(conn, frame), [])
                r = mh.compare(src.ref, 48000, conn.inbound_audio, rate,
                               at=min(rate, 16000),
                               ulaw_test=enc == "mulaw",
                               good_db=mh.OPUS_MATCH[1])
                print("  %-8s %s" % (name, mh.describe(r)))
                self.assertEqual(mh.match_problems(r, mh.OPUS_MATCH), [],
                                 mh.describe(r))
                self.check_exact(src, conn, enc, rate)
                rec = self.env.call_record(conn)
                self.assertEqual(rec["codec"], "opus")
                st = rec["stats"]
                self.assertEqual(st["rtp_bad"], 0, st)
                if name == "dtx":
                    # the pauses were not sent: DTX, not loss
                    self.assertEqual(st["jitter_buffer"]["lost"], 0, st)

    def test_malformed_payloads_counted(self):
        """Opus payloads the decoder refuses (RFC 6716 3.2.5's forbidden
        0-frame packet, every 10th) are concealed like lost ones and
        counted in stats.decoder.decode_errors; the stream to the agent
        goes on at 50 frames a second to the end."""
        aid, number = self.line("/record", "l16", 16000)
        src = mh.Source.speech_opus(SECONDS, seed=399)
        bad = src.corrupt_opus(every=10)
        call = mh.MediaCall(self.env, "media_call.xml", number, aid,
                            keys={"fmt": "111 102", "opus_pt": 111,
                                  "opus_fmtp": "minptime=10"},
                            files={"call.pcap": src}, sniff=False,
                            sets={"lead": 200, "hold": 3600})
        mh.run_all([call])
        self.assertEqual(call.result.rc, 0, call.result.summary())
        conn = self.env.conn(aid)
        self.assertEqual(mh.frame_problems(conn, 640), [])
        st = self.env.call_record(conn)["stats"]
        dec, jb = st["decoder"], st["jitter_buffer"]
        print("  malformed: %d sent, decoder %s, jb late %d"
              % (len(bad), dec, jb["late"]))
        self.assertGreater(len(bad), 5)
        # every one reached the decoder, but those the buffer had to
        # drop as late (a busy host)
        self.assertLessEqual(dec["decode_errors"], len(bad))
        self.assertGreaterEqual(dec["decode_errors"], len(bad) - jb["late"])
        self.assertGreaterEqual(dec["concealed"], dec["decode_errors"])
        self.assertEqual(st["rtp_bad"], 0, st)

    def check_exact(self, src, conn, enc, rate):
        """libopus decodes at 8, 12, 16, 24 and 48 kHz: the gateway must
        decode at the agent's rate, so what the agent gets is, byte for
        byte, libopus's own decoding of the caller's packets at that rate
        (then µ-law for a mulaw agent). Concealment under load makes the
        decoder's state differ for a while; the longest exact stretch
        must still be half a second (normally it is the whole call)."""
        total, equal, best, r = mh.opus_exact(src, conn.inbound_audio,
                                              rate, ulaw=enc == "mulaw")
        print("           libopus at %d Hz: %d of %d frames equal, longest "
              "run %d" % (rate, equal, total, best))
        self.assertGreaterEqual(best, 25, "gateway's decoding at %d Hz is "
                                "not libopus's: %s" % (rate,
                                                       mh.describe(r)))

    # -- agent -> caller -----------------------------------------------------

    def test_agent_to_caller(self):
        cases = [
            # name, agent encoding, rate, PT, fmtp, a=ptime, agent path,
            # expected packet time, largest bandwidth
            ("l16-16k", "l16", 16000, 96, "useinbandfec=1", 20,
             "/script/play:all", 20, WB),
            ("mulaw8", "mulaw", 8000, 111, "useinbandfec=1", 20,
             "/script/play:all", 20, NB),
            ("48k-nb-40ms", "l16", 48000, 98,
             "maxplaybackrate=8000;ptime=40", 20, "/script/play:all", 40,
             NB),
            ("raw24k-60ms", "l16", 24000, 120, "useinbandfec=1", 60,
             "/raw/script/play:all", 60, SWB),
            ("bitrate", "l16", 48000, 111, "maxaveragebitrate=10000", 20,
             "/script/play:all", 20, FB),
            ("dtx", "l16", 16000, 111, "usedtx=1", 20,
             "/script/wait:1200,play:all", 20, WB),
            ("no-dtx", "l16", 16000, 111, "useinbandfec=1", 20,
             "/script/wait:1200,play:all", 20, WB),
        ]
        with mh.rtpsniff.RtpHub() as hub:
            placed = []
            for name, enc, rate, pt, fmtp, ptime, path, want_ms, bw in cases:
                aid, number = self.line(path, enc, rate,
                                        "raw" if path.startswith("/raw")
                                        else "twilio")
                ep = hub.endpoint()
                call = mh.MediaCall(self.env, "media_offer.xml", number,
                                    aid, sniff=False,
                                    keys={"fmt": "%d" % pt, "opus_pt": pt,
                                          "opus_fmtp": fmtp,
                                          "ptime": ptime,
                                          "rtp_port": ep.port},
                                    sets={"hold": 4600})
                placed.append((name, aid, enc, rate, pt, want_ms, bw, ep,
                               call))
            mh.run_all([p[-1] for p in placed])
            for name, aid, enc, rate, pt, want_ms, bw, ep, call in placed:
                with self.subTest(case=name):
                    self.check_sent(name, aid, enc, rate, pt, want_ms, bw,
                                    ep, call)

    def check_sent(self, name, aid, enc, rate, pt, want_ms, bw, ep, call):
        res = call.result
        self.assertEqual(res.rc, 0, res.summary())
        ans = mh.answer_sdp(res)
        self.assertEqual(ans["fmts"], [pt], ans)
        pkts = ep.rtp()
        self.assertGreater(len(pkts), 50, "RTP reached the caller's socket")
        conn = self.env.conn(aid)
        audio, rep = mh.opus_decode([p.payload for p in pkts], 48000)
        print("  %-11s %d packets, %s bytes, sizes %s, bandwidth %s, "
              "modes %s" % (name, rep["packets"], rep["bytes"],
                            rep["frame_size_01ms"], rep["bandwidth"],
                            rep["mode"]))
        self.assertEqual(rep["decoded_pt"], pt)
        self.assertEqual(rep["pt"], {str(pt): rep["packets"]},
                         "only the negotiated payload type")
        self.assertEqual(len(rep["ssrc"]), 1, "one SSRC")
        self.assertEqual(rep["seq_step"], {"1": rep["packets"] - 1})
        # 48 kHz clock, one packet per packet time (a worker stalled by a
        # loaded machine skips the ticks it missed: whole packet times)
        step = 48 * want_ms
        self.assertEqual({int(k) % step for k in rep["ts_step"]}, {0},
                         rep["ts_step"])
        self.assertEqual(rep["frame_size_01ms"],
                         {str(10 * want_ms): rep["packets"]})
        self.assertTrue(rep["first_marker"])
        # timestamp steps of more than one packet time: DTX pauses (with
        # usedtx=1) or ticks a loaded machine skipped
        gaps = sum(n for k, n in rep["ts_step"].items() if int(k) > step)
        if name == "dtx":
            # RFC 7587 3.1.3: the "nothing new" frames are left out and
            # each talk spurt after a pause starts with the marker bit
            self.assertGreater(gaps, 0, "usedtx=1: silence leaves gaps")
            self.assertEqual(rep["markers"], 1 + gaps, rep["ts_step"])
        else:
            self.assertGreaterEqual(rep["ts_step"].get(str(step), 0),
                                    0.95 * (rep["packets"] - 1),
                                    rep["ts_step"])
            self.assertEqual(rep["markers"], 1)
        self.assertEqual(rep["decode_errors"], 0)
        self.assertEqual(rep["channels_coded"], {"1": rep["packets"]},
                         "the gateway codes mono")
        self.assertLessEqual(max(int(b) for b in rep["bandwidth"]), bw,
                             rep["bandwidth"])
        # 1000 / ptime packets a second over the time they span (receive
        # times are taken in user space by the test's socket thread:
        # +-5 % or 5 packets)
        span = pkts[-1].t - pkts[0].t
        if name != "dtx":
            self.assertAlmostEqual(len(pkts) - 1, span * 1000 / want_ms,
                                   delta=max(5, 0.05 * len(pkts)),
                                   msg="%d packets over %.3f s" %
                                   (len(pkts), span))

        sent = conn.outbound_audio
        r = mh.compare(sent, rate, audio, 48000, at=8000,
                       ulaw_ref=enc == "mulaw",
                       good_db=mh.OPUS_MATCH[1])
        print("  %-11s %s" % ("", mh.describe(r)))
        self.assertEqual(mh.match_problems(r, mh.OPUS_MATCH), [],
                         mh.describe(r))

        sizes = [len(mh.rtpsniff.parse_rtp(p.payload)["payload"])
                 for p in pkts]
        if name == "bitrate":
            kbps = rep["bytes"] * 8 / (len(pkts) * want_ms)
            self.assertLessEqual(kbps, 10 * 1.15, "maxaveragebitrate")
        if name == "dtx":
            self.assertEqual([n for n in sizes if n <= 2], [],
                             "usedtx=1: DTX frames are not sent")
            ts = [mh.rtpsniff.parse_rtp(p.payload)["ts"] for p in pkts]
            self.assertLess(sum(1 for t in ts if t - ts[0] < 48 * 800),
                            30, "the agent's 800 ms of silence is a gap")
        if name == "no-dtx":
            self.assertEqual([n for n in sizes if n <= 2], [],
                             "no DTX unless the peer asks for it")


if __name__ == "__main__":
    callenv.run_tests()
