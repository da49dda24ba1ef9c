/**
 * @file trunk.c  Trunk: a carrier connection, inbound and outbound
 *
 * Inbound calls are accepted from the trunk's allowed_sources (CIDRs; an
 * empty list accepts any source) and optionally challenged with digest
 * credentials. Outbound calls go to address:port over the transport, with
 * the credentials, From domain, media encryption and extra headers given.
 *
 * Extra headers are checked so that they cannot corrupt a request: names
 * are SIP tokens and not one of the headers the gateway writes itself,
 * values have no control characters (so no CR/LF injection).
 */
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <arpa/inet.h>
#include "model_int.h"


static const char *const kind_names[] = {"byoc", "twilio", NULL};
static const char *const transport_names[] = {"udp", "tcp", "tls", NULL};
static const char *const latching_names[] = {"off", "nat", NULL};
static const char *const media_enc_names[] = {
	"none", "srtp_optional", "srtp_required", NULL
};

static const char *const trunk_keys[] = {
	"id", "name", "kind", "media_encryption", "rtp_latching", "inbound",
	"outbound", "codecs", NULL
};
static const char *const inbound_keys[] = {
	"allowed_sources", "auth_username", "auth_password",
	"auth_password_set", NULL
};
static const char *const outbound_keys[] = {
	"address", "port", "transport", "auth_username", "auth_password",
	"auth_password_set", "from_domain", "media_encryption", "headers",
	NULL
};

/* Headers the gateway writes itself (full and compact forms) */
static const char *const reserved_headers[] = {
	"Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq",
	"Contact", "m", "Content-Length", "l", "Content-Type", "c",
	"Max-Forwards", "Route", "Record-Route", "Authorization",
	"Proxy-Authorization", "WWW-Authenticate", "Proxy-Authenticate",
	NULL
};


static void destructor(void *arg)
{
	struct trunk *t = arg;

	mem_deref(t->id);
	mem_deref(t->name);
	mem_deref(t->inbound.allowed);
	mem_deref(t->inbound.auth_username);
	mem_deref(t->inbound.auth_password);
	mem_deref(t->outbound.address);
	mem_deref(t->outbound.auth_username);
	mem_deref(t->outbound.auth_password);
	mem_deref(t->outbound.from_domain);
	model_kv_free(t->outbound.headers, t->outbound.headerc);
}


static bool sip_token_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		(ch >= '0' && ch <= '9') || strchr("-.!%*_+`'~", ch);
}


static int header_check(struct model_ctx *c, const char *key,
			const char *name, const char *value)
{
	char q[64];

	model_quote(q, sizeof(q), name);

	if (strlen(name) > MODEL_HDR_NAME_MAX)
		return model_fail(c, key, "name %s is longer than %d bytes",
				  q, MODEL_HDR_NAME_MAX);

	for (const char *p = name; *p; p++) {
		if (!sip_token_char(*p))
			return model_fail(c, key, "name %s is not a SIP token",
					  q);
	}

	for (size_t i = 0; reserved_headers[i]; i++) {
		if (!strcasecmp(name, reserved_headers[i]))
			return model_fail(c, key, "%s is written by the "
					  "gateway and cannot be set", q);
	}

	if (strlen(value) > MODEL_HDR_VALUE_MAX)
		return model_fail(c, key, "%s value is longer than %d bytes",
				  q, MODEL_HDR_VALUE_MAX);

	return 0;
}


/* Digest usernames go into a quoted-string: no quotes or backslashes */
static int username_check(struct model_ctx *c, const char *key,
			  const char *user)
{
	if (user && strpbrk(user, "\"\\"))
		return model_fail(c, key, "must not contain '\"' or '\\'");

	return 0;
}


static void mask_bits(uint8_t *b, size_t len, unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned bits = prefix > 8 * i ? prefix - 8 * i : 0;

		if (bits >= 8)
			continue;
		b[i] &= (uint8_t)(0xff00u >> bits);
	}
}


/* The address part of a CIDR (s, alen bytes) into b: its family, or
   AF_UNSPEC if it is not an address */
