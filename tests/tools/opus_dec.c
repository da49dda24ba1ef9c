/**
 * @file opus_dec.c  Opus RTP (RFC 7587) in a pcap -> raw PCM, and a report
 *
 * The sibling of opus_pcap: it reads what a carrier would hear. Tests
 * capture the RTP callbridge sends, write it as a pcap and let this tool
 * decode it with libopus and describe the stream.
 *
 * Usage:
 *   opus_dec IN.pcap OUT.raw [--rate HZ] [--channels 1|2] [--pt N]
 *
 * Every UDP packet of IN.pcap that is RTP version 2 with payload type --pt
 * (default: that of the first RTP packet) is decoded in capture order into
 * OUT.raw, little-endian 16-bit PCM at --rate (8000, 12000, 16000, 24000
 * or 48000; default 48000), --channels interleaved (default 1). Output
 * follows the RTP timeline (48 kHz clock): a timestamp that runs ahead of
 * the audio decoded so far (lost packets, DTX) is filled by the decoder's
 * loss concealment, at most 10 s of it per gap; a packet that goes back in
 * time is counted and skipped.
 *
 * On stdout, one JSON object: packets, bytes, payload types and SSRCs
 * seen, sequence gaps, timestamp steps, marker bits, the TOC of every
 * packet summed up (modes, bandwidths, frame sizes, stereo), decode errors
 * and samples written. Exit status: 0 done, 1 failed (I/O, no packet,
 * decoder), 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <opus/opus.h>
#include <re.h>
#include "pcapf.h"

enum {
	CLOCK     = 48000,            /**< RTP clock of RFC 7587 [Hz]      */
	MAX_PKT_MS = 120,             /**< longest Opus packet [ms]        */
	MAX_GAP_MS = 10000,           /**< longest gap concealed [ms]      */
	MAX_LIST  = 16,               /**< distinct values reported        */
};

/** A small set of distinct values with counts */
struct tally {
	uint32_t v[MAX_LIST];
	uint64_t n[MAX_LIST];
	unsigned len;
	uint64_t other;               /**< values past MAX_LIST            */
};

struct report {
	uint64_t udp, rtp, packets, bytes, other_pt;
	struct tally pt, ssrc, ts_step, seq_step, size_ms, bw, mode, chans;
	uint64_t markers, first_marker, late, decode_errors;
	uint64_t concealed_ms, samples;
};


static void tally_add(struct tally *t, uint32_t v)
{
	for (unsigned i = 0; i < t->len; i++) {
		if (t->v[i] == v) {
			++t->n[i];
			return;
		}
	}

	if (t->len < MAX_LIST) {
		t->v[t->len] = v;
		t->n[t->len++] = 1;
	}
	else {
		++t->other;
	}
}


static void tally_print(const char *name, const struct tally *t, bool last)
{
	printf("\"%s\": {", name);
	for (unsigned i = 0; i < t->len; i++)
		printf("%s\"%u\": %llu", i ? ", " : "", t->v[i],
		       (unsigned long long)t->n[i]);
	if (t->other)
		printf("%s\"other\": %llu", t->len ? ", " : "",
		       (unsigned long long)t->other);
	printf("}%s\n", last ? "" : ",");
}


static void usage(void)
{
	fprintf(stderr, "usage: opus_dec IN.pcap OUT.raw [--rate HZ] "
		"[--channels 1|2] [--pt N]\n");
}


static bool num(const char *s, unsigned long lo, unsigned long hi,
		unsigned long *v)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;

	errno = 0;
	*v = strtoul(s, &end, 10);

	return !errno && !*end && *v >= lo && *v <= hi;
}


/* RTP header (RFC 3550): payload offset and length, or false */
static bool rtp_parse(const uint8_t *p, size_t len, uint8_t *pt,
		      bool *marker, uint16_t *seq, uint32_t *ts,
		      uint32_t *ssrc, size_t *off, size_t *plen)
{
	size_t o, end = len;

	if (len < 12 || (p[0] >> 6) != 2)
		return false;

	o = 12 + 4 * (size_t)(p[0] & 0x0f);
	if (p[0] & 0x10) {
		if (len < o + 4)
			return false;
		o += 4 + 4 * (size_t)((p[o + 2] << 8) | p[o + 3]);
	}
	if (p[0] & 0x20) {
		if (!len || p[len - 1] > len)
			return false;
		end -= p[len - 1];
	}
	if (o > end)
		return false;

	*pt = p[1] & 0x7f;
	*marker = (p[1] & 0x80) != 0;
	*seq = (uint16_t)((p[2] << 8) | p[3]);
	*ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
		(uint32_t)p[6] << 8 | p[7];
	*ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
		(uint32_t)p[10] << 8 | p[11];
	*off = o;
	*plen = end - o;

	return true;
}


