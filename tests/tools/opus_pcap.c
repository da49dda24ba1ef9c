/**
 * @file opus_pcap.c  Raw PCM -> Opus RTP (RFC 7587) in a pcap SIPp replays
 *
 * Usage:
 *   opus_pcap IN.raw OUT.pcap --rate HZ [options]
 *
 * IN.raw is little-endian 16-bit PCM at --rate, interleaved when
 * --channels 2. It is encoded with libopus, one packet per --ptime, into
 * RTP with the 48 kHz clock of RFC 7587, and written as a pcap that
 * SIPp's play_pcap_audio replays (the format of tests/tools/mkpcap.py:
 * classic pcap, microsecond timestamps, Ethernet, IPv4 or IPv6, UDP with
 * valid checksums, packet times exactly --ptime apart). Rates libopus
 * does not take (e.g. 44100, 32000) are converted to 48 kHz with
 * SpeexDSP first. The last frame is padded with silence.
 *
 * With --dtx, frames the encoder marks as not to be sent (1 or 2 bytes)
 * are left out: the RTP timestamp runs on, sequence numbers do not, and
 * the first packet after such a gap has the marker bit, as the first
 * packet of all has.
 *
 * Options (defaults in brackets):
 *   --rate HZ          input rate, required (any of 8000..192000)
 *   --channels N       1 or 2 [1]
 *   --ptime MS         10, 20, 40, 60, 80, 100 or 120 [20]; above 60 ms
 *                      a packet holds several frames (60, 40 or 20 ms,
 *                      joined with libopus's repacketizer)
 *   --bitrate BPS      6000..510000 [32000]
 *   --complexity N     0..10 [5]
 *   --fec              in-band FEC on, --loss % expected loss [10]
 *   --loss PERC        0..100
 *   --dtx              discontinuous transmission
 *   --cbr              constant bitrate
 *   --audio            OPUS_APPLICATION_AUDIO instead of VOIP
 *   --pt N             RTP payload type [111]
 *   --ssrc N           [0x0c0dec05]
 *   --seq N            first sequence number [1000]
 *   --ts N             first RTP timestamp [0]
 *   --src IP:PORT      [127.0.0.1:40000]
 *   --dst IP:PORT      [127.0.0.1:6000]
 *   --start SECONDS    pcap time of the first packet [1700000000]
 *
 * Exit status: 0 done, 1 failed (I/O, codec), 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <re.h>
#include "pcapf.h"

enum {
	RTP_CLOCK = 48000,
	RTP_HDR = 12,
	/* SIPp replays UDP datagrams of at most 1500 bytes */
	MAX_PAYLOAD = PCAPF_SIPP_MAX - 8 - RTP_HDR,
	MAX_INPUT = 64 * 1024 * 1024,
};

struct opts {
	uint32_t rate;
	int channels;
	uint32_t ptime;
	int32_t bitrate;
	int complexity;
	bool fec, dtx, cbr, audio;
	int loss;
	uint8_t pt;
	uint32_t ssrc;
	uint16_t seq;
	uint32_t ts;
	struct sa src, dst;
	uint64_t start_us;
};


static void usage(void)
{
	fprintf(stderr,
		"usage: opus_pcap IN.raw OUT.pcap --rate HZ [--channels 1|2]"
		" [--ptime 10|20|40|60|80|100|120]\n"
		"         [--bitrate BPS] [--complexity 0..10] [--fec]"
		" [--loss PERC] [--dtx] [--cbr]\n"
		"         [--audio] [--pt N] [--ssrc N] [--seq N] [--ts N]"
		" [--src IP:PORT]\n"
		"         [--dst IP:PORT] [--start SECONDS]\n");
}


static int bad(const char *what, const char *val)
{
	fprintf(stderr, "opus_pcap: bad %s: %s\n", what, val);
	usage();

	return 2;
}


static bool num(const char *s, unsigned long long lo, unsigned long long hi,
		unsigned long long *v)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;

	errno = 0;
	*v = strtoull(s, &end, 0);

	return !errno && !*end && *v >= lo && *v <= hi;
}


static bool opus_rate(uint32_t r)
{
	return r == 8000 || r == 12000 || r == 16000 || r == 24000 ||
		r == 48000;
}


