#!/usr/bin/env python3
"""Issue 4, codec preference: the number's `codecs` list, else the trunk's,
else the gateway default (PCMU, PCMA, opus), decides which offered codec
the answer picks -- not the order of the offer.

Each case is one SIPp call (tests/sipp/media_offer.xml) to a number on a
trunk with the case's lists. Asserted from the 200 OK's SDP: exactly one
audio codec, the right one, with the offerer's payload type (Opus at any
dynamic PT, rtpmap opus/48000/2), plus telephone-event only at that
codec's clock rate when it was offered; the call's record names the same
codec. A call whose offer has nothing from the effective list gets
488 Not Acceptable Here, and no agent is bothered.
"""


import callenv
import media_harness as mh

# trunk id -> codecs
TRUNKS = {"pref-default": [], "pref-opus": ["opus", "PCMU"],
          "pref-alaw": ["PCMA"]}

CASES = [
    # name, trunk, number codecs, offer fmt, opus PT, expected answer
    # (codec, PT, telephone-event PT or None) or 488
    ("default-picks-pcmu", "pref-default", [], "111 8 0 101 102", 111,
     ("PCMU", 0, 101)),
    ("default-pcma-over-opus", "pref-default", [], "96 8", 96,
     ("PCMA", 8, None)),
    ("default-opus-alone", "pref-default", [], "96 102", 96,
     ("opus", 96, 102)),
    ("trunk-opus-first", "pref-opus", [], "0 8 111 101 102", 111,
     ("opus", 111, 102)),
    ("trunk-opus-peer-pt", "pref-opus", [], "0 120 101", 120,
     ("opus", 120, None)),
    ("trunk-then-pcmu", "pref-opus", [], "8 0 101", 111,
     ("PCMU", 0, 101)),
    ("trunk-refuses-pcma", "pref-opus", [], "8 101", 111, 488),
    ("number-overrides", "pref-opus", ["PCMA"], "0 8 111 101", 111,
     ("PCMA", 8, 101)),
    ("number-refuses", "pref-opus", ["PCMA"], "0 111 101 102", 111, 488),
    ("number-order", "pref-alaw", ["PCMU", "opus"], "111 8 0", 111,
     ("PCMU", 0, None)),
    ("number-opus-only", "pref-default", ["opus"], "0 8 97 101 102", 97,
     ("opus", 97, 102)),
]


class CodecPreferenceTest(callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        cls.env = mh.MediaEnv(agent_seconds=1.0)
        for tid, codecs in TRUNKS.items():
            cls.env.request("trunks.put", trunk={
                "id": tid, "kind": "byoc", "codecs": codecs})

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_answer_follows_preference(self):
        env = self.env
        placed = []
        for i, (name, trunk, ncodecs, fmt, opt, want) in enumerate(CASES):
            aid = "codec-%02d" % i
            env.agent(aid, "/record")
            number = "+14155558%03d" % i
            env.number(number, aid, trunk=trunk, codecs=ncodecs)
            call = mh.MediaCall(env, "media_offer.xml", number, aid,
                                keys={"fmt": fmt, "opus_pt": opt},
                                sets={"hold": 300}, sniff=False)
            placed.append((name, aid, want, call))
        mh.run_all([p[-1] for p in placed])

        for name, aid, want, call in placed:
            with self.subTest(case=name):
                res = call.result
                self.assertEqual(res.rc, 0, res.summary())
                if want == 488:
                    self.assertEqual(res.final("INVITE"), 488,
                                     res.summary())
                    self.assertEqual(env.conns(aid), [],
                                     "no agent for a refused call")
                    continue
                self.assertEqual(res.final("INVITE"), 200, res.summary())
                codec, pt, tpt = want
                ans = mh.answer_sdp(res)
                self.assertEqual(ans["fmts"], [pt] + ([tpt] if tpt else []),
                                 ans)
                enc = ans["rtpmap"].get(pt, "").lower()
                self.assertEqual(enc, {"PCMU": "pcmu/8000",
                                       "PCMA": "pcma/8000",
                                       "opus": "opus/48000/2"}[codec], ans)
                if tpt:
                    clock = 48000 if codec == "opus" else 8000
                    self.assertEqual(ans["rtpmap"][tpt].lower(),
                                     "telephone-event/%d" % clock)
                conn = env.conn(aid)
                rec = env.call_record(conn)
                self.assertEqual(rec["codec"], codec)


if __name__ == "__main__":
    callenv.run_tests()
