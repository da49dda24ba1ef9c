#!/usr/bin/env python3
"""Impairment end to end, G.711 (issue 4, "Tests" -> "Impairment").

SIPp plays 10 s of seeded noise (every 20 ms frame unique) as PCMU or
PCMA; tests/tools/relay.py drops, delays, reorders and duplicates its RTP
by a seeded schedule on the way to callbridge; cb-test-agent (µ-law 8 kHz)
records what it gets. The test asserts, per call:

  - 50 frames per second, no gap: chunk 1..n, timestamps +20 ms, n equal
    to the call's time in 20 ms within 2, no frame lagging the 20 ms grid
    by more than 60 ms (see check_pacing());
  - stats.jitter_buffer (calls.get after hang-up) against the relay's log:
    received, duplicate, lost, reordered exactly; late plus dropped (the
    buffer's skips after a stall of the host) exactly the packets
    delivered but not played; concealed exactly the concealed frames;
  - the audio: every frame is packet k's bytes (PCMA: G.711 Table 4), a
    frame whose last 10 ms are packet k's right after a concealment (the
    cross-fade), a concealed frame, or silence at the end; packets in
    order, none the relay dropped.

A clean call through the same relay conceals nothing, loses nothing and
waits for nothing (target ~0). Each call prints its figures, including the
latency from the relay's delivery of a packet to the agent's receipt of
its frame.

Exit 77 (skipped) without sipp or raw sockets (play_pcap_audio needs
root).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_impair_common as C  # noqa: E402

SECONDS = 10.0
IMPAIRED = dict(seed=4242, loss=5, reorder=10, reorder_ms=30, dup=2,
                jitter=40, late=2, late_ms=150, clean_first=10)


class G711Impairment(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.bench = C.Bench()
        cls.bench.__enter__()
        cls.bench.add_number("+14155550111", codecs=["PCMU"])
        cls.bench.add_number("+14155550112", codecs=["PCMA"])

    @classmethod
    def tearDownClass(cls):
        cls.bench.__exit__(None, None, None)

    def run_call(self, number, law, seconds, relay, seed):
        src = C.g711_source(self.bench.tmp, law, seconds, seed)
        call = self.bench.call(number, src, relay)
        slots = C.classify_g711(call)
        metrics = {}
        problems = (C.check_counters(call) + C.check_stream(call) +
                    C.check_pacing(call, metrics) +
                    C.check_slots(call, slots, metrics))
        problems += C.check_decoder(call, metrics)
        print(C.summary("%s %s" % (law, "impaired" if relay.get("loss")
                                   else "clean"), call, metrics, slots))
        return call, slots, metrics, problems

    def check_impaired(self, number, law):
        call, slots, metrics, problems = self.run_call(
            number, law, SECONDS, IMPAIRED, seed=17)
        self.assertEqual(problems, [])
        exp, st = call.expected, call.stats
        # the schedule did exercise every counter
        for k in ("lost", "duplicate", "reordered"):
            self.assertGreater(exp[k], 0, k)
        self.assertGreater(st["late"], 0)
        self.assertTrue(any(s.kind == "xfade" for s in slots))
        # the pacing bound could fail: the input broke it by far
        self.assertGreater(C.input_lag_ms(call), 2 * C.STALL_BOUND_MS)
        # the concealed frames are the losses; the cross-faded heads
        # still resemble the source
        src = call.src
        for k, s in enumerate(slots):
            if s.kind == "xfade":
                snr = C.snr_db(C.frame_pcm(call, k), src.pcm_frame(s.seq))
                self.assertGreater(snr, 6.0, "chunk %d" % (k + 1))
        self.assertGreater(st["target_ms"], 20)

    def test_pcmu_impaired(self):
        self.check_impaired("+14155550111", "ulaw")

    def test_pcma_impaired(self):
        self.check_impaired("+14155550112", "alaw")

    def test_pcmu_clean(self):
        for _ in range(C.CLEAN_TRIES):
            call, slots, metrics, problems = self.run_call(
                "+14155550111", "ulaw", 5.0, dict(seed=1), seed=23)
            if C.input_clean(call):
                break
            print("input not clean: a packet lagged the first one's "
                  "schedule by %.1f ms (host busy), again"
                  % C.input_lateness_ms(call))
        self.assertEqual(problems, [])
        st = call.stats
        self.assertEqual(call.relay_stats["rtp_in"], 250)
        self.assertEqual(st["received"], 250)
        for k in ("lost", "duplicate", "reordered"):
            self.assertEqual(st[k], 0, k)
        if not C.input_clean(call):
            print("NOTE: the carrier's pacing was never clean in %d tries "
                  "(host busy): concealment and wait not asserted"
                  % C.CLEAN_TRIES)
            return
        self.assertEqual(st["late"], 0)
        # nothing concealed but the stream's end; every packet played as
        # it is, in one frame each
        self.assertEqual(st["concealed"], C.SILENCE_AFTER)
        played = [s for s in slots if s.played]
        self.assertEqual([s.kind for s in played], ["frame"] * 250)
        # no added wait: the target stays at the minimum, and no packet
        # waited for another (depth: the packet itself at most)
        self.assertLessEqual(st["target_ms"], 5)
        self.assertLessEqual(st["depth_max_ms"], 20)


if __name__ == "__main__":
    why = C.skip_reason()
    if why:
        print("skipped: %s" % why)
        sys.exit(C.SKIP)
    unittest.main(verbosity=2)
