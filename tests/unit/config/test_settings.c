/**
 * @file test_settings.c  The settings file: defaults, parsing, errors with
 *                        line numbers, the shipped demo configuration
 */
#include <errno.h>
#include <ftw.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cb_re.h"
#include "settings.h"
#include "store.h"
#include "test.h"

#ifndef CB_SOURCE_DIR
#error "CB_SOURCE_DIR must point at the source tree"
#endif

static char tmpdir[256];


static const char *write_conf(const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/test.conf", tmpdir);
	f = fopen(path, "w");
	TEST_ASSERT(f != NULL);
	fwrite(text, 1, strlen(text), f);
	TEST_EQ(fclose(f), 0);

	return path;
}


static void test_defaults(void)
{
	struct settings *s = NULL;
	char err[256], buf[64];

	TEST_ERR(settings_load(&s, NULL, err, sizeof(err)), 0);

	TEST_EQ(s->sip_listenc, 2);
	TEST_EQ(s->sip_listen[0].transp, SIP_TRANSP_UDP);
	TEST_EQ(s->sip_listen[1].transp, SIP_TRANSP_TCP);
	TEST_EQ(sa_port(&s->sip_listen[0].addr), 5060);
	sa_ntop(&s->sip_listen[1].addr, buf, sizeof(buf));
	TEST_STREQ(buf, "127.0.0.1");
	sa_ntop(&s->rtp_address, buf, sizeof(buf));
	TEST_STREQ(buf, "127.0.0.1");
	TEST_EQ(sa_af(&s->rtp_advertise), AF_UNSPEC);
	TEST_EQ(sa_af(&s->sip_advertise), AF_UNSPEC);
	TEST_EQ(s->rtp_port_min, 20000);
	TEST_EQ(s->rtp_port_max, 29999);
	TEST_STREQ(s->control_socket, "/run/callbridge/callbridge.sock");
	TEST_STREQ(s->state_file, "/var/lib/callbridge/state.json");
	TEST_STREQ(s->state_seed, "");
	TEST_EQ(s->log_level, LOGL_INFO);
	TEST_STREQ(loglevel_name(s->log_level), "info");
	TEST_EQ(s->workers, 0);
	TEST_EQ(s->max_calls, 500);
	TEST_EQ(s->agent_connect_timeout_ms, 5000);
	TEST_EQ(s->max_call_duration_s, 14400);
	TEST_EQ(s->rtp_timeout_s, 60);
	TEST_EQ(s->jb_min_ms, 0);
	TEST_EQ(s->jb_max_ms, 60);
	TEST_EQ(s->opus_complexity, 5);
	TEST_EQ(s->opus_bitrate, 32000);
	TEST_EQ(s->resample_quality, 4);
	TEST_STREQ(s->path, "");

	mem_deref(s);
}


