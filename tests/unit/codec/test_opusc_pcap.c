/**
 * @file test_opusc_pcap.c  tests/tools/opus_pcap writes what it should
 *
 * Runs the real tool on generated PCM, reads the pcap back with
 * tests/tools/pcapf, and checks, for a table of settings (rates, stereo,
 * packet times, FEC, DTX, IPv6, sequence wrap, a rate libopus does not
 * take):
 * - the frames: UDP between the given addresses, at most 1500 bytes as
 *   SIPp requires, pcap times exactly ptime apart (DTX gaps included);
 * - the RTP: version 2, the payload type, one SSRC, consecutive sequence
 *   numbers, timestamps on the 48 kHz clock in steps of ptime, the
 *   marker on the first packet and on the first after a DTX gap;
 * - the audio: every payload decodes with libopus to ptime of audio, and
 *   the decoded signal matches the source (correlation floor, after the
 *   codec's delay) -- silence or a wrong rate would fail;
 * - DTX leaves out packets in the source's silence, and only there: most
 *   of a silent second (and pauses of the speech), and a frame only if
 *   it is silent in the source.
 * Bad usage exits 2, a missing input exits 1, and neither leaves a file.
 * Last, the pcap helper itself: write and read back over IPv4 and IPv6,
 * and a SIPp pcap cut at every length or with any byte flipped reads as
 * an error or fewer packets, never a crash or an overread.
 */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <opus/opus.h>
#include <re.h>
#include "test.h"
#include "resamp.h"
#include "rtpkt.h"
#include "pcapf.h"
#include "sigq.h"

#ifndef OPUS_PCAP
#error "OPUS_PCAP: path of the opus_pcap tool"
#endif

extern char **environ;

enum {
	SECONDS = 3,
	MAX_RATE = 48000,
	MAX_SAMPLES = MAX_RATE * SECONDS * 2,
};

static char tmpdir[64];


static int run(const char *const *argv)
{
	pid_t pid;
	int st;

	TEST_ERR(posix_spawn(&pid, argv[0], NULL, NULL, (char **)argv,
			     environ), 0);
	TEST_EQ(waitpid(pid, &st, 0), pid);
	TEST_ASSERT(WIFEXITED(st));

	return WEXITSTATUS(st);
}


static void write_raw(const char *path, const int16_t *x, size_t n)
{
	FILE *f = fopen(path, "wb");

	TEST_ASSERT(f != NULL);
	for (size_t i = 0; i < n; i++) {
		uint8_t b[2] = {(uint8_t)x[i], (uint8_t)((uint16_t)x[i] >> 8)};

		TEST_EQ(fwrite(b, 1, 2, f), 2);
	}
	TEST_EQ(fclose(f), 0);
}


struct ocase {
	const char *name;
	uint32_t rate;
	int channels;
	uint32_t ptime;
	const char *extra[6];     /* more options */
	bool dtx;
	bool silence;             /* second 1..2 of the source is silent */
	uint16_t seq;
	uint32_t ts;
	const char *src, *dst;
	double min_corr;
};

