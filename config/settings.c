/**
 * @file settings.c  The daemon's settings file
 *
 * Design note: one declarative table (Redis style) lists every key with
 * its type, default and bounds. Defaults are text parsed by the same code
 * as the file, so a default can never bypass validation. Loading first
 * applies every default, then each line of the file; an unknown key, a key
 * given twice, a bad value or a value out of bounds stops loading with an
 * error naming the file, the line and the key. Checks that involve two
 * keys (rtp_port_min < rtp_port_max, jb_min_ms <= jb_max_ms) run last.
 *
 * Comments are whole lines starting with '#': a '#' after a value is part
 * of the value (paths may contain '#'), and the error for "500 # calls"
 * says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>
#include <arpa/inet.h>
#include "fsutil.h"
#include "settings.h"


enum stype {
	ST_INT,         /**< uint32_t within min..max                  */
	ST_LISTEN,      /**< list of udp:/tcp:ADDR:PORT                */
	ST_ADDR,        /**< IP address                                */
	ST_ADDR_EMPTY,  /**< IP address or empty                       */
	ST_PATH,        /**< path, relative to the settings file       */
	ST_PATH_EMPTY,  /**< path or empty                             */
	ST_LEVEL,       /**< log level name                            */
	ST_SID,         /**< "AC" + 32 hex characters, or empty        */
	ST_CHOICE,      /**< one of names[], stored as its index       */
};

struct setting_def {
	const char *key;
	enum stype type;
	size_t off;             /**< offset of the field in struct settings */
	uint32_t min, max;      /**< bounds (ST_INT)                        */
	const char *def;        /**< default, as it would be written        */
	const char *help;       /**< one line for docs and --help           */
};

/** The values of each ST_CHOICE key, NULL-ended, in the order of their
    enum (settings.h) */
static const struct {
	const char *key;
	const char *const names[4];
} choices[] = {
	{"sip_flood_action", {"reply", "drop", NULL}},
};

#define F(field) offsetof(struct settings, field)