static int cidr_addr(const char *s, size_t alen, uint8_t *b, size_t *blenp)
{
	char addr[INET6_ADDRSTRLEN + 1];

	if (alen == 0 || alen >= sizeof(addr))
		return AF_UNSPEC;
	memcpy(addr, s, alen);
	addr[alen] = '\0';

	if (inet_pton(AF_INET, addr, b) == 1) {
		*blenp = 4;
		return AF_INET;
	}
	if (inet_pton(AF_INET6, addr, b) == 1) {
		*blenp = 16;
		return AF_INET6;
	}

	return AF_UNSPEC;
}


/* The prefix length after the slash: one to three digits */
static int cidr_prefix(const char *d, unsigned *prefixp)
{
	unsigned prefix = 0;

	if (!*d || strlen(d) > 3)
		return EINVAL;
	for (; *d; d++) {
		if (*d < '0' || *d > '9')
			return EINVAL;
		prefix = prefix * 10 + (unsigned)(*d - '0');
	}

	*prefixp = prefix;
	return 0;
}


/*
 * Parse a CIDR: "203.0.113.0/24", "2001:db8::/32", or one address
 * ("198.51.100.7" means /32, "::1" means /128). Host bits must be zero.
 *
 * @param c      Output
 * @param s      Input
 * @param err    Error buffer (may be NULL)
 * @param errsz  Size of err [bytes]
 *
 * @return 0 if success, EINVAL if invalid
 */
static int cidr_parse(struct trunk_cidr *c, const char *s, char *err,
		      size_t errsz)
{
	char q[64], net[INET6_ADDRSTRLEN];
	const char *slash;
	uint8_t b[16], m[16];
	unsigned prefix, maxp;
	size_t blen;
	int af;

	if (!c || !s)
		return EINVAL;

	model_quote(q, sizeof(q), s);

	slash = strchr(s, '/');
	af = cidr_addr(s, slash ? (size_t)(slash - s) : strlen(s), b, &blen);
	if (af == AF_UNSPEC)
		goto bad;

	maxp = (unsigned)blen * 8;
	prefix = maxp;
	if (slash) {
		if (cidr_prefix(slash + 1, &prefix))
			goto bad;
		if (prefix > maxp) {
			if (err)
				snprintf(err, errsz, "%s: prefix length is "
					 "more than %u", q, maxp);
			return EINVAL;
		}
	}

	memcpy(m, b, blen);
	mask_bits(m, blen, prefix);
	if (memcmp(m, b, blen)) {
		inet_ntop(af, m, net, sizeof(net));
		if (err)
			snprintf(err, errsz, "%s has host bits set; did you "
				 "mean %s/%u?", q, net, prefix);
		return EINVAL;
	}

	memset(c, 0, sizeof(*c));
	if (af == AF_INET) {
		uint32_t a;

		memcpy(&a, b, 4);
		sa_set_in(&c->addr, ntohl(a), 0);
	}
	else {
		sa_set_in6(&c->addr, b, 0);
	}
	c->prefix = (uint8_t)prefix;

	return 0;

 bad:
	if (err)
		snprintf(err, errsz, "%s is not an IPv4 or IPv6 address or "
			 "CIDR", q);
	return EINVAL;
}


/*
 * Print a CIDR as "addr/prefix"
 *
 * @return 0 if success, otherwise an errno
 */
static int cidr_print(const struct trunk_cidr *c, char *buf, size_t sz)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	if (!c || !buf)
		return EINVAL;
	if (sa_ntop(&c->addr, a, sizeof(a)))
		return EINVAL;

	n = snprintf(buf, sz, "%s/%u", a, c->prefix);
	return (n < 0 || (size_t)n >= sz) ? EOVERFLOW : 0;
}


static int addr_bytes(const struct sa *sa, uint8_t *b, size_t *lenp)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff};

	if (sa_af(sa) == AF_INET) {
		memcpy(b, &sa->u.in.sin_addr, 4);
		*lenp = 4;
		return AF_INET;
	}
	if (sa_af(sa) == AF_INET6) {
		const uint8_t *a6 = sa->u.in6.sin6_addr.s6_addr;

		if (!memcmp(a6, v4mapped, sizeof(v4mapped))) {
			memcpy(b, a6 + 12, 4);
			*lenp = 4;
			return AF_INET;
		}
		memcpy(b, a6, 16);
		*lenp = 16;
		return AF_INET6;
	}

	return AF_UNSPEC;
}


