#!/usr/bin/env python3
"""Impairment end to end, Opus (issue 4, "Tests" -> "Impairment").

SIPp plays 10 s of a tone that changes frequency every 20 ms, encoded by
tests/tools/opus_pcap at 16 kHz with in-band FEC; tests/tools/relay.py
drops, delays, reorders and duplicates its RTP by a seeded schedule on the
way to callbridge; cb-test-agent (l16 at 16 kHz, so libopus decodes
straight to the agent's rate) records what it gets. Per call:

  - 50 frames per second, no gap (as in test_impair_g711.py);
  - stats.jitter_buffer against the relay's log: received, duplicate,
    lost, reordered exactly; late plus dropped (the buffer's skips after a
    stall of the host) exactly the delivered packets that were not
    decoded; concealed the frames concealed (PLC or FEC);
  - the audio: libopus through ctypes replays the gateway's decoder, and
    every frame must be, bit for bit, packet k decoded, packet k recovered
    by FEC from packet k+1, or PLC, from the state the frames before it
    left (test_impair_common.classify_opus); packets in order, none the
    relay dropped decoded as such; FEC used where it can be; the decoded
    frames as close to the source as a loss-free decode of the same
    packets, but for the few frames after each loss where the decoder
    converges again (bounded below).

A clean call conceals nothing and waits for nothing. Exit 77 (skipped)
without sipp, raw sockets, opus_pcap or libopus.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_impair_common as C  # noqa: E402

SECONDS = 10.0
RATE = 16000
L16 = {"encoding": "audio/l16", "sampleRate": RATE, "channels": 1}
IMPAIRED = dict(seed=777, loss=5, reorder=10, reorder_ms=30, dup=2,
                jitter=40, late=2, late_ms=150, clean_first=10)


def codec_delay(src, ref_frames):
    """Samples by which a decoded stream lags the source (the encoder's
    look-ahead and the decoder's delay), from the first 20 frames."""
    out = [x for f in ref_frames[:20] for x in f]
    n = len(out)

    def corr(d):
        a, b = out[d:], src.pcm[:n - d]
        sab = sum(x * y for x, y in zip(a, b))
        return sab / (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5

    return max(range(0, 480), key=corr)


def reference_decode(src):
    """Every packet decoded in order by a fresh decoder: {seq: samples}."""
    import struct
    ref = C.OpusRef(src.rate)
    out = {}
    for seq in sorted(src.payload):
        d = ref.attempt(src.payload[seq])
        ref.keep()
        out[seq] = list(struct.unpack("<%dh" % (len(d) // 2), d))
    return out


class OpusImpairment(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.bench = C.Bench()
        cls.bench.__enter__()
        cls.bench.add_number("+14155550121", codecs=["opus"],
                             audio={"encoding": "l16", "sample_rate": RATE})

    @classmethod
    def tearDownClass(cls):
        cls.bench.__exit__(None, None, None)

    def run_call(self, seconds, relay):
        src = C.opus_source(self.bench.tmp, seconds, RATE, fec=True)
        call = self.bench.call("+14155550121", src, relay)
        slots = C.classify_opus(call)
        metrics = {}
        problems = (C.check_counters(call) +
                    C.check_stream(call, media_format=L16) +
                    C.check_pacing(call, metrics) +
                    C.check_slots(call, slots, metrics))
        problems += C.check_decoder(call, metrics)
        return call, slots, metrics, problems

    def source_snr(self, call, slots):
        """Per decoded frame: (SNR against the source, SNR of a loss-free
        decode of the same packet against the source, frames since the
        last concealed one) [dB]."""
        src = call.src
        ref = reference_decode(src)
        seqs = sorted(ref)
        d = codec_delay(src, [ref[s] for s in seqs])
        n = src.rate // 50
        out, since = [], 1000
        for k, s in enumerate(slots):
            if not s.played:
                since = 0
                continue
            since += 1
            i = (s.seq - src.first_seq) * n - d
            if i < 0:
                continue
            want = src.pcm[i:i + n]
            out.append((C.snr_db(C.frame_pcm(call, k), want),
                        C.snr_db(ref[s.seq], want), since))
        return d, out

    def test_opus_impaired(self):
        call, slots, metrics, problems = self.run_call(SECONDS, IMPAIRED)
        print(C.summary("opus impaired", call, metrics, slots))
        self.assertEqual(problems, [])
        d, snr = self.source_snr(call, slots)
        far = [(a, b) for a, b, since in snr if since > 8]
        near = [a for a, _, since in snr if since <= 8]
        self.assertGreater(len(far), 100)     # enough for a mean
        self.assertTrue(near)
        mean = sum(a for a, _ in far) / len(far)
        mean_ref = sum(b for _, b in far) / len(far)
        print("opus impaired: codec delay %d samples; decoded frames "
              "against the source: %.1f dB mean more than 8 frames after "
              "a loss (loss-free decode %.1f dB), worst within 8 frames "
              "%.1f dB; %d FEC frames"
              % (d, mean, mean_ref, min(near), metrics["fec"]))
        exp, st = call.expected, call.stats
        for k in ("lost", "duplicate", "reordered"):
            self.assertGreater(exp[k], 0, k)
        self.assertGreater(st["late"], 0)
        self.assertGreater(C.input_lag_ms(call), 2 * C.STALL_BOUND_MS)
        # FEC: a lost packet whose successor was already here is recovered
        self.assertGreater(metrics["fec"], 0)
        # close to the source outside the concealed frames: as close as a
        # loss-free decode, once the decoder has converged again
        self.assertGreater(mean_ref, 8.0)
        self.assertGreater(mean, mean_ref - 1.0)

    def test_opus_clean(self):
        for _ in range(C.CLEAN_TRIES):
            call, slots, metrics, problems = self.run_call(5.0,
                                                           dict(seed=1))
            print(C.summary("opus clean", call, metrics, slots))
            if C.input_clean(call):
                break
            print("input not clean: a packet lagged the first one's "
                  "schedule by %.1f ms (host busy), again"
                  % C.input_lateness_ms(call))
        d, snr = self.source_snr(call, slots)
        self.assertEqual(problems, [])
        st = call.stats
        self.assertEqual(st["received"], 250)
        for k in ("lost", "duplicate", "reordered"):
            self.assertEqual(st[k], 0, k)
        if not C.input_clean(call):
            print("NOTE: the carrier's pacing was never clean in %d tries "
                  "(host busy): concealment and wait not asserted"
                  % C.CLEAN_TRIES)
            return
        self.assertEqual(st["late"], 0)
        self.assertEqual(st["concealed"], C.SILENCE_AFTER)
        self.assertEqual([s.kind for s in slots if s.played],
                         ["frame"] * 250)
        # a loss-free call: the decode is the reference decode, bit exact
        self.assertTrue(all(a == b for a, b, _ in snr))
        self.assertLessEqual(st["target_ms"], 5)
        self.assertLessEqual(st["depth_max_ms"], 20)


if __name__ == "__main__":
    why = C.skip_reason()
    if not why and not C.opus_tool():
        why = "tests/tools/opus_pcap not built"
    if not why:
        try:
            C.OpusRef(RATE)
        except (OSError, RuntimeError) as e:
            why = "libopus: %s" % e
    if why:
        print("skipped: %s" % why)
        sys.exit(C.SKIP)
    unittest.main(verbosity=2)
