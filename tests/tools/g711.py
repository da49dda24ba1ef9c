"""G.711 reference in plain Python, for test assertions (no audioop).

Bit-exact with ITU-T G.711 and its G.191 reference coder, as codec/g711.c:
  - decode: the decoder output values of G.711 Tables 1 (A-law) and 2
    (µ-law), scaled to 16 bits (A-law x8, µ-law x4);
  - encode: the segment algorithm, negative input taken in one's
    complement (so -1 encodes to the smallest negative step);
  - A<->µ transcoding: Tables 3 and 4 of G.711, derived below from the
    Recommendation's rule (equal signal level; µ-law overloads at 8159
    units and +3.17 dBm0, A-law at 4096 units and +3.14 dBm0).

µ-law byte 0x7F (-0) is the only code that does not survive decode ->
encode (it comes back as 0xFF); test signals avoid it.
"""

ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5


def _ulaw_value(b):
    """Table 2 decoder output value (units of the 8159 scale), signed."""
    b ^= 0xFF
    seg, mant = (b >> 4) & 7, b & 0x0F
    v = ((2 * mant + 33) << seg) - 33
    return -v if b & 0x80 else v


def _alaw_value(b):
    """Table 1 decoder output value (units of the 4096 scale), signed."""
    b ^= 0x55
    seg, mant = (b >> 4) & 7, b & 0x0F
    v = 2 * mant + 1 if seg == 0 else (2 * mant + 33) << (seg - 1)
    return v if b & 0x80 else -v


ULAW_DEC = [4 * _ulaw_value(b) for b in range(256)]
ALAW_DEC = [8 * _alaw_value(b) for b in range(256)]


def ulaw_decode_sample(b):
    return ULAW_DEC[b]


def alaw_decode_sample(b):
    return ALAW_DEC[b]


def ulaw_encode_sample(x):
    """16-bit linear -> µ-law byte."""
    x = max(-32768, min(32767, int(x)))
    mask = 0x7F if x < 0 else 0xFF
    v = min(((~x if x < 0 else x) >> 2) + 33, 0x1FFF)
    seg = v.bit_length() - 6
    return ((seg << 4) | ((v >> (seg + 1)) & 0x0F)) ^ mask


def alaw_encode_sample(x):
    """16-bit linear -> A-law byte."""
    x = max(-32768, min(32767, int(x)))
    mask = 0x55 if x < 0 else 0xD5
    v = (~x if x < 0 else x) >> 4
    if v < 16:
        return v ^ mask
    seg = v.bit_length() - 4
    return ((seg << 4) | ((v >> (seg - 1)) & 0x0F)) ^ mask


def _alaw_interval(b):
    """Decision interval [lo, hi) of a positive A-law value number."""
    b ^= 0x55
    seg, mant = (b >> 4) & 7, b & 0x0F
    if seg == 0:
        return 2 * mant, 2 * mant + 2
    return (16 + mant) << seg, (17 + mant) << seg


def _tables():
    k = 4096 / 8159 * 10 ** ((3.17 - 3.14) / 20)
    pos_alaw = [b for b in range(256) if (b ^ 0x55) & 0x80]
    u2a = [0] * 256
    for u in range(256):
        y = abs(_ulaw_value(u)) * k
        neg = (u ^ 0xFF) & 0x80
        hit = None
        for a in pos_alaw:
            lo, hi = _alaw_interval(a)
            if lo <= y < hi:
                hit = a
                break
        if hit is None:                       # above the top decision value
            hit = max(pos_alaw, key=lambda a: _alaw_interval(a)[0])
        u2a[u] = hit ^ 0x80 if neg else hit
    a2u = [None] * 256
    for a in range(256):
        srcs = [u for u in range(256) if u2a[u] == a]
        if srcs:
            a2u[a] = max(srcs, key=lambda u: abs(_ulaw_value(u)))
    for a in range(256):
        if a2u[a] is None:
            a2u[a] = a2u[a ^ 1]
    return u2a, a2u


ULAW_TO_ALAW, ALAW_TO_ULAW = _tables()


def ulaw_decode(data):
    """µ-law bytes -> list of 16-bit samples."""
    return [ULAW_DEC[b] for b in data]


def alaw_decode(data):
    return [ALAW_DEC[b] for b in data]


def ulaw_encode(samples):
    return bytes(ulaw_encode_sample(x) for x in samples)


def alaw_encode(samples):
    return bytes(alaw_encode_sample(x) for x in samples)


def alaw_to_ulaw(data):
    """A-law bytes -> µ-law bytes through G.711 Table 4."""
    return bytes(ALAW_TO_ULAW[b] for b in data)


def ulaw_to_alaw(data):
    """µ-law bytes -> A-law bytes through G.711 Table 3."""
    return bytes(ULAW_TO_ALAW[b] for b in data)


def decode(law, data):
    return ulaw_decode(data) if law == "ulaw" else alaw_decode(data)


def encode(law, samples):
    return ulaw_encode(samples) if law == "ulaw" else alaw_encode(samples)


def silence_byte(law):
    return ULAW_SILENCE if law == "ulaw" else ALAW_SILENCE


def pcm16le(samples):
    """16-bit samples -> little-endian bytes."""
    out = bytearray()
    for x in samples:
        x = max(-32768, min(32767, int(x))) & 0xFFFF
        out += bytes((x & 0xFF, x >> 8))
    return bytes(out)


def from_pcm16le(data):
    """little-endian bytes -> 16-bit samples."""
    return [int.from_bytes(data[i:i + 2], "little", signed=True)
            for i in range(0, len(data) - 1, 2)]