/**
 * Check a source address against a trunk's allowed_sources. IPv4-mapped
 * IPv6 sources (::ffff:a.b.c.d) are matched as IPv4.
 *
 * @param t    Trunk
 * @param src  Source address of a request (the port is ignored)
 *
 * @return true if the list is empty or a CIDR matches
 */
bool trunk_allows_source(const struct trunk *t, const struct sa *src)
{
	uint8_t s[16];
	size_t slen;
	int saf;

	if (!t || !src)
		return false;
	if (t->inbound.allowedc == 0)
		return true;

	saf = addr_bytes(src, s, &slen);
	if (saf == AF_UNSPEC)
		return false;

	for (uint32_t i = 0; i < t->inbound.allowedc; i++) {
		const struct trunk_cidr *c = &t->inbound.allowed[i];
		uint8_t n[16], m[16];
		size_t nlen;

		if (addr_bytes(&c->addr, n, &nlen) != saf)
			continue;

		memcpy(m, s, slen);
		mask_bits(m, slen, c->prefix);
		if (!memcmp(m, n, slen))
			return true;
	}

	return false;
}


static int inbound_decode(struct model_ctx *pc, struct trunk *t,
			  const json_t *j, const struct trunk *old)
{
	struct model_ctx c = {pc->err, pc->errsz, "inbound."};
	const json_t *list;
	size_t i;
	json_t *e;
	int err;

	if (!j)
		return 0;

	err = model_dec_keys(&c, j, inbound_keys);
	if (err)
		return err;

	list = json_object_get(j, "allowed_sources");
	if (list && !json_is_null(list)) {
		if (!json_is_array(list))
			return model_fail(&c, "allowed_sources", "must be a "
					  "list of CIDRs");
		if (json_array_size(list) > MODEL_CIDRS_MAX)
			return model_fail(&c, "allowed_sources", "has more "
					  "than %d entries", MODEL_CIDRS_MAX);
		if (json_array_size(list)) {
			t->inbound.allowed = mem_zalloc(json_array_size(list) *
						sizeof(*t->inbound.allowed),
						NULL);
			if (!t->inbound.allowed)
				return ENOMEM;
		}

		json_array_foreach((json_t *)list, i, e) {
			char msg[160];

			if (!json_is_string(e))
				return model_fail(&c, "allowed_sources",
						  "item %zu must be a string",
						  i);
			if (cidr_parse(&t->inbound.allowed[i],
				       json_string_value(e), msg, sizeof(msg)))
				return model_fail(&c, "allowed_sources",
						  "%s", msg);
			t->inbound.allowedc = (uint32_t)i + 1;
		}
	}

	err = model_dec_str(&c, j, "auth_username", 0, MODEL_NAME_MAX,
			    &t->inbound.auth_username);
	if (err)
		return err;
	err = username_check(&c, "auth_username", t->inbound.auth_username);
	if (err)
		return err;

	err = model_dec_secret_keep(&c, j, "auth_password",
				    old ? old->inbound.auth_password : NULL,
				    &t->inbound.auth_password);
	if (err)
		return err;

	if (!t->inbound.auth_username != !t->inbound.auth_password)
		return model_fail(&c, t->inbound.auth_username ?
				  "auth_password" : "auth_username",
				  "is required with %s (digest credentials "
				  "come as a pair)",
				  t->inbound.auth_username ? "auth_username" :
				  "auth_password");

	return 0;
}


/* outbound; *mencp: outbound.media_encryption (its place before format
   2 of the state file), -1 if not given */