/** Every settings key: the single source of truth */
static const struct setting_def defs[] = {
	{"sip_listen", ST_LISTEN, F(sip_listen), 1, SETTINGS_LISTEN_MAX,
	 "udp:127.0.0.1:5060 tcp:127.0.0.1:5060",
	 "SIP sockets: udp:ADDR:PORT or tcp:ADDR:PORT ([::1] for IPv6)"},
	{"sip_advertise", ST_ADDR_EMPTY, F(sip_advertise), 0, 0, "",
	 "address written in SIP Contact (the public one behind NAT); "
	 "empty: the address each request came in on"},
	{"rtp_address", ST_ADDR, F(rtp_address), 0, 0, "127.0.0.1",
	 "address RTP sockets bind to"},
	{"rtp_advertise", ST_ADDR_EMPTY, F(rtp_advertise), 0, 0, "",
	 "address written in SDP; empty: rtp_address"},
	{"rtp_port_min", ST_INT, F(rtp_port_min), 1024, 65535, "20000",
	 "first RTP port"},
	{"rtp_port_max", ST_INT, F(rtp_port_max), 1024, 65535, "29999",
	 "last RTP port"},
	{"control_socket", ST_PATH, F(control_socket), 0, 0,
	 SETTINGS_DEFAULT_CONTROL_SOCKET, "control socket path"},
	{"state_file", ST_PATH, F(state_file), 0, 0,
	 SETTINGS_DEFAULT_STATE_FILE,
	 "agents, trunks and numbers (written by the gateway)"},
	{"state_seed", ST_PATH_EMPTY, F(state_seed), 0, 0, "",
	 "state loaded when state_file does not exist yet"},
	{"log_level", ST_LEVEL, F(log_level), 0, 0, "info",
	 "debug, info, notice, warn or error"},
	{"workers", ST_INT, F(workers), 0, 256, "0",
	 "media worker threads; 0: one per core"},
	{"media_priority", ST_INT, F(media_priority), 0, 20, "10",
	 "media workers run this many nice steps above normal (nice -N) so "
	 "their 20 ms ticks keep time on a busy host; needs root, "
	 "CAP_SYS_NICE or RLIMIT_NICE, else they run at normal priority; 0: "
	 "normal"},
	{"max_calls", ST_INT, F(max_calls), 1, 100000, "500",
	 "calls at once; more are refused with 503"},
	{"sip_invite_rate", ST_INT, F(sip_invite_rate), 1, 100000, "200",
	 "INVITEs a second one source address may send (sustained) before "
	 "its INVITEs are refused [1/s]"},
	{"sip_invite_burst", ST_INT, F(sip_invite_burst), 1, 100000, "400",
	 "INVITEs one source address may send at once, above its rate"},
	{"sip_pending_per_source", ST_INT, F(sip_pending_per_source), 1,
	 100000, "200", "calls one source address may have that are not "
	 "yet ACKed (ringing, or answered and waiting for the ACK)"},
	{"sip_flood_action", ST_CHOICE, F(sip_flood_action), 0, 0, "reply",
	 "an INVITE over these limits: reply (503 with Retry-After) or "
	 "drop (no answer)"},
	{"sip_ack_timeout_ms", ST_INT, F(sip_ack_timeout_ms), 1000, 32000,
	 "8000", "a call answered whose ACK does not come within this ends, "
	 "freeing its slot and agent [ms]"},
	{"agent_connect_timeout_ms", ST_INT, F(agent_connect_timeout_ms),
	 100, 60000, "5000", "agent WebSocket connect timeout [ms]"},
	{"max_call_duration_s", ST_INT, F(max_call_duration_s), 10, 86400,
	 "14400", "hang up calls longer than this [s]"},
	{"rtp_timeout_s", ST_INT, F(rtp_timeout_s), 0, 3600, "60",
	 "hang up when no RTP arrives for this long [s]; 0: off"},
	{"jb_min_ms", ST_INT, F(jb_min_ms), 0, 1000, "0",
	 "jitter buffer minimum wait [ms]"},
	{"jb_max_ms", ST_INT, F(jb_max_ms), 0, 1000, "60",
	 "jitter buffer maximum wait [ms]"},
	{"opus_complexity", ST_INT, F(opus_complexity), 0, 10, "5",
	 "Opus encoder complexity"},
	{"opus_complexity_nb", ST_INT, F(opus_complexity_nb), 0, 10, "1",
	 "Opus encoder complexity for 8 kHz agent audio (mu-law agents)"},
	{"opus_bitrate", ST_INT, F(opus_bitrate), 6000, 510000, "32000",
	 "Opus encoder bitrate [bit/s]"},
	{"resample_quality", ST_INT, F(resample_quality), 0, 10, "4",
	 "speexdsp resampler quality"},
	{"agent_backlog_trim_ms", ST_INT, F(agent_backlog_trim_ms), 0, 1000,
	 "100", "drop silent frames of a real-time agent's standing "
	 "backlog up to this size [ms]; 0: never"},
	{"agent_send_queue_kib", ST_INT, F(agent_send_queue_kib), 16, 65536,
	 "1024", "output waiting for an agent that does not read, beyond "
	 "which media messages are dropped (never control) [KiB]"},
	{"agent_tls_ca", ST_PATH_EMPTY, F(agent_tls_ca), 0, 0, "",
	 "CA bundle (PEM) that wss:// agents must chain to; empty: system"},
	{"account_sid", ST_SID, F(account_sid), 0, 0, "",
	 "accountSid sent to agents (AC + 32 hex); empty: from the host name"},
};

#undef F

#define NDEFS (sizeof(defs) / sizeof(defs[0]))

/** Largest settings file accepted [bytes] */
#define SETTINGS_FILE_MAX (1024 * 1024)


/* Parse an IP address, IPv6 optionally in brackets; port 0 */
static int parse_ip(struct sa *sa, const char *s, size_t len)
{
	char buf[INET6_ADDRSTRLEN + 2];

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		++s;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return EINVAL;

	memcpy(buf, s, len);
	buf[len] = '\0';

	if (strchr(buf, ':')) {
		uint8_t a6[16];

		if (inet_pton(AF_INET6, buf, a6) != 1)
			return EINVAL;
		sa_set_in6(sa, a6, 0);
	}
	else {
		struct in_addr a4;

		if (inet_pton(AF_INET, buf, &a4) != 1)
			return EINVAL;
		sa_set_in(sa, ntohl(a4.s_addr), 0);
	}

	return 0;
}