static int parse(int argc, char **argv, struct opts *o, const char **in,
		 const char **out)
{
	static const struct option lo[] = {
		{"rate", 1, NULL, 'r'}, {"channels", 1, NULL, 'c'},
		{"ptime", 1, NULL, 'p'}, {"bitrate", 1, NULL, 'b'},
		{"complexity", 1, NULL, 'x'}, {"fec", 0, NULL, 'f'},
		{"loss", 1, NULL, 'l'}, {"dtx", 0, NULL, 'd'},
		{"cbr", 0, NULL, 'C'}, {"audio", 0, NULL, 'A'},
		{"pt", 1, NULL, 'P'}, {"ssrc", 1, NULL, 'S'},
		{"seq", 1, NULL, 'Q'}, {"ts", 1, NULL, 'T'},
		{"src", 1, NULL, 's'}, {"dst", 1, NULL, 'D'},
		{"start", 1, NULL, 'B'}, {"help", 0, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned long long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->channels = 1;
	o->ptime = 20;
	o->bitrate = 32000;
	o->complexity = 5;
	o->loss = -1;
	o->pt = 111;
	o->ssrc = 0x0c0dec05;
	o->seq = 1000;
	o->start_us = 1700000000ULL * 1000000;
	(void)sa_decode(&o->src, "127.0.0.1:40000", 15);
	(void)sa_decode(&o->dst, "127.0.0.1:6000", 14);

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {

		case 'r':
			if (!num(optarg, 1000, 192000, &v))
				return bad("--rate", optarg);
			o->rate = (uint32_t)v;
			break;

		case 'c':
			if (!num(optarg, 1, 2, &v))
				return bad("--channels", optarg);
			o->channels = (int)v;
			break;

		case 'p':
			if (!num(optarg, 10, 120, &v) ||
			    (v != 10 && v % 20))
				return bad("--ptime (10, 20, 40, 60, 80, 100 "
					   "or 120)", optarg);
			o->ptime = (uint32_t)v;
			break;

		case 'b':
			if (!num(optarg, 6000, 510000, &v))
				return bad("--bitrate (6000..510000)", optarg);
			o->bitrate = (int32_t)v;
			break;

		case 'x':
			if (!num(optarg, 0, 10, &v))
				return bad("--complexity (0..10)", optarg);
			o->complexity = (int)v;
			break;

		case 'l':
			if (!num(optarg, 0, 100, &v))
				return bad("--loss (0..100)", optarg);
			o->loss = (int)v;
			break;

		case 'f': o->fec = true;   break;
		case 'd': o->dtx = true;   break;
		case 'C': o->cbr = true;   break;
		case 'A': o->audio = true; break;

		case 'P':
			if (!num(optarg, 0, 127, &v))
				return bad("--pt (0..127)", optarg);
			o->pt = (uint8_t)v;
			break;

		case 'S':
			if (!num(optarg, 0, 0xffffffffULL, &v))
				return bad("--ssrc", optarg);
			o->ssrc = (uint32_t)v;
			break;

		case 'Q':
			if (!num(optarg, 0, 0xffff, &v))
				return bad("--seq", optarg);
			o->seq = (uint16_t)v;
			break;

		case 'T':
			if (!num(optarg, 0, 0xffffffffULL, &v))
				return bad("--ts", optarg);
			o->ts = (uint32_t)v;
			break;

		case 's':
			if (sa_decode(&o->src, optarg, strlen(optarg)) ||
			    !sa_port(&o->src))
				return bad("--src (IP:PORT, [IPv6]:PORT)",
					   optarg);
			break;

		case 'D':
			if (sa_decode(&o->dst, optarg, strlen(optarg)) ||
			    !sa_port(&o->dst))
				return bad("--dst (IP:PORT, [IPv6]:PORT)",
					   optarg);
			break;

		case 'B':
			if (!num(optarg, 0, 4000000000ULL, &v))
				return bad("--start (whole seconds)", optarg);
			o->start_us = v * 1000000;
			break;

		case 'h':
			usage();
			exit(0);

		default:
			fprintf(stderr, "opus_pcap: unknown or incomplete "
				"option: %s\n", argv[optind - 1]);
			usage();
			return 2;
		}
	}

	if (argc - optind != 2) {
		fprintf(stderr, "opus_pcap: want IN.raw and OUT.pcap\n");
		usage();
		return 2;
	}
	if (!o->rate) {
		fprintf(stderr, "opus_pcap: --rate is required\n");
		usage();
		return 2;
	}
	if (sa_af(&o->src) != sa_af(&o->dst)) {
		re_fprintf(stderr, "opus_pcap: --src %J and --dst %J: not one IP "
			"version\n", &o->src, &o->dst);
		usage();
		return 2;
	}
	if (o->loss >= 0 && !o->fec) {
		fprintf(stderr, "opus_pcap: --loss goes with --fec\n");
		usage();
		return 2;
	}

	*in = argv[optind];
	*out = argv[optind + 1];

	return 0;
}


/* the whole input file as samples */
static int read_input(const char *path, int16_t **pcm, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long sz;
	int err = 0;

	if (!f)
		return errno;

	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		err = errno ? errno : EIO;
		goto out;
	}
	if (sz > MAX_INPUT) {
		err = EFBIG;
		goto out;
	}

	buf = malloc((size_t)sz + 2);
	*pcm = malloc(((size_t)sz / 2 + 1) * sizeof(int16_t));
	if (!buf || !*pcm) {
		err = ENOMEM;
		goto out;
	}
	if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		err = EIO;
		goto out;
	}

	*n = (size_t)sz / 2;
	for (size_t i = 0; i < *n; i++)
		(*pcm)[i] = (int16_t)(buf[2 * i] | (buf[2 * i + 1] << 8));

 out:
	free(buf);
	fclose(f);

	return err;
}


