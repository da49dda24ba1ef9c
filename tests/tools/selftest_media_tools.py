#!/usr/bin/env python3
"""The media tests' own tools do what the tests rely on.

  selftest_media_tools.py --bin BUILD/tests/tools

sigcmp: gen is deterministic per seed and never writes µ-law 0x7F; cmp
finds a known delay exactly (both signs), reports 200 dB for a copy, the
gain of a scaled copy, and no match for a copy at the wrong rate.
opus_dec: decodes opus_pcap's output to the source (correlation), keeps
the RTP timeline across removed packets (concealed, counted), describes
the stream (payload type, steps, marker, TOC), and fails clearly on a
missing payload type or a file that is not a pcap.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkpcap  # noqa: E402

BIN = None


def run(*args, ok=True):
    p = subprocess.run([os.path.join(BIN, args[0])] + [str(a) for a in
                                                        args[1:]],
                       capture_output=True, text=True, timeout=60)
    if ok and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (args, p.returncode,
                                                    p.stderr))
    return p


def cmp(*args):
    return json.loads(run("sigcmp", "cmp", *args).stdout)


class SigcmpTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cb-mtools-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def gen(self, name, rate, seconds=2, seed=1, ulaw=False):
        args = ["gen", self.path(name), "--rate", rate, "--seconds",
                seconds, "--seed", seed]
        if ulaw:
            args.append("--ulaw")
        run("sigcmp", *args)
        with open(self.path(name), "rb") as f:
            return f.read()

    def test_gen_deterministic(self):
        a = self.gen("a.raw", 16000, seed=3)
        b = self.gen("b.raw", 16000, seed=3)
        c = self.gen("c.raw", 16000, seed=4)
        self.assertEqual(len(a), 2 * 32000)
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        u = self.gen("u.ul", 8000, ulaw=True)
        self.assertEqual(len(u), 16000)
        self.assertNotIn(b"\x7f", u)
        self.assertGreater(len(set(u)), 100)
        # µ-law only at 8 kHz
        p = run("sigcmp", "gen", self.path("x"), "--rate", 16000,
                "--seconds", 1, "--ulaw", ok=False)
        self.assertEqual(p.returncode, 2)

    def test_delay_gain_rate(self):
        raw = self.gen("s.raw", 16000, seconds=2)
        r = cmp(self.path("s.raw"), 16000, self.path("s.raw"), 16000)
        self.assertEqual(r["delay_samples"], 0)
        self.assertEqual(r["snr_db"], 200.0)
        self.assertAlmostEqual(r["corr"], 1.0, places=3)
        # test behind the reference by 1234 samples, and ahead by 321
        with open(self.path("late.raw"), "wb") as f:
            f.write(b"\0\0" * 1234 + raw)
        r = cmp(self.path("s.raw"), 16000, self.path("late.raw"), 16000)
        self.assertEqual(r["delay_samples"], 1234)
        self.assertEqual(r["snr_db"], 200.0)
        with open(self.path("early.raw"), "wb") as f:
            f.write(raw[2 * 321:])
        r = cmp(self.path("s.raw"), 16000, self.path("early.raw"), 16000)
        self.assertEqual(r["delay_samples"], -321)
        self.assertEqual(r["snr_db"], 200.0)
        # half the amplitude: -6.02 dB, SNR 6.02 dB
        pcm = struct.unpack("<%dh" % (len(raw) // 2), raw)
        with open(self.path("half.raw"), "wb") as f:
            f.write(struct.pack("<%dh" % len(pcm),
                                *[v // 2 for v in pcm]))
        r = cmp(self.path("s.raw"), 16000, self.path("half.raw"), 16000)
        self.assertAlmostEqual(r["gain_db"], -6.02, delta=0.05)
        self.assertAlmostEqual(r["snr_db"], 6.02, delta=0.1)
        self.assertGreater(r["corr"], 0.999)
        # the same file at 16 kHz read as 24 kHz: no delay lines it up
        r = cmp(self.path("s.raw"), 16000, self.path("s.raw"), 24000)
        self.assertLess(r["corr"], 0.3)
        self.assertLess(r["snr_db"], 1)
        # resampling keeps the signal and the time axis
        self.gen("s8.raw", 8000, seconds=2)
        r = cmp(self.path("s8.raw"), 8000, self.path("s8.raw"), 8000,
                "--at", 48000)
        self.assertEqual(r["rate"], 48000)
        self.assertEqual(r["delay_samples"], 0)
        self.assertGreater(r["snr_db"], 60)

    def test_blocks_follow_a_shift(self):
        """An adaptive jitter buffer inserts a concealed frame: one delay
        no longer fits the whole signal, but each block still matches."""
        raw = self.gen("s.raw", 8000, seconds=3, seed=5)
        cut = 2 * 8000 * 3 // 2                   # 1.5 s in
        noise = bytes((i * 37) & 0xFF for i in range(2 * 160))
        with open(self.path("shift.raw"), "wb") as f:
            f.write(raw[:cut] + noise + raw[cut:])
        r = cmp(self.path("s.raw"), 8000, self.path("shift.raw"), 8000)
        self.assertLess(r["corr"], 0.9)           # one delay: no match
        b = r["blocks"]
        self.assertGreaterEqual(b["good"], 0.9, r)
        self.assertGreater(b["snr_median"], 100, r)
        delays = dict((d, n) for d, n in b["delays"])
        self.assertEqual(set(delays), {0.0, 20.0}, r)
        self.assertEqual(b["shifts"], 1, r)
        # and a copy with every other 100 ms replaced: half the blocks
        pcm = bytearray(raw)
        for k in range(0, len(pcm), 2 * 1600):
            pcm[k:k + 1600] = bytes(len(pcm[k:k + 1600]))
        with open(self.path("holes.raw"), "wb") as f:
            f.write(pcm)
        r = cmp(self.path("s.raw"), 8000, self.path("holes.raw"), 8000)
        self.assertLess(r["blocks"]["good"], 0.6, r)

    def test_bad_input(self):
        p = run("sigcmp", "cmp", self.path("none"), 8000, self.path("none"),
                8000, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("none", p.stderr)
        with open(self.path("tiny"), "wb") as f:
            f.write(b"\1\2\3\4")
        p = run("sigcmp", "cmp", self.path("tiny"), 8000, self.path("tiny"),
                8000, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("shorter than 20 ms", p.stderr)
        for bad in (["cmp", "a", "7999.5", "b", "8000"],
                    ["cmp", "a", "8000", "b"], ["gen", "x", "--rate", "0",
                                                "--seconds", "1"],
                    ["nope"]):
            self.assertEqual(run("sigcmp", *bad, ok=False).returncode, 2,
                             bad)


class OpusDecTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cb-mtools-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def make(self, seconds=2, extra=()):
        run("sigcmp", "gen", self.path("s48.raw"), "--rate", 48000,
            "--seconds", seconds)
        run("opus_pcap", self.path("s48.raw"), self.path("o.pcap"),
            "--rate", 48000, "--pt", 96, "--seq", 65500, *extra)
        return mkpcap.read_pcap(self.path("o.pcap"))

    def dec(self, pcap, rate=16000, extra=()):
        p = run("opus_dec", pcap, self.path("d.raw"), "--rate", rate,
                *extra)
        return json.loads(p.stdout)

    def test_decode_matches_source(self):
        self.make()
        rep = self.dec(self.path("o.pcap"))
        self.assertEqual(rep["packets"], 100)
        self.assertEqual(rep["decoded_pt"], 96)
        self.assertEqual(rep["seq_step"], {"1": 99})   # across the wrap
        self.assertEqual(rep["ts_step"], {"960": 99})
        self.assertTrue(rep["first_marker"])
        self.assertEqual(rep["markers"], 1)
        self.assertEqual(rep["frame_size_01ms"], {"200": 100})
        self.assertEqual(rep["channels_coded"], {"1": 100})
        self.assertEqual(rep["samples"], 32000)
        self.assertEqual(rep["concealed_ms"], 0)
        r = cmp(self.path("s48.raw"), 48000, self.path("d.raw"), 16000)
        self.assertGreater(r["corr"], 0.95)
        self.assertGreater(r["snr_db"], 9)
        # the decoder's delay (2.5 ms look-ahead + 4 ms): small, positive
        self.assertTrue(0 <= r["delay_ms"] < 10, r)

    def test_ptime_and_timeline(self):
        pk = self.make(extra=("--ptime", 40))
        self.assertEqual(len(pk), 50)
        # take out packets 10..12: the timeline keeps its length
        frames = [(p.t, p.payload, None) for p in pk]
        kept = [f for i, f in enumerate(frames) if not 10 <= i <= 12]
        src = mkpcap._udp
        import ipaddress
        a = ipaddress.ip_address("127.0.0.1")
        pkts = [(t, pl, src(a, 4000, a, 6000, pl, i))
                for i, (t, pl, _) in enumerate(kept)]
        mkpcap.write_pcap(self.path("cut.pcap"), pkts)
        rep = self.dec(self.path("cut.pcap"), rate=8000)
        self.assertEqual(rep["packets"], 47)
        self.assertEqual(rep["frame_size_01ms"], {"400": 47})
        self.assertEqual(rep["seq_step"], {"1": 45, "4": 1})
        self.assertEqual(rep["ts_step"], {"1920": 45, "7680": 1})
        self.assertEqual(rep["concealed_ms"], 120)
        self.assertEqual(rep["samples"], 16000)

    def test_bad_input(self):
        self.make()
        p = run("opus_dec", self.path("o.pcap"), self.path("d.raw"),
                "--pt", 111, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("payload type 111", p.stderr)
        with open(self.path("junk.pcap"), "wb") as f:
            f.write(b"not a pcap at all, no")
        p = run("opus_dec", self.path("junk.pcap"), self.path("d.raw"),
                ok=False)
        self.assertEqual(p.returncode, 1)
        for bad in (["--rate", "44100"], ["--channels", "3"],
                    ["--pt", "128"], []):
            args = [self.path("o.pcap")] + (["x"] if bad else []) + bad
            self.assertEqual(run("opus_dec", *args, ok=False).returncode,
                             2, bad)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    a, rest = ap.parse_known_args()
    BIN = a.bin
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