static int parse_uint(const char *s, uint32_t *vp)
{
	unsigned long long v = 0;

	if (!*s)
		return EINVAL;

	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > UINT32_MAX)
			return ERANGE;
	}

	*vp = (uint32_t)v;
	return 0;
}


/* One sip_listen entry, tok (len bytes): udp:ADDR:PORT or tcp:ADDR:PORT */
static int parse_listen_one(struct settings_listen *l, const char *tok,
			    size_t len, char *msg, size_t msgsz)
{
	const char *colon = NULL;
	uint32_t port;
	char portbuf[8];

	if (len > 4 && !strncmp(tok, "udp:", 4))
		l->transp = SIP_TRANSP_UDP;
	else if (len > 4 && !strncmp(tok, "tcp:", 4))
		l->transp = SIP_TRANSP_TCP;
	else {
		snprintf(msg, msgsz, "\"%.*s\" must be udp:ADDR:PORT "
			 "or tcp:ADDR:PORT", (int)len, tok);
		return EINVAL;
	}

	for (const char *c = tok + len - 1; c > tok + 4; c--) {
		if (*c == ':') {
			colon = c;
			break;
		}
		if (*c == ']')
			break;
	}
	if (!colon || (size_t)(tok + len - colon - 1) >= sizeof(portbuf)) {
		snprintf(msg, msgsz, "\"%.*s\" has no :PORT", (int)len, tok);
		return EINVAL;
	}

	memcpy(portbuf, colon + 1, (size_t)(tok + len - colon - 1));
	portbuf[tok + len - colon - 1] = '\0';
	if (parse_uint(portbuf, &port) || port < 1 || port > 65535) {
		snprintf(msg, msgsz, "\"%.*s\": port must be 1..65535",
			 (int)len, tok);
		return EINVAL;
	}

	if (parse_ip(&l->addr, tok + 4, (size_t)(colon - tok - 4)) ||
	    (sa_af(&l->addr) == AF_INET6 && tok[4] != '[')) {
		snprintf(msg, msgsz, "\"%.*s\": address must be IPv4 "
			 "or [IPv6]", (int)len, tok);
		return EINVAL;
	}
	sa_set_port(&l->addr, (uint16_t)port);

	return 0;
}


/* sip_listen: entries separated by white space, each at most once */
static int parse_listen(struct settings *s, const char *val, char *msg,
			size_t msgsz)
{
	const char *p = val;

	s->sip_listenc = 0;

	while (*p) {
		struct settings_listen *l;
		const char *tok;
		size_t len;
		int err;

		while (isspace((unsigned char)*p))
			++p;
		if (!*p)
			break;

		tok = p;
		while (*p && !isspace((unsigned char)*p))
			++p;
		len = (size_t)(p - tok);

		if (s->sip_listenc == SETTINGS_LISTEN_MAX) {
			snprintf(msg, msgsz, "more than %d entries",
				 SETTINGS_LISTEN_MAX);
			return EINVAL;
		}
		l = &s->sip_listen[s->sip_listenc];

		err = parse_listen_one(l, tok, len, msg, msgsz);
		if (err)
			return err;

		for (uint32_t i = 0; i < s->sip_listenc; i++) {
			if (s->sip_listen[i].transp == l->transp &&
			    sa_cmp(&s->sip_listen[i].addr, &l->addr,
				   SA_ALL)) {
				snprintf(msg, msgsz, "\"%.*s\" is listed twice",
					 (int)len, tok);
				return EINVAL;
			}
		}

		++s->sip_listenc;
	}

	if (!s->sip_listenc) {
		snprintf(msg, msgsz, "needs at least one address");
		return EINVAL;
	}

	return 0;
}