static const struct ocase ocases[] = {
	{"16 kHz mono, defaults", 16000, 1, 20, {NULL}, false, false,
	 1000, 0, "127.0.0.1:40000", "127.0.0.1:6000", 0.9},
	{"8 kHz, FEC, 16 kbit/s, complexity 0", 8000, 1, 20,
	 {"--fec", "--bitrate", "16000", "--complexity", "0", NULL},
	 false, false, 1000, 0, "127.0.0.1:40000", "127.0.0.1:6000", 0.9},
	{"24 kHz, 60 ms, sequence and timestamp wrap", 24000, 1, 60,
	 {"--seq", "65530", "--ts", "4294960000", NULL}, false, false,
	 65530, 4294960000u, "127.0.0.1:40000", "127.0.0.1:6000", 0.9},
	{"48 kHz, 10 ms, IPv6, PT 96", 48000, 1, 10,
	 {"--pt", "96", "--src", "[::1]:4000", "--dst", "[::1]:5004"}, false,
	 false, 1000, 0, "[::1]:4000", "[::1]:5004", 0.9},
	{"48 kHz stereo, 64 kbit/s", 48000, 2, 20,
	 {"--bitrate", "64000", NULL}, false, false, 1000, 0,
	 "127.0.0.1:40000", "127.0.0.1:6000", 0.9},
	{"16 kHz, DTX over a second of silence", 16000, 1, 20,
	 {"--dtx", NULL}, true, true, 1000, 0, "127.0.0.1:40000",
	 "127.0.0.1:6000", 0.9},
	{"44.1 kHz (converted to 48 kHz)", 44100, 1, 20, {NULL}, false,
	 false, 1000, 0, "127.0.0.1:40000", "127.0.0.1:6000", 0.9},
	{"12 kHz, CBR, 40 ms", 12000, 1, 40, {"--cbr", NULL}, false, false,
	 1000, 0, "127.0.0.1:40000", "127.0.0.1:6000", 0.9},
};


static bool opus_rate(uint32_t r)
{
	return r == 8000 || r == 12000 || r == 16000 || r == 24000 ||
		r == 48000;
}


