#!/usr/bin/env python3
"""Known test signals, and the check that a received stream is exactly one.

Usage:
  gensig.py OUT [--kind frames|steps|sine|silence] [--law ulaw|alaw|l16]
            [--seconds 5] [--rate 8000] [--freq 1000] [--level -20]
            [--seed 1]

Kinds (all at --rate, 8000 Hz for the G.711 laws):
  frames   seeded pseudo-random noise at --level dBFS RMS: every 20 ms
           frame differs from every other one, so a receiver can prove "no
           gap, no duplicate frame, exact audio" by alignment (check_frames)
  steps    a tone whose frequency steps every 20 ms frame (300 Hz + 20 Hz
           per frame, cycling over 150 frames): audible and recognisable
  sine     a plain sine of --freq Hz at --level dBFS (peak)
  silence  digital silence (µ-law 0xFF, A-law 0xD5, zeros for l16)

µ-law output never contains 0x7F (negative zero, which does not survive a
decode/encode round trip); the frames kind guarantees that every 20 ms
frame is unique and fails loudly otherwise. l16 is little-endian 16-bit PCM.

As a module:
  generate(kind, law, seconds, ...) -> bytes
  check_frames(reference, received, frame=160) -> FrameReport
    (meaningful for the frames kind only: tones repeat frame contents)
"""

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import g711  # noqa: E402

KINDS = ("frames", "steps", "sine", "silence")
LAWS = ("ulaw", "alaw", "l16")


class XorShift32:
    """Deterministic PRNG (same sequence on every platform)."""

    def __init__(self, seed):
        self.s = (seed or 0x9E3779B9) & 0xFFFFFFFF

    def next(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def uniform(self):
        """In [-1, 1)."""
        return self.next() / 2147483648.0 - 1.0


def _samples(kind, n, rate, freq, level_db, seed):
    amp = 32767 * 10 ** (level_db / 20)
    frame = rate // 50
    if kind == "silence":
        return [0] * n
    if kind == "sine":
        return [round(amp * math.sin(2 * math.pi * freq * i / rate))
                for i in range(n)]
    if kind == "steps":
        out, phase = [], 0.0
        for i in range(n):
            f = 300 + 20 * ((i // frame) % 150)
            phase += 2 * math.pi * f / rate
            out.append(round(amp * math.sin(phase)))
        return out
    # frames: noise with an RMS of amp (a sum of two uniforms has an RMS
    # of sqrt(2/3), and no long tails)
    rng = XorShift32(seed)
    scale = amp * math.sqrt(1.5)
    return [round(max(-32767, min(32767, scale * (rng.uniform() +
                                                  rng.uniform()))))
            for _ in range(n)]


def generate(kind="frames", law="ulaw", seconds=5.0, rate=8000, freq=1000.0,
             level=-20.0, seed=1):
    """The signal as bytes in the given law (or l16 little-endian)."""
    if kind not in KINDS or law not in LAWS:
        raise ValueError("unknown kind or law")
    if law != "l16":
        rate = 8000
    n = int(round(seconds * rate))
    pcm = _samples(kind, n, rate, freq, level, seed)
    if law == "l16":
        data = g711.pcm16le(pcm)
        frame_bytes = rate // 50 * 2
    else:
        data = bytearray(g711.encode(law, pcm))
        if law == "ulaw":       # -0 (0x7F) is not stable: use +0
            data = data.replace(b"\x7f", b"\xff")
        data = bytes(data)
        frame_bytes = 160
    if kind == "frames":
        frames = [data[i:i + frame_bytes]
                  for i in range(0, len(data) - frame_bytes + 1,
                                 frame_bytes)]
        if len(set(frames)) != len(frames):
            raise ValueError("frames are not unique: change --seed")
    return data


class FrameReport:
    """How a received stream maps onto the reference, frame by frame.

    indexes: for each received frame from the first recognised one, its
             index in the reference, or None when it is not a reference
             frame (silence, concealment, corruption)
    first_offset: byte offset in the received stream of that first frame
    """

    def __init__(self, indexes, first_offset, nref):
        self.indexes = indexes
        self.first_offset = first_offset
        self.nref = nref
        known = [i for i in indexes if i is not None]
        self.matched = len(known)
        self.duplicates = len(known) - len(set(known))
        self.gaps = [(a, b) for a, b in zip(known, known[1:]) if b != a + 1]
        # unknown frames between the first and last recognised ones
        last = max((k for k, i in enumerate(indexes) if i is not None),
                   default=-1)
        self.foreign = sum(1 for i in indexes[:last + 1] if i is None)
        self.first = known[0] if known else None
        self.last = known[-1] if known else None

    @property
    def exact(self):
        """The whole reference, in order, once, with nothing in between."""
        return (self.matched == self.nref and self.first == 0 and
                not self.gaps and not self.duplicates and not self.foreign)

    @property
    def contiguous(self):
        """A run of consecutive reference frames, once each."""
        return bool(self.matched) and not self.gaps and \
            not self.duplicates and not self.foreign

    def __str__(self):
        return ("%d/%d frames matched (first %s, last %s) at byte %s; "
                "gaps %s, duplicates %d, foreign frames inside %d"
                % (self.matched, self.nref, self.first, self.last,
                   self.first_offset, self.gaps[:5], self.duplicates,
                   self.foreign))


def check_frames(reference, received, frame=160):
    """Align received onto reference by exact frame content.

    The first recognised frame may start at any byte offset (leading
    silence or partial data); from there the stream is cut into frames of
    `frame` bytes. Use FrameReport.exact / .contiguous to assert."""
    table = {}
    for k in range(0, len(reference) - frame + 1, frame):
        table.setdefault(reference[k:k + frame], k // frame)
    nref = len(reference) // frame
    start = None
    for off in range(0, max(0, len(received) - frame + 1)):
        if received[off:off + frame] in table:
            start = off
            break
    if start is None:
        return FrameReport([], None, nref)
    idx = [table.get(received[k:k + frame])
           for k in range(start, len(received) - frame + 1, frame)]
    while idx and idx[-1] is None:      # trailing silence is not foreign
        idx.pop()
    return FrameReport(idx, start, nref)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="output file (raw, no header)")
    ap.add_argument("--kind", choices=KINDS, default="frames")
    ap.add_argument("--law", choices=LAWS, default="ulaw")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rate", type=int, default=8000,
                    help="sample rate for l16 [Hz]")
    ap.add_argument("--freq", type=float, default=1000.0,
                    help="sine frequency [Hz]")
    ap.add_argument("--level", type=float, default=-20.0,
                    help="level [dBFS]: RMS for frames, peak for tones")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if not 0 < a.seconds <= 3600:
        ap.error("--seconds must be in (0, 3600]")
    if a.rate not in (8000, 16000, 24000, 48000):
        ap.error("--rate must be 8000, 16000, 24000 or 48000")
    if not -90 <= a.level <= 0:
        ap.error("--level must be in [-90, 0] dBFS")
    try:
        data = generate(a.kind, a.law, a.seconds, a.rate, a.freq, a.level,
                        a.seed)
    except ValueError as e:
        ap.error(str(e))
    with open(a.out, "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