static int outbound_decode(struct model_ctx *pc, struct trunk *t,
			   const json_t *j, const struct trunk *old,
			   int *mencp)
{
	struct model_ctx c = {pc->err, pc->errsz, "outbound."};
	int tp = 0, menc = -1;
	uint32_t port = 0;
	char q[64];
	int err;

	t->outbound.transport = SIP_TRANSP_UDP;
	t->outbound.port = SIP_PORT;
	if (!j)
		return 0;

	err = model_dec_keys(&c, j, outbound_keys);
	if (err)
		return err;

	err = model_dec_str(&c, j, "address", 0, MODEL_HOST_MAX,
			    &t->outbound.address);
	if (err)
		return err;
	if (t->outbound.address && !model_host_valid(t->outbound.address)) {
		model_quote(q, sizeof(q), t->outbound.address);
		return model_fail(&c, "address", "%s is not a host name or IP "
				  "address", q);
	}

	err = model_dec_enum(&c, j, "transport", transport_names, &tp);
	if (err)
		return err;
	t->outbound.transport = (enum sip_transp)tp;

	err = model_dec_uint(&c, j, "port", 1, 65535, &port);
	if (err)
		return err;
	if (!port)
		port = (tp == SIP_TRANSP_TLS) ? SIP_PORT_TLS : SIP_PORT;
	t->outbound.port = (uint16_t)port;

	err = model_dec_str(&c, j, "auth_username", 0, MODEL_NAME_MAX,
			    &t->outbound.auth_username);
	if (err)
		return err;
	err = username_check(&c, "auth_username", t->outbound.auth_username);
	if (err)
		return err;

	err = model_dec_secret_keep(&c, j, "auth_password",
				    old ? old->outbound.auth_password : NULL,
				    &t->outbound.auth_password);
	if (err)
		return err;
	if (t->outbound.auth_password && !t->outbound.auth_username)
		return model_fail(&c, "auth_username", "is required with "
				  "auth_password");

	err = model_dec_str(&c, j, "from_domain", 0, MODEL_HOST_MAX,
			    &t->outbound.from_domain);
	if (err)
		return err;
	if (t->outbound.from_domain &&
	    !model_host_valid(t->outbound.from_domain)) {
		model_quote(q, sizeof(q), t->outbound.from_domain);
		return model_fail(&c, "from_domain", "%s is not a host name "
				  "or IP address", q);
	}

	err = model_dec_enum(&c, j, "media_encryption", media_enc_names,
			     &menc);
	if (err)
		return err;
	*mencp = menc;

	return model_dec_kv(&c, j, "headers", MODEL_HEADERS_MAX, header_check,
			    &t->outbound.headers, &t->outbound.headerc);
}


/*
 * media_encryption applies to the trunk's calls both ways (inbound offers
 * and, later, outbound ones), so it sits on the trunk. Before format 2 of
 * the state file it was outbound.media_encryption: that place is still
 * read, alone or with the same value.
 */
static int media_enc_decode(struct model_ctx *c, struct trunk *t,
			    const json_t *j, int menc_old)
{
	int menc = -1;
	int err;

	err = model_dec_enum(c, j, "media_encryption", media_enc_names,
			     &menc);
	if (err)
		return err;

	if (menc >= 0 && menc_old >= 0 && menc != menc_old)
		return model_fail(c, "media_encryption", "is %s, but "
				  "outbound.media_encryption is %s: it applies "
				  "to both directions, give it once",
				  media_enc_names[menc],
				  media_enc_names[menc_old]);

	if (menc < 0)
		menc = menc_old;
	t->media_encryption = menc < 0 ? TRUNK_MEDIA_ENC_NONE :
		(enum trunk_media_enc)menc;

	return 0;
}


/**
 * Decode and validate a trunk from JSON
 *
 * @param tp     Set to the new trunk
 * @param j      JSON object
 * @param old    The stored trunk with the same id, or NULL; used only to
 *               keep its passwords for "auth_password_set": true
 * @param err    Error buffer, names the field
 * @param errsz  Size of err [bytes]
 *
 * @return 0 if success, EINVAL if invalid, ENOMEM
 */