static int parse_path(char *dst, const char *val, const char *basedir,
		      char *msg, size_t msgsz)
{
	int n;

	if (val[0] == '/' || !basedir || !*basedir)
		n = snprintf(dst, SETTINGS_PATH_MAX, "%s", val);
	else
		n = snprintf(dst, SETTINGS_PATH_MAX, "%s/%s", basedir, val);

	if (n < 0 || n >= SETTINGS_PATH_MAX) {
		snprintf(msg, msgsz, "path is too long");
		return ENAMETOOLONG;
	}

	return 0;
}


/* ST_INT: a decimal integer within the key's bounds */
static int apply_int(uint32_t *field, const struct setting_def *d,
		     const char *val, char *msg, size_t msgsz)
{
	uint32_t v;
	int err;

	err = parse_uint(val, &v);
	if (err == EINVAL) {
		snprintf(msg, msgsz, "\"%s\" is not an integer%s", val,
			 strchr(val, '#') ? " (comments must be on "
			 "their own line)" : "");
		return EINVAL;
	}
	if (err || v < d->min || v > d->max) {
		snprintf(msg, msgsz, "%s is out of range %u..%u", val,
			 d->min, d->max);
		return ERANGE;
	}

	*field = v;
	return 0;
}


/* ST_ADDR, or ST_ADDR_EMPTY: "" unsets, and an address must not be the
   wildcard (it is advertised to others) */
static int apply_addr(struct sa *field, const struct setting_def *d,
		      const char *val, char *msg, size_t msgsz)
{
	if (d->type == ST_ADDR_EMPTY && !*val) {
		sa_init(field, AF_UNSPEC);
		return 0;
	}

	if (parse_ip(field, val, strlen(val))) {
		snprintf(msg, msgsz, "\"%s\" is not an IP address%s",
			 val, strchr(val, '#') ? " (comments must be "
			 "on their own line)" : "");
		return EINVAL;
	}
	if (d->type == ST_ADDR_EMPTY && sa_is_any(field)) {
		snprintf(msg, msgsz, "\"%s\" cannot be advertised; "
			 "leave empty or give a real address", val);
		return EINVAL;
	}

	return 0;
}


/* ST_SID: "" or "AC" and 32 hex characters, into a char[35] */
static int apply_sid(char *field, const char *val, char *msg, size_t msgsz)
{
	size_t n = strlen(val);
	bool ok = n == 0 || (n == 34 && val[0] == 'A' && val[1] == 'C');

	for (size_t i = 2; ok && i < n; i++)
		ok = isxdigit((unsigned char)val[i]);
	if (!ok) {
		snprintf(msg, msgsz, "\"%s\" is not AC followed by 32 "
			 "hex characters", val);
		return EINVAL;
	}

	snprintf(field, 35, "%s", val);
	return 0;
}


/* one of the key's choices; the field holds its index */
static int apply_choice(void *field, const struct setting_def *d,
			const char *val, char *msg, size_t msgsz)
{
	const char *const *names = NULL;
	size_t o;

	for (size_t k = 0; k < sizeof(choices) / sizeof(choices[0]); k++) {
		if (!strcmp(choices[k].key, d->key))
			names = choices[k].names;
	}
	if (!names)
		return EINVAL;

	for (uint32_t i = 0; names[i]; i++) {
		if (!strcmp(val, names[i])) {
			*(uint32_t *)field = i;
			return 0;
		}
	}

	o = (size_t)snprintf(msg, msgsz, "\"%s\" is not one of", val);
	for (uint32_t i = 0; names[i] && o < msgsz; i++)
		o += (size_t)snprintf(msg + o, msgsz - o, "%s %s",
				      i ? "," : "", names[i]);

	return EINVAL;
}


