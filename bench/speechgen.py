#!/usr/bin/env python3
"""Write a deterministic speech-like test signal as a WAV file.

Usage:
  speechgen.py OUT.wav [--seconds 10] [--rate 48000] [--seed 1]
                       [--level -20]

The load harness paces every call's RTP from this audio. It is built to
load a codec the way speech does while staying fit for the onset markers
of bench/bonset.h:

  - syllables of 120-320 ms, mostly voiced: a glottal pulse train whose
    pitch glides between 90 and 220 Hz, shaped by three formant
    resonators taken from a small vowel table; about one syllable in five
    is a fricative (band-limited noise);
  - a syllabic loudness envelope (rise, hold, fall) that never drops below
    a floor, so the signal has no pause: the onset detector needs 60 ms
    below -41 dBFS to arm, and this audio never stays below that for even
    30 ms (bonset's baudio_check() verifies it when the harness loads the
    file);
  - --level sets the RMS in dBFS (peaks are about 12 dB higher, clipped
    at full scale).

The same seed gives the same file on every machine.
"""

import argparse
import math
import random
import struct
import sys
import wave

# (F1, F2, F3) [Hz] and bandwidths, roughly a, e, i, o, u
VOWELS = [(730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010),
          (570, 840, 2410), (300, 870, 2240)]
BANDWIDTHS = (90, 110, 170)


class Resonator:
    """Two-pole resonator (Klatt style), unity gain at DC."""

    def __init__(self, rate):
        self.rate = rate
        self.y1 = self.y2 = 0.0
        self.set(500, 100)

    def set(self, freq, bw):
        r = math.exp(-math.pi * bw / self.rate)
        self.c = -r * r
        self.b = 2 * r * math.cos(2 * math.pi * freq / self.rate)
        self.a = 1 - self.b - self.c

    def __call__(self, x):
        y = self.a * x + self.b * self.y1 + self.c * self.y2
        self.y2, self.y1 = self.y1, y
        return y


def synth(seconds, rate, seed, level_db):
    rng = random.Random(seed)
    n_total = int(seconds * rate)
    out = []
    res = [Resonator(rate) for _ in range(3)]
    fric = Resonator(rate)
    fric.set(2500, 1500)
    phase = 0.0
    f0 = 140.0
    floor = 0.35

    while len(out) < n_total:
        dur = int(rng.uniform(0.12, 0.32) * rate)
        voiced = rng.random() > 0.2
        vowel = VOWELS[rng.randrange(len(VOWELS))]
        f0_end = min(220.0, max(90.0, f0 + rng.uniform(-40, 40)))
        peak = rng.uniform(0.6, 1.0)
        for i, fr in enumerate(vowel):
            # cap formants below Nyquist for low rates
            res[i].set(min(fr * rng.uniform(0.92, 1.08), 0.42 * rate),
                       BANDWIDTHS[i])
        rise = max(1, int(dur * 0.25))
        fall = max(1, int(dur * 0.3))
        for k in range(dur):
            # syllabic envelope with a floor: no pauses
            if k < rise:
                env = floor + (peak - floor) * 0.5 * (
                    1 - math.cos(math.pi * k / rise))
            elif k >= dur - fall:
                j = k - (dur - fall)
                env = floor + (peak - floor) * 0.5 * (
                    1 + math.cos(math.pi * j / fall))
            else:
                env = peak
            f = f0 + (f0_end - f0) * k / dur
            if voiced:
                phase += f / rate
                # glottal pulse: a short raised-cosine pulse per period
                p = phase - math.floor(phase)
                src = (1 - math.cos(2 * math.pi * p / 0.4)) if p < 0.4 \
                    else 0.0
                src -= 0.4   # remove DC so resonators ring both ways
                x = src
                y = res[0](x) * 1.0 + res[1](x) * 0.6 + res[2](x) * 0.3
                y *= 2.2
                # a little breath noise keeps the signal continuous
                y += rng.uniform(-0.04, 0.04)
            else:
                # fricative: noise through a 2.5 kHz band, so it is
                # there at every rate from 8 kHz up
                y = fric(rng.uniform(-1, 1)) * 1.6
            out.append(env * y)
        f0 = f0_end

    out = out[:n_total]
    rms = math.sqrt(sum(v * v for v in out) / len(out)) or 1.0
    gain = 32767 * 10 ** (level_db / 20) / rms
    return [max(-32767, min(32767, int(round(v * gain)))) for v in out]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=48000,
                    choices=(8000, 16000, 24000, 48000))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--level", type=float, default=-20.0)
    a = ap.parse_args()

    if not 1 <= a.seconds <= 600:
        sys.exit("speechgen: --seconds must be 1..600")
    if not -40 <= a.level <= -6:
        sys.exit("speechgen: --level must be -40..-6 dBFS")

    pcm = synth(a.seconds, a.rate, a.seed, a.level)
    with wave.open(a.out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(a.rate)
        w.writeframes(struct.pack("<%dh" % len(pcm), *pcm))


if __name__ == "__main__":
    main()