int trunk_decode(struct trunk **tp, const json_t *j, const struct trunk *old,
		 char *err, size_t errsz)
{
	struct model_ctx c = {err, errsz, ""};
	const json_t *in, *outb;
	struct trunk *t;
	int kind = TRUNK_KIND_BYOC, menc_old = -1, latching;
	int e;

	if (!tp)
		return EINVAL;

	e = model_dec_keys(&c, j, trunk_keys);
	if (e)
		return e;

	t = mem_zalloc(sizeof(*t), destructor);
	if (!t)
		return ENOMEM;

	e = model_dec_id_name(&c, j, &t->id, &t->name);
	if (e)
		goto out;

	if (!json_object_get(j, "kind")) {
		e = model_fail(&c, "kind", "is required: byoc or twilio");
		goto out;
	}
	e = model_dec_enum(&c, j, "kind", kind_names, &kind);
	if (e)
		goto out;
	t->kind = (enum trunk_kind)kind;

	e = model_dec_obj(&c, j, "inbound", &in);
	if (e)
		goto out;
	e = inbound_decode(&c, t, in, old);
	if (e)
		goto out;

	e = model_dec_obj(&c, j, "outbound", &outb);
	if (e)
		goto out;
	e = outbound_decode(&c, t, outb, old, &menc_old);
	if (e)
		goto out;

	e = media_enc_decode(&c, t, j, menc_old);
	if (e)
		goto out;

	latching = TRUNK_RTP_LATCHING_OFF;
	e = model_dec_enum(&c, j, "rtp_latching", latching_names, &latching);
	if (e)
		goto out;
	t->rtp_latching = (enum trunk_rtp_latching)latching;

	e = model_dec_codecs(&c, j, "codecs", t->codecs, &t->codecc);

 out:
	if (e)
		mem_deref(t);
	else
		*tp = t;

	return e;
}


static json_t *inbound_encode(const struct trunk *t,
			      enum model_secrets secrets)
{
	json_t *in = json_object(), *list = json_array();
	int err = 0;

	if (!in || !list)
		goto fail;

	for (uint32_t i = 0; i < t->inbound.allowedc; i++) {
		char buf[INET6_ADDRSTRLEN + 8];

		if (cidr_print(&t->inbound.allowed[i], buf, sizeof(buf)))
			goto fail;
		err |= json_array_append_new(list, json_string(buf)) ?
			ENOMEM : 0;
	}

	err |= model_enc_set(in, "allowed_sources", list);
	list = NULL;
	err |= model_enc_set(in, "auth_username",
			     model_enc_optstr(t->inbound.auth_username));
	if (secrets == MODEL_SECRETS) {
		if (t->inbound.auth_password)
			err |= model_enc_set(in, "auth_password",
				     json_string(t->inbound.auth_password));
	}
	else {
		err |= model_enc_set(in, "auth_password_set",
			     json_boolean(t->inbound.auth_password != NULL));
	}
	if (err)
		goto fail;

	return in;

 fail:
	json_decref(list);
	json_decref(in);
	return NULL;
}


static json_t *outbound_encode(const struct trunk *t,
			       enum model_secrets secrets)
{
	json_t *outb = json_object();
	int err = 0;

	if (!outb)
		return NULL;

	err |= model_enc_set(outb, "address",
			     model_enc_optstr(t->outbound.address));
	err |= model_enc_set(outb, "port", json_integer(t->outbound.port));
	err |= model_enc_set(outb, "transport", json_string(
			     trunk_transport_name(t->outbound.transport)));
	err |= model_enc_set(outb, "auth_username",
			     model_enc_optstr(t->outbound.auth_username));
	if (secrets == MODEL_SECRETS) {
		if (t->outbound.auth_password)
			err |= model_enc_set(outb, "auth_password",
				     json_string(t->outbound.auth_password));
	}
	else {
		err |= model_enc_set(outb, "auth_password_set",
			     json_boolean(t->outbound.auth_password != NULL));
	}
	err |= model_enc_set(outb, "from_domain",
			     model_enc_optstr(t->outbound.from_domain));
	err |= model_enc_set(outb, "headers", model_enc_kv(
			t->outbound.headers, t->outbound.headerc));
	if (err) {
		json_decref(outb);
		return NULL;
	}

	return outb;
}


/**
 * Encode a trunk as JSON
 *
 * @param t        Trunk
 * @param secrets  MODEL_REDACT for replies ("auth_password_set"), or
 *                 MODEL_SECRETS for the state file
 *
 * @return New JSON object, or NULL if out of memory
 */