static void run_case(const struct ocase *c)
{
	static int16_t src[MAX_SAMPLES], mono[MAX_SAMPLES / 2];
	static int16_t dec[MAX_SAMPLES + 5760 * 2], cmp[MAX_SAMPLES];
	const uint32_t drate = opus_rate(c->rate) ? c->rate : 48000;
	const size_t frames = (size_t)c->rate * SECONDS;
	const size_t dstep = drate * c->ptime / 1000;
	char raw[128], pcap[128], ptime[16], rate[16], chan[16];
	const char *argv[32];
	struct pcapf_reader *r = NULL;
	struct sa want_src, want_dst;
	OpusDecoder *od;
	size_t argc = 0, dn = 0, pk = 0, k_prev = 0;
	uint64_t t0 = 0;
	unsigned left_out = 0, in_gap = 0;
	const size_t sstep = c->rate * c->ptime / 1000;
	double corr;
	int err;

	/* the source: speech-like, the same in both channels but for a
	   little level difference */
	sigq_speech(mono, frames, c->rate, -20, 17);
	if (c->silence)
		memset(mono + c->rate, 0, c->rate * sizeof(*mono));
	for (size_t i = 0; i < frames; i++)
		for (int ch = 0; ch < c->channels; ch++)
			src[i * c->channels + ch] =
				(int16_t)(mono[i] / (ch + 1));

	snprintf(raw, sizeof(raw), "%s/in.raw", tmpdir);
	snprintf(pcap, sizeof(pcap), "%s/out.pcap", tmpdir);
	write_raw(raw, src, frames * c->channels);

	snprintf(rate, sizeof(rate), "%u", c->rate);
	snprintf(ptime, sizeof(ptime), "%u", c->ptime);
	snprintf(chan, sizeof(chan), "%d", c->channels);
	argv[argc++] = OPUS_PCAP;
	argv[argc++] = raw;
	argv[argc++] = pcap;
	argv[argc++] = "--rate";
	argv[argc++] = rate;
	argv[argc++] = "--ptime";
	argv[argc++] = ptime;
	argv[argc++] = "--channels";
	argv[argc++] = chan;
	for (size_t i = 0; i < ARRAY_SIZE(c->extra) && c->extra[i]; i++)
		argv[argc++] = c->extra[i];
	argv[argc] = NULL;

	if (run(argv))
		TEST_FAIL("%s: opus_pcap failed", c->name);

	TEST_ERR(sa_decode(&want_src, c->src, strlen(c->src)), 0);
	TEST_ERR(sa_decode(&want_dst, c->dst, strlen(c->dst)), 0);

	od = opus_decoder_create((opus_int32)drate, c->channels, &err);
	TEST_ASSERT(od != NULL);

	TEST_ERR(pcapf_open(&r, pcap), 0);
	for (;;) {
		struct pcapf_udp u;
		struct rtpkt p;
		size_t k;
		int n;

		err = pcapf_next(r, &u);
		if (err == ENOENT)
			break;
		TEST_ERR(err, 0);

		TEST_ASSERT(sa_cmp(&u.src, &want_src, SA_ALL));
		TEST_ASSERT(sa_cmp(&u.dst, &want_dst, SA_ALL));
		TEST_ASSERT(u.len + 8 <= PCAPF_SIPP_MAX);

		TEST_ERR(rtpkt_decode(&p, u.payload, u.len), 0);
		TEST_EQ(u.payload[0] >> 6, 2);
		TEST_EQ(p.cc, 0);
		TEST_ASSERT(!p.ext);
		TEST_EQ(p.pt, c->extra[0] && !strcmp(c->extra[0], "--pt") ?
			96 : 111);
		TEST_EQ(p.ssrc, 0x0c0dec05);
		TEST_EQ(p.seq, (uint16_t)(c->seq + pk));

		/* the frame index from the timestamp, 48 kHz clock */
		TEST_EQ((p.ts - c->ts) % (48 * c->ptime), 0);
		k = (p.ts - c->ts) / (48 * c->ptime);
		if (pk == 0) {
			TEST_EQ(k, 0);
			t0 = u.t_us;
		}
		else {
			TEST_ASSERT(k > k_prev);
		}
		TEST_EQ(u.t_us, t0 + (uint64_t)k * c->ptime * 1000);

		/* marker on the first packet and after a DTX gap only */
		TEST_EQ(p.marker, pk == 0 || k != k_prev + 1);
		if (pk && k != k_prev + 1)
			TEST_ASSERT(c->dtx);

		/* frames left out by DTX: silent in the source, and
		   concealed (comfort noise) at the receiver */
		for (size_t g = pk ? k_prev + 1 : 0; g < k; g++) {
			for (size_t i = g * sstep; i < (g + 1) * sstep &&
				     i < frames; i++)
				if (abs(mono[i]) > 30)
					TEST_FAIL("%s: frame %zu left out, "
						  "not silent", c->name, g);
			if (g * c->ptime >= 1000 && g * c->ptime < 2000)
				++in_gap;

			TEST_EQ(opus_decode(od, NULL, 0, dec + dn * c->channels,
					    (int)dstep, 0), dstep);
			dn += dstep;
			++left_out;
		}

		n = opus_decode(od, p.payload, (opus_int32)p.payload_len,
				dec + dn * c->channels, (int)dstep, 0);
		TEST_EQ(n, dstep);
		dn += dstep;

		k_prev = k;
		++pk;
	}
	mem_deref(r);
	opus_decoder_destroy(od);

	/* every frame of the source is there (the last one padded) */
	TEST_EQ(k_prev + 1, (frames * 1000 / c->rate + c->ptime - 1) /
		c->ptime);
	if (c->dtx)   /* most of the silent second is left out */
		TEST_ASSERT(in_gap >= 1000 / c->ptime * 3 / 4);
	else
		TEST_EQ(left_out, 0);

	/* first channel, back at the source's rate */
	for (size_t i = 0; i < dn; i++)
		dec[i] = dec[i * c->channels];
	if (drate != c->rate) {
		struct resamp *rs = NULL;
		int m;

		TEST_ERR(resamp_alloc(&rs, drate, c->rate, 10), 0);
		m = resamp_process(rs, dec, (uint32_t)dn, cmp,
				   (uint32_t)ARRAY_SIZE(cmp));
		TEST_ASSERT(m > 0);
		dn = (size_t)m;
		mem_deref(rs);
	}
	else {
		memcpy(cmp, dec, dn * sizeof(*dec));
	}
	TEST_ASSERT(dn >= frames);

	{
		size_t d = sigq_delay(mono, cmp, frames, c->rate / 25);

		corr = sigq_corr(mono, cmp, frames, d);
		printf("%-44s %4u packets, delay %4zu, corr %.3f\n", c->name,
		       (unsigned)pk, d, corr);
	}
	if (corr < c->min_corr)
		TEST_FAIL("%s: correlation %.3f < %.2f", c->name, corr,
			  c->min_corr);

	(void)remove(raw);
	(void)remove(pcap);
}