/* convert to 48 kHz; frames = samples per channel */
static int to_48k(const struct opts *o, int16_t **pcm, size_t *frames)
{
	SpeexResamplerState *st;
	spx_uint32_t ilen, olen;
	size_t out_frames;
	int16_t *out;
	int serr = 0;

	out_frames = (size_t)((uint64_t)*frames * RTP_CLOCK / o->rate) + 64;
	out = calloc(out_frames * (size_t)o->channels, sizeof(*out));
	if (!out)
		return ENOMEM;

	st = speex_resampler_init((spx_uint32_t)o->channels, o->rate,
				  RTP_CLOCK, 10, &serr);
	if (!st) {
		free(out);
		return EINVAL;
	}
	(void)speex_resampler_skip_zeros(st);

	ilen = (spx_uint32_t)*frames;
	olen = (spx_uint32_t)out_frames;
	serr = speex_resampler_process_interleaved_int(st, *pcm, &ilen, out,
						       &olen);
	speex_resampler_destroy(st);
	if (serr != RESAMPLER_ERR_SUCCESS) {
		free(out);
		return EINVAL;
	}

	free(*pcm);
	*pcm = out;
	*frames = olen;

	return 0;
}


static int ctl_all(OpusEncoder *enc, const struct opts *o)
{
	int e = 0;

	e |= opus_encoder_ctl(enc, OPUS_SET_BITRATE(o->bitrate));
	e |= opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(o->complexity));
	e |= opus_encoder_ctl(enc, OPUS_SET_VBR(o->cbr ? 0 : 1));
	e |= opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(o->fec ? 1 : 0));
	e |= opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(
				      o->fec ? (o->loss >= 0 ? o->loss : 10)
				      : 0));
	e |= opus_encoder_ctl(enc, OPUS_SET_DTX(o->dtx ? 1 : 0));
	if (!o->audio)
		e |= opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));

	return e;
}


/*
 * One packet of `ptime` ms from pcm (`step` samples per channel at
 * `rate`): a single frame up to 60 ms, else frames of 60, 40 or 20 ms
 * joined with the repacketizer (RFC 6716 code 3). Its length, or a
 * negative libopus error.
 */
static opus_int32 encode_packet(OpusEncoder *enc, const opus_int16 *pcm,
				uint32_t step, uint32_t ptime, int channels,
				uint8_t *out, opus_int32 max)
{
	static uint8_t sub[6][1276];
	OpusRepacketizer *rp;
	uint32_t sub_ms, n, i;
	opus_int32 len;

	if (ptime <= 60)
		return opus_encode(enc, pcm, (int)step, out, max);

	sub_ms = ptime % 60 == 0 ? 60 : ptime % 40 == 0 ? 40 : 20;
	n = ptime / sub_ms;
	rp = opus_repacketizer_create();
	if (!rp)
		return OPUS_ALLOC_FAIL;

	for (i = 0; i < n; i++) {
		const uint32_t ss = step / n;

		len = opus_encode(enc, pcm + (size_t)i * ss * (size_t)channels,
				  (int)ss, sub[i], (opus_int32)sizeof(sub[i]));
		if (len < 0)
			goto out;
		len = opus_repacketizer_cat(rp, sub[i], len);
		if (len != OPUS_OK)
			goto out;
	}
	len = opus_repacketizer_out(rp, out, max);
 out:
	opus_repacketizer_destroy(rp);
	return len;
}