json_t *trunk_encode(const struct trunk *t, enum model_secrets secrets)
{
	json_t *o;
	int err = 0;

	if (!t)
		return NULL;

	o = json_object();
	if (!o)
		return NULL;

	err |= model_enc_set(o, "id", json_string(t->id));
	err |= model_enc_set(o, "name", json_string(t->name ? t->name : ""));
	err |= model_enc_set(o, "kind", json_string(trunk_kind_name(t->kind)));
	err |= model_enc_set(o, "media_encryption", json_string(
			     trunk_media_enc_name(t->media_encryption)));
	err |= model_enc_set(o, "rtp_latching", json_string(
			     trunk_rtp_latching_name(t->rtp_latching)));
	err |= model_enc_set(o, "inbound", inbound_encode(t, secrets));
	err |= model_enc_set(o, "outbound", outbound_encode(t, secrets));
	err |= model_enc_set(o, "codecs",
			     model_enc_codecs(t->codecs, t->codecc));
	if (err) {
		json_decref(o);
		return NULL;
	}

	return o;
}


/**
 * Deep-copy a trunk
 *
 * @param tp  Set to the copy
 * @param t   Trunk
 *
 * @return 0 if success, otherwise an errno
 */
int trunk_dup(struct trunk **tp, const struct trunk *t)
{
	struct trunk *d;
	int err = 0;

	if (!tp || !t)
		return EINVAL;

	d = mem_zalloc(sizeof(*d), destructor);
	if (!d)
		return ENOMEM;

	d->kind = t->kind;
	d->outbound.port = t->outbound.port;
	d->outbound.transport = t->outbound.transport;
	d->media_encryption = t->media_encryption;
	d->rtp_latching = t->rtp_latching;
	memcpy(d->codecs, t->codecs, sizeof(d->codecs));
	d->codecc = t->codecc;

	err |= model_str_dup(&d->id, t->id);
	err |= model_str_dup(&d->name, t->name);
	err |= model_str_dup(&d->inbound.auth_username,
			     t->inbound.auth_username);
	err |= model_str_dup(&d->inbound.auth_password,
			     t->inbound.auth_password);
	err |= model_str_dup(&d->outbound.address, t->outbound.address);
	err |= model_str_dup(&d->outbound.auth_username,
			     t->outbound.auth_username);
	err |= model_str_dup(&d->outbound.auth_password,
			     t->outbound.auth_password);
	err |= model_str_dup(&d->outbound.from_domain,
			     t->outbound.from_domain);
	if (err)
		goto out;

	if (t->inbound.allowedc) {
		size_t sz = t->inbound.allowedc * sizeof(*t->inbound.allowed);

		d->inbound.allowed = mem_alloc(sz, NULL);
		if (!d->inbound.allowed) {
			err = ENOMEM;
			goto out;
		}
		memcpy(d->inbound.allowed, t->inbound.allowed, sz);
		d->inbound.allowedc = t->inbound.allowedc;
	}

	err = model_kv_dup(&d->outbound.headers, t->outbound.headers,
			   t->outbound.headerc);
	if (!err)
		d->outbound.headerc = t->outbound.headerc;

 out:
	if (err) {
		mem_deref(d);
		return ENOMEM;
	}

	*tp = d;
	return 0;
}


/** The JSON name of a trunk kind: "byoc" or "twilio" */
const char *trunk_kind_name(enum trunk_kind k)
{
	return (k >= 0 && k <= TRUNK_KIND_TWILIO) ? kind_names[k] : "?";
}


/** The JSON name of an outbound transport: "udp", "tcp" or "tls" */
const char *trunk_transport_name(enum sip_transp tp)
{
	return (tp >= SIP_TRANSP_UDP && tp <= SIP_TRANSP_TLS) ?
		transport_names[tp] : "?";
}


/** The JSON name of a media encryption setting */
const char *trunk_media_enc_name(enum trunk_media_enc m)
{
	return (m >= 0 && m <= TRUNK_MEDIA_ENC_SRTP_REQUIRED) ?
		media_enc_names[m] : "?";
}


/** Name of an rtp_latching setting ("off", "nat") */
const char *trunk_rtp_latching_name(enum trunk_rtp_latching l)
{
	return ((unsigned)l <= TRUNK_RTP_LATCHING_NAT) ?
		latching_names[l] : "?";
}