static void test_usage(void)
{
	static const char *const bad[][4] = {
		{"--rate", "0"}, {"--rate", "abc"}, {"--rate", "-8000"},
		{"--ptime", "30"}, {"--channels", "3"},
		{"--bitrate", "5000"}, {"--complexity", "11"},
		{"--pt", "128"}, {"--seq", "65536"}, {"--src", "nowhere"},
		{"--dst", "[::1]:5000"}, {"--loss", "5"}, {"--bogus"},
		{"--rate"},
	};
	char raw[128], pcap[128], missing[128];
	int16_t x[320] = {0};
	struct stat st;

	snprintf(raw, sizeof(raw), "%s/u.raw", tmpdir);
	snprintf(pcap, sizeof(pcap), "%s/u.pcap", tmpdir);
	snprintf(missing, sizeof(missing), "%s/missing.raw", tmpdir);
	write_raw(raw, x, 320);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *argv[10] = {OPUS_PCAP, raw, pcap};
		size_t a = 3;

		if (strcmp(bad[i][0], "--rate")) {
			argv[a++] = "--rate";
			argv[a++] = "16000";
		}
		for (size_t k = 0; k < 4 && bad[i][k]; k++)
			argv[a++] = bad[i][k];
		argv[a] = NULL;

		if (run(argv) != 2)
			TEST_FAIL("opus_pcap %s %s: not exit status 2",
				  bad[i][0], bad[i][1] ? bad[i][1] : "");
		TEST_ASSERT(stat(pcap, &st) != 0);
	}

	{
		const char *argv[] = {OPUS_PCAP, raw, pcap, NULL};

		TEST_EQ(run(argv), 2);     /* no --rate */
	}
	{
		const char *argv[] = {OPUS_PCAP, missing, pcap, "--rate",
				      "16000", NULL};

		TEST_EQ(run(argv), 1);
		TEST_ASSERT(stat(pcap, &st) != 0);
	}
	{
		const char *argv[] = {OPUS_PCAP, raw, "/nonexistent/x.pcap",
				      "--rate", "16000", NULL};

		TEST_EQ(run(argv), 1);
	}

	(void)remove(raw);
}


/* the pcap helper: write -> read, and a file cut or corrupted anywhere
   reads as an error or fewer packets, never a crash or an overread */