int main(int argc, char **argv)
{
	struct pcapf_writer *w = NULL;
	OpusEncoder *enc = NULL;
	const char *in = NULL, *out = NULL;
	int16_t *pcm = NULL, *frame = NULL;
	size_t n = 0, frames, step, nframes;
	unsigned long long bytes = 0;
	unsigned sent = 0, skipped = 0;
	bool marker = true;
	uint16_t seq;
	uint32_t rate;
	struct opts o;
	int err, rc = 1;

	rc = parse(argc, argv, &o, &in, &out);
	if (rc)
		return rc;
	rc = 1;

	err = read_input(in, &pcm, &n);
	if (err) {
		fprintf(stderr, "opus_pcap: %s: %s\n", in, strerror(err));
		goto out;
	}
	if (n % (size_t)o.channels) {
		fprintf(stderr, "opus_pcap: %s: odd number of samples for "
			"stereo\n", in);
		goto out;
	}
	frames = n / (size_t)o.channels;
	if (!frames) {
		fprintf(stderr, "opus_pcap: %s is empty\n", in);
		goto out;
	}

	rate = o.rate;
	if (!opus_rate(rate)) {
		err = to_48k(&o, &pcm, &frames);
		if (err) {
			fprintf(stderr, "opus_pcap: %u -> 48000 Hz: %s\n",
				o.rate, strerror(err));
			goto out;
		}
		rate = RTP_CLOCK;
	}

	enc = opus_encoder_create((opus_int32)rate, o.channels,
				  o.audio ? OPUS_APPLICATION_AUDIO
				  : OPUS_APPLICATION_VOIP, &err);
	if (!enc || ctl_all(enc, &o) != OPUS_OK) {
		fprintf(stderr, "opus_pcap: cannot set up the encoder\n");
		goto out;
	}

	err = pcapf_create(&w, out);
	if (err) {
		fprintf(stderr, "opus_pcap: %s: %s\n", out, strerror(err));
		goto out;
	}

	step = rate * o.ptime / 1000;              /* per channel */
	nframes = (frames + step - 1) / step;
	frame = calloc(step * (size_t)o.channels, sizeof(*frame));
	if (!frame)
		goto out;

	seq = o.seq;
	for (size_t k = 0; k < nframes; k++) {
		uint8_t pkt[RTP_HDR + MAX_PAYLOAD];
		size_t have = frames - k * step;
		opus_int32 len;

		if (have > step)
			have = step;
		memset(frame, 0, step * (size_t)o.channels * sizeof(*frame));
		memcpy(frame, pcm + k * step * (size_t)o.channels,
		       have * (size_t)o.channels * sizeof(*frame));

		len = encode_packet(enc, frame, step, o.ptime, o.channels,
				    pkt + RTP_HDR, MAX_PAYLOAD);
		if (len < 0) {
			fprintf(stderr, "opus_pcap: frame %zu: %s\n", k,
				opus_strerror(len));
			goto out;
		}

		if (o.dtx && len <= 2) {
			/* not to be sent; the next packet starts a talkspurt */
			++skipped;
			marker = true;
			continue;
		}

		pkt[0] = 0x80;
		pkt[1] = (uint8_t)((marker ? 0x80 : 0) | o.pt);
		pkt[2] = (uint8_t)(seq >> 8);
		pkt[3] = (uint8_t)seq;
		{
			uint32_t ts = o.ts + (uint32_t)(k * o.ptime * 48);

			pkt[4] = (uint8_t)(ts >> 24);
			pkt[5] = (uint8_t)(ts >> 16);
			pkt[6] = (uint8_t)(ts >> 8);
			pkt[7] = (uint8_t)ts;
		}
		pkt[8]  = (uint8_t)(o.ssrc >> 24);
		pkt[9]  = (uint8_t)(o.ssrc >> 16);
		pkt[10] = (uint8_t)(o.ssrc >> 8);
		pkt[11] = (uint8_t)o.ssrc;

		err = pcapf_write_udp(w, o.start_us + k * o.ptime * 1000,
				      &o.src, &o.dst, pkt,
				      RTP_HDR + (size_t)len);
		if (err) {
			fprintf(stderr, "opus_pcap: %s: %s\n", out,
				strerror(err));
			goto out;
		}

		marker = false;
		++seq;
		++sent;
		bytes += (unsigned long long)len;
	}

	err = pcapf_close(w);
	w = NULL;
	if (err) {
		fprintf(stderr, "opus_pcap: %s: %s\n", out, strerror(err));
		goto out;
	}

	fprintf(stderr, "%s: %u packets (%u left out by DTX), %.2f s, "
		"%.1f kbit/s of Opus\n", out, sent, skipped,
		nframes * o.ptime / 1000.0,
		bytes * 8.0 / (nframes * o.ptime));
	rc = 0;

 out:
	if (w)
		(void)pcapf_close(w);
	if (rc && out)
		(void)remove(out);   /* no half-written pcap */
	if (enc)
		opus_encoder_destroy(enc);
	free(frame);
	free(pcm);

	return rc;
}