/* Apply one value; msg gets the reason when invalid */
static int apply(struct settings *s, const struct setting_def *d,
		 const char *val, const char *basedir, char *msg,
		 size_t msgsz)
{
	void *field = (char *)s + d->off;

	switch (d->type) {

	case ST_INT:
		return apply_int(field, d, val, msg, msgsz);

	case ST_LISTEN:
		return parse_listen(s, val, msg, msgsz);

	case ST_ADDR_EMPTY:
	case ST_ADDR:
		return apply_addr(field, d, val, msg, msgsz);

	case ST_PATH_EMPTY:
		if (!*val) {
			*(char *)field = '\0';
			return 0;
		}
		/* fall through */
	case ST_PATH:
		if (!*val) {
			snprintf(msg, msgsz, "needs a path");
			return EINVAL;
		}
		return parse_path(field, val, basedir, msg, msgsz);

	case ST_SID:
		return apply_sid(field, val, msg, msgsz);

	case ST_LEVEL:
		if (!loglevel_parse(val, &s->log_level))
			return 0;
		snprintf(msg, msgsz, "\"%s\" is not one of debug, info, "
			 "notice, warn, error", val);
		return EINVAL;

	case ST_CHOICE:
		return apply_choice(field, d, val, msg, msgsz);
	}

	return EINVAL;
}


static const struct setting_def *def_find(const char *key, size_t *idx)
{
	for (size_t i = 0; i < NDEFS; i++) {
		if (!strcmp(defs[i].key, key)) {
			*idx = i;
			return &defs[i];
		}
	}

	return NULL;
}


static int cross_checks(const struct settings *s, const uint32_t *lines,
			const char *path, char *err, size_t errsz)
{
	static const struct {
		const char *lo, *hi;
		bool strict;
	} pairs[] = {
		{"rtp_port_min", "rtp_port_max", true},
		{"jb_min_ms", "jb_max_ms", false},
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		size_t ilo = 0, ihi = 0;
		const struct setting_def *dlo = def_find(pairs[i].lo, &ilo);
		const struct setting_def *dhi = def_find(pairs[i].hi, &ihi);
		uint32_t lo = *(const uint32_t *)((const char *)s + dlo->off);
		uint32_t hi = *(const uint32_t *)((const char *)s + dhi->off);
		uint32_t line = lines[ilo] > lines[ihi] ? lines[ilo] :
			lines[ihi];
		const char *key = lines[ilo] > lines[ihi] ? pairs[i].lo :
			pairs[i].hi;
		char where[SETTINGS_PATH_MAX + 16] = "";

		if (pairs[i].strict ? lo < hi : lo <= hi)
			continue;

		if (path && line)
			snprintf(where, sizeof(where), "%s:%u: ", path, line);
		else if (path)
			snprintf(where, sizeof(where), "%s: ", path);

		snprintf(err, errsz, "%s%s: %s (%u) must be %s %s (%u)",
			 where, key, pairs[i].lo, lo,
			 pairs[i].strict ? "less than" : "at most",
			 pairs[i].hi, hi);
		return EINVAL;
	}

	return 0;
}


/* Trim a line and split it into key and value (the rest of the line);
   false for a blank line or a comment */
static bool line_split(char *line, char **keyp, char **valp)
{
	char *e = line + strlen(line);

	while (e > line && isspace((unsigned char)e[-1]))
		*--e = '\0';
	while (isspace((unsigned char)*line))
		++line;
	if (!*line || *line == '#')
		return false;

	*keyp = line;
	while (*line && !isspace((unsigned char)*line))
		++line;
	if (*line)
		*line++ = '\0';
	while (isspace((unsigned char)*line))
		++line;
	*valp = line;

	return true;
}


/* The error for an unknown key, quoting it shortened and printable */
static int unknown_key(char *err, size_t errsz, const char *path,
		       uint32_t lineno, const char *key)
{
	char q[48];

	snprintf(q, sizeof(q), "%.40s%s", key, strlen(key) > 40 ? "..." : "");
	for (char *c = q; *c; c++) {
		if (!isprint((unsigned char)*c))
			*c = '?';
	}
	snprintf(err, errsz, "%s:%u: unknown key \"%s\"", path, lineno, q);

	return EINVAL;
}