static void test_pcapf(void)
{
	static const char *const addr[][2] = {
		{"127.0.0.1:1234", "127.0.0.2:5678"},
		{"[::1]:1234", "[fe80::1]:5678"},
	};
	char path[128], cut[128];
	uint8_t pl[301], *file;
	struct sa a, b;
	unsigned sum = 0;
	FILE *f;
	long sz;

	snprintf(path, sizeof(path), "%s/w.pcap", tmpdir);
	snprintf(cut, sizeof(cut), "%s/cut.pcap", tmpdir);
	for (size_t i = 0; i < sizeof(pl); i++)
		pl[i] = (uint8_t)(i * 7);

	for (size_t v = 0; v < 2; v++) {
		struct pcapf_writer *w = NULL;
		struct pcapf_reader *r = NULL;
		struct pcapf_udp u;

		TEST_ERR(sa_decode(&a, addr[v][0], strlen(addr[v][0])), 0);
		TEST_ERR(sa_decode(&b, addr[v][1], strlen(addr[v][1])), 0);
		TEST_ERR(pcapf_create(&w, path), 0);
		for (size_t k = 0; k < 5; k++)
			TEST_ERR(pcapf_write_udp(w, 1000000 + k * 20000, &a, &b,
						 pl, k * 75), 0);
		TEST_ERR(pcapf_write_udp(w, 0, &a, NULL, pl, 1), EINVAL);
		TEST_ERR(pcapf_close(w), 0);

		TEST_ERR(pcapf_open(&r, path), 0);
		for (size_t k = 0; k < 5; k++) {
			TEST_ERR(pcapf_next(r, &u), 0);
			TEST_EQ(u.t_us, 1000000 + k * 20000);
			TEST_ASSERT(sa_cmp(&u.src, &a, SA_ALL));
			TEST_ASSERT(sa_cmp(&u.dst, &b, SA_ALL));
			TEST_EQ(u.len, k * 75);
			TEST_ASSERT(!memcmp(u.payload, pl, u.len));
		}
		TEST_ERR(pcapf_next(r, &u), ENOENT);
		mem_deref(r);
	}

	{
		struct pcapf_writer *w = NULL;

		TEST_ERR(sa_decode(&a, addr[0][0], strlen(addr[0][0])), 0);
		TEST_ERR(sa_decode(&b, addr[1][1], strlen(addr[1][1])), 0);
		TEST_ERR(pcapf_create(&w, path), 0);
		TEST_ERR(pcapf_write_udp(w, 0, &a, &b, pl, 1), EAFNOSUPPORT);
		TEST_ERR(pcapf_close(w), 0);
	}

	/* one of SIPp's pcaps, cut at every length and corrupted */
	f = fopen("/usr/share/sip-tester/dtmf_2833_5.pcap", "rb");
	TEST_ASSERT(f != NULL);
	TEST_EQ(fseek(f, 0, SEEK_END), 0);
	sz = ftell(f);
	TEST_ASSERT(sz > 24);
	rewind(f);
	file = mem_alloc((size_t)sz, NULL);
	TEST_EQ(fread(file, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);

	/* cut at every length (corrupt 0), then the whole file with each
	   byte flipped in turn (two patterns) */
	for (long it = 0; it <= 3 * sz; it++) {
		const long len = it <= sz ? it : sz;
		const long pos = it <= sz ? -1 : (it - sz - 1) % sz;
		const uint8_t x = it <= 2 * sz ? 0xff : 0x80;
		const bool corrupt = pos >= 0;
		struct pcapf_reader *r = NULL;
		struct pcapf_udp u;
		unsigned got = 0;
		int err;

		if (corrupt)
			file[pos] ^= x;
		f = fopen(cut, "wb");
		TEST_ASSERT(f != NULL);
		TEST_EQ(fwrite(file, 1, (size_t)len, f), (size_t)len);
		TEST_EQ(fclose(f), 0);
		if (corrupt)
			file[pos] ^= x;

		err = pcapf_open(&r, cut);
		if (err) {
			TEST_ASSERT(len < 24 || corrupt);
			continue;
		}
		for (unsigned i = 0; i < 100; i++) {
			err = pcapf_next(r, &u);
			if (err)
				break;
			/* touch every byte: ASan sees an overread of the
			   reader's exact-size buffer */
			for (size_t k = 0; k < u.len; k++)
				sum += u.payload[k];
			++got;
		}
		TEST_ASSERT(err == ENOENT || err == EBADMSG);
		TEST_ASSERT(got <= 10);
		if (!corrupt && len == sz)
			TEST_EQ(got, 10);
		mem_deref(r);
	}
	mem_deref(file);
	TEST_ASSERT(sum > 0);

	TEST_ERR(pcapf_open(NULL, path), EINVAL);
	{
		struct pcapf_reader *r = NULL;

		TEST_ERR(pcapf_open(&r, "/nonexistent.pcap"), ENOENT);
	}

	(void)remove(path);
	(void)remove(cut);
}


int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cb-opus-pcap-XXXXXX");
	TEST_ASSERT(mkdtemp(tmpdir) != NULL);

	for (size_t i = 0; i < ARRAY_SIZE(ocases); i++)
		run_case(&ocases[i]);
	test_usage();
	test_pcapf();

	TEST_EQ(rmdir(tmpdir), 0);
	printf("test_opusc_pcap: ok\n");

	return 0;
}