static int write_pcm(FILE *f, const int16_t *pcm, size_t n)
{
	uint8_t buf[2 * 5760 * 2];

	while (n) {
		size_t k = n > sizeof(buf) / 2 ? sizeof(buf) / 2 : n;

		for (size_t i = 0; i < k; i++) {
			buf[2 * i] = (uint8_t)(pcm[i] & 0xff);
			buf[2 * i + 1] = (uint8_t)((uint16_t)pcm[i] >> 8);
		}
		if (fwrite(buf, 2, k, f) != k)
			return EIO;
		pcm += k;
		n -= k;
	}

	return 0;
}


int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"rate", 1, NULL, 'r'}, {"channels", 1, NULL, 'c'},
		{"pt", 1, NULL, 'p'}, {"help", 0, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const uint32_t max_frame = CLOCK * MAX_PKT_MS / 1000;
	struct pcapf_reader *r = NULL;
	struct report rep;
	struct pcapf_udp u;
	OpusDecoder *dec = NULL;
	int16_t *pcm = NULL;
	FILE *out = NULL;
	uint32_t rate = 48000, chans = 1;
	int want_pt = -1;
	bool have_prev = false;
	uint16_t prev_seq = 0;
	uint32_t prev_ts = 0, ts0 = 0;
	uint64_t pos = 0;     /* output position [samples at rate] */
	unsigned long v;
	int c, err = 0, oerr;

	memset(&rep, 0, sizeof(rep));

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {

		case 'r':
			if (!num(optarg, 8000, 48000, &v) ||
			    (v != 8000 && v != 12000 && v != 16000 &&
			     v != 24000 && v != 48000)) {
				fprintf(stderr, "opus_dec: bad --rate %s\n",
					optarg);
				usage();
				return 2;
			}
			rate = (uint32_t)v;
			break;

		case 'c':
			if (!num(optarg, 1, 2, &v)) {
				fprintf(stderr, "opus_dec: bad --channels "
					"%s\n", optarg);
				usage();
				return 2;
			}
			chans = (uint32_t)v;
			break;

		case 'p':
			if (!num(optarg, 0, 127, &v)) {
				fprintf(stderr, "opus_dec: bad --pt %s\n",
					optarg);
				usage();
				return 2;
			}
			want_pt = (int)v;
			break;

		case 'h':
			usage();
			return 0;

		default:
			fprintf(stderr, "opus_dec: unknown or incomplete "
				"option: %s\n", argv[optind - 1]);
			usage();
			return 2;
		}
	}

	if (argc - optind != 2) {
		usage();
		return 2;
	}

	err = pcapf_open(&r, argv[optind]);
	if (err) {
		fprintf(stderr, "opus_dec: %s: %s\n", argv[optind],
			strerror(err));
		return 1;
	}

	out = fopen(argv[optind + 1], "wb");
	pcm = calloc((size_t)rate * MAX_PKT_MS / 1000 * chans, sizeof(*pcm));
	dec = opus_decoder_create((opus_int32)rate, (int)chans, &oerr);
	if (!out || !pcm || !dec) {
		fprintf(stderr, "opus_dec: cannot set up: %s\n",
			!out ? strerror(errno) : opus_strerror(oerr));
		err = ENOMEM;
		goto out;
	}

	while (!(err = pcapf_next(r, &u))) {
		uint8_t pt;
		bool marker;
		uint16_t seq;
		uint32_t ts, ssrc;
		size_t off, plen;
		uint64_t want;
		int n, k;

		++rep.udp;
		if (!rtp_parse(u.payload, u.len, &pt, &marker, &seq, &ts,
			       &ssrc, &off, &plen))
			continue;
		++rep.rtp;
		tally_add(&rep.pt, pt);

		if (want_pt < 0)
			want_pt = pt;
		if (pt != want_pt) {
			++rep.other_pt;
			continue;
		}

		tally_add(&rep.ssrc, ssrc);
		++rep.packets;
		rep.bytes += plen;
		if (marker) {
			++rep.markers;
			if (rep.packets == 1)
				rep.first_marker = 1;
		}

		if (!have_prev) {
			ts0 = ts;
		}
		else {
			tally_add(&rep.seq_step, (uint16_t)(seq - prev_seq));
			tally_add(&rep.ts_step, ts - prev_ts);
		}

		/* where this packet belongs on the timeline */
		if (have_prev && (int32_t)(ts - ts0) < 0) {
			++rep.late;
			continue;
		}
		want = (uint64_t)(uint32_t)(ts - ts0) * rate / CLOCK;
		if (want < pos && have_prev) {
			/* overlaps what we have: a reordered or repeated
			   packet */
			if (pos - want >= (uint64_t)rate / 1000) {
				++rep.late;
				prev_seq = seq;
				prev_ts = ts;
				continue;
			}
		}
		have_prev = true;
		prev_seq = seq;
		prev_ts = ts;

		/* conceal up to the packet's place */
		if (want > pos && want - pos > (uint64_t)rate * MAX_GAP_MS /
		    1000) {
			fprintf(stderr, "opus_dec: gap of %llu ms\n",
				(unsigned long long)((want - pos) * 1000 /
						     rate));
			err = EBADMSG;
			goto out;
		}
		while (want > pos) {
			uint64_t gap = want - pos;
			int step = (int)(gap > (uint64_t)rate / 50 ?
					 rate / 50 : gap);

			/* the decoder conceals in multiples of 2.5 ms */
			if (step < (int)rate / 400)
				break;
			step -= step % (int)(rate / 400);
			n = opus_decode(dec, NULL, 0, pcm, step, 0);
			if (n <= 0)
				break;
			err = write_pcm(out, pcm, (size_t)n * chans);
			if (err)
				goto out;
			pos += (uint64_t)n;
			rep.concealed_ms += (uint64_t)n * 1000 / rate;
		}

		if (plen) {
			const uint8_t *p = u.payload + off;
			int fs = opus_packet_get_nb_samples(p, (opus_int32)plen,
							    CLOCK);

			if (fs > 0)
				tally_add(&rep.size_ms, (uint32_t)fs * 10000 /
					  CLOCK);
			tally_add(&rep.bw, (uint32_t)
				  opus_packet_get_bandwidth(p));
			tally_add(&rep.chans, (uint32_t)
				  opus_packet_get_nb_channels(p));
			/* TOC config 0-11 SILK, 12-15 hybrid, 16-31 CELT */
			tally_add(&rep.mode, (p[0] >> 3) < 12 ? 0 :
				  (p[0] >> 3) < 16 ? 1 : 2);
		}

		k = (int)(max_frame * rate / CLOCK);
		n = opus_decode(dec, plen ? u.payload + off : NULL,
				(opus_int32)plen, pcm, k, 0);
		if (n < 0) {
			++rep.decode_errors;
			continue;
		}
		err = write_pcm(out, pcm, (size_t)n * chans);
		if (err)
			goto out;
		pos += (uint64_t)n;
	}
	if (err == ENOENT)
		err = 0;
	if (err) {
		fprintf(stderr, "opus_dec: %s: %s\n", argv[optind],
			strerror(err));
		goto out;
	}
	if (!rep.packets) {
		if (want_pt < 0)
			fprintf(stderr, "opus_dec: no RTP packet\n");
		else
			fprintf(stderr, "opus_dec: no RTP packet of payload "
				"type %d\n", want_pt);
		err = ENOENT;
		goto out;
	}

	rep.samples = pos;

	printf("{\"udp\": %llu, \"rtp\": %llu, \"packets\": %llu, "
	       "\"bytes\": %llu, \"other_pt\": %llu,\n",
	       (unsigned long long)rep.udp, (unsigned long long)rep.rtp,
	       (unsigned long long)rep.packets, (unsigned long long)rep.bytes,
	       (unsigned long long)rep.other_pt);
	printf("\"decoded_pt\": %d, \"markers\": %llu, \"first_marker\": %s, "
	       "\"late\": %llu, \"decode_errors\": %llu,\n", want_pt,
	       (unsigned long long)rep.markers,
	       rep.first_marker ? "true" : "false",
	       (unsigned long long)rep.late,
	       (unsigned long long)rep.decode_errors);
	printf("\"concealed_ms\": %llu, \"samples\": %llu, \"rate\": %u, "
	       "\"channels\": %u,\n", (unsigned long long)rep.concealed_ms,
	       (unsigned long long)rep.samples, rate, chans);
	tally_print("pt", &rep.pt, false);
	tally_print("ssrc", &rep.ssrc, false);
	tally_print("seq_step", &rep.seq_step, false);
	tally_print("ts_step", &rep.ts_step, false);
	/* packet duration in [0.1 ms] (200 = 20 ms) */
	tally_print("frame_size_01ms", &rep.size_ms, false);
	/* OPUS_BANDWIDTH_NARROWBAND (1101) .. FULLBAND (1105) */
	tally_print("bandwidth", &rep.bw, false);
	/* 0 SILK, 1 hybrid, 2 CELT */
	tally_print("mode", &rep.mode, false);
	tally_print("channels_coded", &rep.chans, true);
	printf("}\n");

 out:
	if (dec)
		opus_decoder_destroy(dec);
	free(pcm);
	if (out && fclose(out) && !err)
		err = EIO;
	mem_deref(r);

	return err ? 1 : 0;
}