static void test_good_file(void)
{
	struct settings *s = NULL;
	char err[256], buf[64], want[600];
	const char *path = write_conf(
		"# comment\n"
		"\n"
		"   # indented comment\n"
		"sip_listen  udp:0.0.0.0:5070\ttcp:[::1]:5071   udp:[::]:5072\n"
		"rtp_address ::\r\n"
		"rtp_advertise 203.0.113.10\n"
		"sip_advertise [2001:db8::5]\n"
		"rtp_port_min 1024\n"
		"rtp_port_max 65535\n"
		"control_socket run/ctl.sock\n"
		"state_file /abs/state.json\n"
		"state_seed seed dir/demo#1.json\n"
		"log_level debug\n"
		"workers 256\n"
		"max_calls 100000\n"
		"sip_flood_action drop\n"
		"sip_ack_timeout_ms 1000\n"
		"agent_connect_timeout_ms 100\n"
		"max_call_duration_s 10\n"
		"rtp_timeout_s 0\n"
		"jb_min_ms 20\n"
		"jb_max_ms 20\n"
		"opus_complexity 10\n"
		"opus_bitrate 510000\n"
		"resample_quality 0");   /* no final newline */

	TEST_ERR(settings_load(&s, path, err, sizeof(err)), 0);

	TEST_EQ(s->sip_listenc, 3);
	TEST_EQ(s->sip_listen[1].transp, SIP_TRANSP_TCP);
	TEST_EQ(sa_af(&s->sip_listen[1].addr), AF_INET6);
	TEST_EQ(sa_port(&s->sip_listen[1].addr), 5071);
	TEST_ASSERT(sa_is_any(&s->sip_listen[2].addr));
	TEST_ASSERT(sa_is_any(&s->rtp_address));
	TEST_EQ(sa_af(&s->rtp_address), AF_INET6);
	sa_ntop(&s->rtp_advertise, buf, sizeof(buf));
	TEST_STREQ(buf, "203.0.113.10");
	sa_ntop(&s->sip_advertise, buf, sizeof(buf));
	TEST_STREQ(buf, "2001:db8::5");
	TEST_EQ(s->rtp_port_min, 1024);
	TEST_EQ(s->rtp_port_max, 65535);

	/* relative paths: against the directory of the settings file */
	snprintf(want, sizeof(want), "%s/run/ctl.sock", tmpdir);
	TEST_STREQ(s->control_socket, want);
	TEST_STREQ(s->state_file, "/abs/state.json");
	snprintf(want, sizeof(want), "%s/seed dir/demo#1.json", tmpdir);
	TEST_STREQ(s->state_seed, want);

	TEST_EQ(s->log_level, LOGL_DEBUG);
	TEST_EQ(s->workers, 256);
	TEST_EQ(s->max_calls, 100000);
	TEST_EQ(s->sip_flood_action, SETTINGS_FLOOD_DROP);
	TEST_EQ(s->sip_ack_timeout_ms, 1000);
	TEST_EQ(s->sip_invite_rate, 200);        /* defaults */
	TEST_EQ(s->sip_pending_per_source, 200);
	TEST_EQ(s->rtp_timeout_s, 0);
	TEST_EQ(s->jb_min_ms, 20);
	TEST_EQ(s->resample_quality, 0);
	TEST_STREQ(s->path, path);

	mem_deref(s);

	/* an empty file is all defaults; an empty value clears a path */
	path = write_conf("state_seed\nrtp_advertise\n");
	TEST_ERR(settings_load(&s, path, err, sizeof(err)), 0);
	TEST_STREQ(s->state_seed, "");
	TEST_EQ(sa_af(&s->rtp_advertise), AF_UNSPEC);
	mem_deref(s);
}