static int load_lines(struct settings *s, char *buf, size_t len,
		      const char *path, const char *basedir, uint32_t *lines,
		      char *err, size_t errsz)
{
	char msg[384];
	uint32_t lineno = 0;
	char *p = buf, *end = buf + len;

	if (memchr(buf, '\0', len)) {
		snprintf(err, errsz, "%s: contains a NUL byte", path);
		return EINVAL;
	}

	while (p < end) {
		const struct setting_def *d;
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *line = p, *key, *val;
		size_t idx;
		int r;

		++lineno;
		if (nl)
			*nl = '\0';
		p = nl ? nl + 1 : end;

		if (!line_split(line, &key, &val))
			continue;

		d = def_find(key, &idx);
		if (!d)
			return unknown_key(err, errsz, path, lineno, key);
		if (lines[idx]) {
			snprintf(err, errsz, "%s:%u: %s: given twice (first "
				 "on line %u)", path, lineno, key, lines[idx]);
			return EINVAL;
		}
		lines[idx] = lineno;

		for (char *c = val; *c; c++) {
			if (iscntrl((unsigned char)*c) && *c != '\t') {
				snprintf(err, errsz, "%s:%u: %s: value has a "
					 "control character", path, lineno,
					 key);
				return EINVAL;
			}
		}

		msg[0] = '\0';
		r = apply(s, d, val, basedir, msg, sizeof(msg));
		if (r) {
			snprintf(err, errsz, "%s:%u: %s: %s", path, lineno,
				 key, msg);
			return r;
		}
	}

	return 0;
}


/**
 * Load settings: all defaults, then the file
 *
 * @param sp     Set to the new settings (mem_deref frees them)
 * @param path   Settings file, or NULL for all defaults
 * @param err    Error buffer: "file:line: key: reason"
 * @param errsz  Size of err [bytes]
 *
 * @return 0 if success, otherwise an errno
 */
int settings_load(struct settings **sp, const char *path, char *err,
		  size_t errsz)
{
	char basedir[SETTINGS_PATH_MAX], msg[384], dummy[1];
	uint32_t lines[NDEFS] = {0};
	struct settings *s;
	char *buf = NULL;
	size_t len;
	int e = 0;

	if (!err || !errsz) {
		err = dummy;
		errsz = sizeof(dummy);
	}
	err[0] = '\0';

	if (!sp)
		return EINVAL;

	s = mem_zalloc(sizeof(*s), NULL);
	if (!s)
		return ENOMEM;

	for (size_t i = 0; i < NDEFS; i++) {
		msg[0] = '\0';
		e = apply(s, &defs[i], defs[i].def, NULL, msg, sizeof(msg));
		if (e) {
			snprintf(err, errsz, "default of %s: %s", defs[i].key,
				 msg);
			goto out;
		}
	}

	if (path) {
		if (strlen(path) >= sizeof(s->path)) {
			snprintf(err, errsz, "%s: path is too long", path);
			e = ENAMETOOLONG;
			goto out;
		}
		snprintf(s->path, sizeof(s->path), "%s", path);

		e = fsutil_parent_dir(basedir, sizeof(basedir), path);
		if (e) {
			snprintf(err, errsz, "%s: %s", path, strerror(e));
			goto out;
		}

		e = fsutil_read_file(path, SETTINGS_FILE_MAX, &buf, &len);
		if (e) {
			snprintf(err, errsz, "cannot read %s: %s", path,
				 e == EFBIG ? "larger than 1 MiB" :
				 strerror(e));
			goto out;
		}

		e = load_lines(s, buf, len, path, basedir, lines, err, errsz);
		if (e)
			goto out;
	}

	e = cross_checks(s, lines, path, err, errsz);

 out:
	mem_deref(buf);
	if (e)
		mem_deref(s);
	else
		*sp = s;

	return e;
}


/** Number of settings keys */
uint32_t settings_key_count(void)
{
	return (uint32_t)NDEFS;
}


/**
 * One settings key, for documentation and tests
 *
 * @param i      Index, 0..settings_key_count()-1
 * @param defp   Set to the default as text (may be NULL)
 * @param helpp  Set to a one-line description (may be NULL)
 *
 * @return The key, or NULL if i is out of range
 */
const char *settings_key_name(uint32_t i, const char **defp,
			      const char **helpp)
{
	if (i >= NDEFS)
		return NULL;

	if (defp)
		*defp = defs[i].def;
	if (helpp)
		*helpp = defs[i].help;

	return defs[i].key;
}