static const struct {
	const char *text;
	const char *msg;
} bad[] = {
	{"max_calls 5\nfoo 1\n", ":2: unknown key \"foo\""},
	{"max_calls 5\n\nmax_calls 6\n", ":3: max_calls: given twice (first on line 1)"},
	{"max_calls 0\n", ":1: max_calls: 0 is out of range 1..100000"},
	{"max_calls 100001\n", "out of range 1..100000"},
	{"max_calls 99999999999999\n", "out of range"},
	{"max_calls -1\n", "\"-1\" is not an integer"},
	{"max_calls\n", "\"\" is not an integer"},
	{"max_calls 5x\n", "\"5x\" is not an integer"},
	{"max_calls 500 # calls\n", "comments must be on their own line"},
	{"workers 257\n", "workers: 257 is out of range 0..256"},
	{"rtp_port_min 1023\n", "rtp_port_min: 1023 is out of range 1024..65535"},
	{"rtp_port_min 30000\n", ":1: rtp_port_min: rtp_port_min (30000) must be less than rtp_port_max (29999)"},
	{"rtp_port_max 20000\nrtp_port_min 20000\n", ":2: rtp_port_min: rtp_port_min (20000) must be less than rtp_port_max (20000)"},
	{"jb_min_ms 100\n", "jb_min_ms (100) must be at most jb_max_ms (60)"},
	{"jb_max_ms 1001\n", "out of range 0..1000"},
	{"opus_bitrate 5999\n", "out of range 6000..510000"},
	{"opus_complexity 11\n", "out of range 0..10"},
	{"agent_connect_timeout_ms 99\n", "out of range 100..60000"},
	{"max_call_duration_s 9\n", "out of range 10..86400"},
	{"rtp_timeout_s 3601\n", "out of range 0..3600"},
	{"resample_quality 11\n", "out of range 0..10"},
	{"log_level verbose\n", "log_level: \"verbose\" is not one of debug"},
	{"sip_flood_action ignore\n", "sip_flood_action: \"ignore\" is not one of reply, drop"},
	{"sip_ack_timeout_ms 32001\n", "out of range 1000..32000"},
	{"sip_invite_rate 0\n", "out of range 1..100000"},
	{"rtp_address localhost\n", "rtp_address: \"localhost\" is not an IP address"},
	{"rtp_address\n", "rtp_address: \"\" is not an IP address"},
	{"rtp_advertise 0.0.0.0\n", "cannot be advertised"},
	{"sip_advertise ::\n", "cannot be advertised"},
	{"sip_advertise example.com\n", "sip_advertise: \"example.com\" is not an IP address"},
	{"state_file\n", "state_file: needs a path"},
	{"control_socket\n", "control_socket: needs a path"},
	{"sip_listen\n", "sip_listen: needs at least one address"},
	{"sip_listen tls:127.0.0.1:5061\n", "must be udp:ADDR:PORT or tcp:ADDR:PORT"},
	{"sip_listen udp:127.0.0.1\n", "has no :PORT"},
	{"sip_listen udp:127.0.0.1:0\n", "port must be 1..65535"},
	{"sip_listen udp:127.0.0.1:65536\n", "port must be 1..65535"},
	{"sip_listen udp:127.0.0.1:50x\n", "port must be 1..65535"},
	{"sip_listen udp:::1:5060\n", "address must be IPv4 or [IPv6]"},
	{"sip_listen udp:host:5060\n", "address must be IPv4 or [IPv6]"},
	{"sip_listen udp:[::1]5060\n", "has no :PORT"},
	{"sip_listen udp:127.0.0.1:5060 udp:127.0.0.1:5060\n", "is listed twice"},
	{"sip_listen udp:127.0.0.1:1 udp:127.0.0.1:2 udp:127.0.0.1:3 "
	 "udp:127.0.0.1:4 udp:127.0.0.1:5 udp:127.0.0.1:6 udp:127.0.0.1:7 "
	 "udp:127.0.0.1:8 udp:127.0.0.1:9\n", "more than 8 entries"},
	{"log_level info\x01\n", "log_level: value has a control character"},
};


static void test_bad_files(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct settings *s = NULL;
		char err[512] = "";
		const char *path = write_conf(bad[i].text);

		if (!settings_load(&s, path, err, sizeof(err)))
			TEST_FAIL("bad %zu loaded: %s", i, bad[i].text);
		TEST_ASSERT(s == NULL);
		if (!strstr(err, bad[i].msg) || strncmp(err, path,
							 strlen(path)))
			TEST_FAIL("bad %zu: error \"%s\" lacks \"%s\"", i, err,
				  bad[i].msg);
	}
}


static void test_unreadable(void)
{
	struct settings *s = NULL;
	char err[512], path[600];
	FILE *f;

	TEST_ERR(settings_load(&s, "/nonexistent/cb.conf", err, sizeof(err)),
		 ENOENT);
	TEST_ASSERT(strstr(err, "cannot read /nonexistent/cb.conf"));

	TEST_ERR(settings_load(&s, tmpdir, err, sizeof(err)), EISDIR);

	/* a NUL byte in the file */
	snprintf(path, sizeof(path), "%s/nul.conf", tmpdir);
	f = fopen(path, "w");
	TEST_ASSERT(f != NULL);
	fwrite("max_calls 5\0\n", 1, 13, f);
	fclose(f);
	TEST_ERR(settings_load(&s, path, err, sizeof(err)), EINVAL);
	TEST_ASSERT(strstr(err, "NUL"));
}


/* The shipped demo configuration loads, lists every key, and its seed
   is a valid state */
static void test_shipped_config(void)
{
	const char *conf = CB_SOURCE_DIR "/config/callbridge.conf";
	struct settings *s = NULL;
	struct store *st = NULL;
	struct route *r = NULL;
	char err[512], state[600], *text;
	size_t len;
	FILE *f;

	TEST_ERR(settings_load(&s, conf, err, sizeof(err)), 0);
	TEST_STREQ(s->state_seed, CB_SOURCE_DIR "/config/demo-state.json");
	TEST_STREQ(s->control_socket, SETTINGS_DEFAULT_CONTROL_SOCKET);
	TEST_EQ(s->sip_listenc, 2);
	TEST_EQ(sa_port(&s->sip_listen[1].addr), 5060);

	/* every key is documented in the file, set or commented out */
	f = fopen(conf, "r");
	TEST_ASSERT(f != NULL);
	text = calloc(1, 1 << 16);
	len = fread(text, 1, (1 << 16) - 1, f);
	fclose(f);
	TEST_ASSERT(len > 0);
	for (uint32_t i = 0; i < settings_key_count(); i++) {
		const char *def, *help;
		const char *key = settings_key_name(i, &def, &help);
		char pat1[80], pat2[80];

		TEST_ASSERT(key && def && help);
		snprintf(pat1, sizeof(pat1), "\n%s", key);
		snprintf(pat2, sizeof(pat2), "\n#%s", key);
		if (!strstr(text, pat1) && !strstr(text, pat2))
			TEST_FAIL("callbridge.conf does not list %s", key);
	}
	TEST_ASSERT(settings_key_name(settings_key_count(), NULL, NULL) ==
		    NULL);
	free(text);

	/* the seed gives the demo number, answered by the echo agent */
	snprintf(state, sizeof(state), "%s/demo/state.json", tmpdir);
	TEST_ERR(store_open(&st, state, s->state_seed, err, sizeof(err)), 0);
	TEST_ERR(store_route(st, "+14155551234", &r), 0);
	TEST_STREQ(r->inbound_agent->id, "echo");
	TEST_STREQ(r->trunk->id, "local");
	{
		struct sa lo;

		sa_set_str(&lo, "127.0.0.1", 5060);
		TEST_ASSERT(trunk_allows_source(r->trunk, &lo));
	}

	mem_deref(r);
	mem_deref(st);
	mem_deref(s);
}


static int rm_cb(const char *path, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}


/* Random settings files (seeded): refused with a message or accepted,
   never a crash or a leak */
static void test_fuzz(void)
{
	static const char *good =
		"sip_listen udp:127.0.0.1:5060 tcp:[::1]:5061\n"
		"rtp_address 127.0.0.1\nrtp_port_min 20000\n"
		"rtp_port_max 29999\nlog_level info\nmax_calls 500\n"
		"state_seed x.json\njb_min_ms 0\njb_max_ms 60\n";
	unsigned seed = 5;
	size_t len = strlen(good);

	for (int i = 0; i < 2000; i++) {
		struct settings *s = NULL;
		char text[512], err[512] = "";
		int e;

		memcpy(text, good, len + 1);
		for (int k = 0; k < 1 + (int)(rand_r(&seed) % 4); k++)
			text[rand_r(&seed) % len] =
				(char)(rand_r(&seed) % 255 + 1);

		e = settings_load(&s, write_conf(text), err, sizeof(err));
		if (e)
			TEST_ASSERT(err[0] != '\0' && s == NULL);
		mem_deref(s);
	}
}


int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cb-test-settings-XXXXXX");
	TEST_ASSERT(mkdtemp(tmpdir) != NULL);

	test_defaults();
	test_good_file();
	test_bad_files();
	test_unreadable();
	test_shipped_config();
	test_fuzz();

	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	printf("test_settings: ok\n");
	return 0;
}
