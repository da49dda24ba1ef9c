/**
 * @file test_model.c  Model rules: required fields, types, validation,
 *                     redaction of secrets, CIDR matching, copies
 */
#include <errno.h>
#include "cb_re.h"
#include "model.h"
#include "test.h"


static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

	if (!j)
		TEST_FAIL("bad test JSON: %s: %s", jerr.text, text);

	return j;
}


enum kind { AGENT, TRUNK, NUMBER };

static int decode_json(enum kind k, const json_t *j, char *err,
		       size_t errsz)
{
	void *obj = NULL;
	int e;

	switch (k) {
	case AGENT:
		e = agent_decode((struct agent **)&obj, j, NULL, err, errsz);
		break;
	case TRUNK:
		e = trunk_decode((struct trunk **)&obj, j, NULL, err, errsz);
		break;
	default:
		e = number_decode((struct number **)&obj, j, err, errsz);
		break;
	}

	/* whatever is accepted encodes */
	if (!e) {
		json_t *enc = k == AGENT ? agent_encode(obj, MODEL_REDACT) :
			k == TRUNK ? trunk_encode(obj, MODEL_REDACT) :
			number_encode(obj, true);

		TEST_ASSERT(enc != NULL);
		json_decref(enc);
	}
	else {
		TEST_EQ(e, EINVAL);
		TEST_ASSERT(err[0] != '\0');
	}

	mem_deref(obj);
	return e;
}


static int decode(enum kind k, const char *text, char *err, size_t errsz)
{
	json_t *j = parse(text);
	void *obj = NULL;
	int e;

	switch (k) {
	case AGENT:
		e = agent_decode((struct agent **)&obj, j, NULL, err, errsz);
		break;
	case TRUNK:
		e = trunk_decode((struct trunk **)&obj, j, NULL, err, errsz);
		break;
	default:
		e = number_decode((struct number **)&obj, j, err, errsz);
		break;
	}

	json_decref(j);
	mem_deref(obj);
	return e;
}


/* Each bad input must be refused with an error naming the field */
static const struct {
	enum kind k;
	const char *json;
	const char *msg;    /* expected part of the error; NULL: accepted */
} rules[] = {
	/* agents */
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://127.0.0.1:9000/x\"}", NULL},
	{AGENT, "{\"id\":\"a\",\"url\":\"wss://agent.example.com/ws?x=1\","
	 "\"protocol\":\"raw\",\"parameters\":{\"k\":\"v\"},"
	 "\"audio\":{\"encoding\":\"l16\",\"sample_rate\":16000}}", NULL},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://[::1]:9000/\"}", NULL},
	{AGENT, "{\"url\":\"ws://h/\"}", "id: is required"},
	{AGENT, "{\"id\":\"\",\"url\":\"ws://h/\"}", "id: is required"},
	{AGENT, "{\"id\":\"a\"}", "url: is required"},
	{AGENT, "{\"id\":\"Support\",\"url\":\"ws://h/\"}", "id: \"Support\" is not a slug"},
	{AGENT, "{\"id\":\"-a\",\"url\":\"ws://h/\"}", "is not a slug"},
	{AGENT, "{\"id\":\"a b\",\"url\":\"ws://h/\"}", "is not a slug"},
	{AGENT, "{\"id\":\"a0123456789012345678901234567890123456789012345678901234567890123\",\"url\":\"ws://h/\"}", "id: is too long"},
	{AGENT, "{\"id\":7,\"url\":\"ws://h/\"}", "id: must be a string"},
	{AGENT, "{\"id\":\"a\",\"url\":\"http://h/\"}", "url: \"http://h/\" must start with ws://"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://\"}", "url: \"ws://\" has no host"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://u:p@h/\"}", "must not contain credentials"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h:0/\"}", "port out of range"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h:99999/\"}", "port out of range"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h:123456/\"}", "invalid port"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h x/\"}", "printable ASCII"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/#f\"}", "fragment"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://[::1/\"}", "unterminated"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h_h/\"}", "invalid host"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"protocol\":\"sip\"}", "protocol: \"sip\" is not one of twilio, raw"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"protocol\":1}", "protocol: must be a string"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"parameters\":[]}", "parameters: must be an object"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"parameters\":{\"k\":1}}", "parameters: \"k\" must be a string"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"parameters\":{\"\":\"v\"}}", "parameters: has an empty name"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"auth_token\":5}", "auth_token: must be a string"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"auth_token\":\"se\\ncret\"}", "auth_token: must not contain control"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"auth_token_set\":true}", "auth_token_set: is true but no auth_token is stored"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"audio\":{\"sample_rate\":16000}}", "audio.sample_rate: mulaw is only valid at 8000"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"audio\":{\"encoding\":\"l16\",\"sample_rate\":44100}}", "audio.sample_rate: 44100 is not one of"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"audio\":{\"encoding\":\"alaw\"}}", "audio.encoding: \"alaw\" is not one of mulaw, l16"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"audio\":{\"rate\":8000}}", "audio: unknown field \"rate\""},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"audio\":\"l16\"}", "audio: must be a JSON object"},
	{AGENT, "{\"id\":\"a\",\"url\":\"ws://h/\",\"nmae\":\"x\"}", "unknown field \"nmae\""},
	{AGENT, "[1,2]", "must be a JSON object"},
	/* trunks */
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\"}", NULL},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"twilio\",\"inbound\":{\"allowed_sources\":[\"54.172.60.0/30\",\"2001:db8::/32\",\"::1\"],\"auth_username\":\"u\",\"auth_password\":\"p\"},"
	 "\"outbound\":{\"address\":\"x.pstn.twilio.com\",\"transport\":\"tls\",\"auth_username\":\"u\",\"auth_password\":\"p\",\"from_domain\":\"example.com\",\"media_encryption\":\"srtp_required\",\"headers\":{\"X-Tenant\":\"42\"}},\"codecs\":[\"PCMA\",\"PCMU\"]}", NULL},
	{TRUNK, "{\"id\":\"t\"}", "kind: is required"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"pstn\"}", "kind: \"pstn\" is not one of byoc, twilio"},
	{TRUNK, "{\"kind\":\"byoc\"}", "id: is required"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"inbound\":{\"allowed_sources\":\"10.0.0.0/8\"}}", "inbound.allowed_sources: must be a list"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"inbound\":{\"allowed_sources\":[\"10.0.0.1/8\"]}}", "has host bits set; did you mean 10.0.0.0/8?"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"inbound\":{\"allowed_sources\":[\"10.0.0.0/33\"]}}", "prefix length is more than 32"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"inbound\":{\"allowed_sources\":[\"10.0.0/8\"]}}", "is not an IPv4 or IPv6 address"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"inbound\":{\"allowed_sources\":[\"host.example\"]}}", "is not an IPv4 or IPv6 address"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"inbound\":{\"allowed_sources\":[42]}}", "item 0 must be a string"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"inbound\":{\"auth_username\":\"u\"}}", "inbound.auth_password: is required with auth_username"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"inbound\":{\"auth_password\":\"p\"}}", "inbound.auth_username: is required with auth_password"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"inbound\":{\"auth_username\":\"u\\\"x\",\"auth_password\":\"p\"}}", "inbound.auth_username: must not contain"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"port\":0}}", "outbound.port: 0 is out of range 1..65535"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"port\":\"5060\"}}", "outbound.port: must be an integer"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"address\":\"bad host!\"}}", "outbound.address: \"bad host!\" is not a host name"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"transport\":\"sctp\"}}", "outbound.transport: \"sctp\" is not one of udp, tcp, tls"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"media_encryption\":\"zrtp\"}}", "outbound.media_encryption: \"zrtp\" is not one of none, srtp_optional, srtp_required"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"media_encryption\":\"zrtp\"}", "media_encryption: \"zrtp\" is not one of none, srtp_optional, srtp_required"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"rtp_latching\":\"on\"}", "rtp_latching: \"on\" is not one of off, nat"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"rtp_latching\":\"nat\"}", NULL},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"media_encryption\":\"srtp_required\",\"outbound\":{\"media_encryption\":\"none\"}}", "media_encryption: is srtp_required, but outbound.media_encryption is none"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"media_encryption\":\"srtp_required\",\"outbound\":{\"media_encryption\":\"srtp_required\"}}", NULL},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"auth_password\":\"p\"}}", "outbound.auth_username: is required with auth_password"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"headers\":{\"X Bad\":\"v\"}}}", "outbound.headers: name \"X Bad\" is not a SIP token"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"headers\":{\"X-A\":\"v\\r\\nVia: evil\"}}}", "outbound.headers: \"X-A\" must not contain control"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"headers\":{\"call-id\":\"x\"}}}", "is written by the gateway"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"headers\":{\"X-A\":7}}}", "outbound.headers: \"X-A\" must be a string"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"outbound\":{\"adress\":\"h\"}}", "outbound: unknown field \"adress\""},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"codecs\":[\"G729\"]}", "codecs: \"G729\" is not a codec"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"codecs\":[\"PCMU\",\"PCMU\"]}", "codecs: lists PCMU twice"},
	{TRUNK, "{\"id\":\"t\",\"kind\":\"byoc\",\"codecs\":\"PCMU\"}", "codecs: must be a list"},
	/* numbers */
	{NUMBER, "{\"number\":\"+14155551234\",\"friendly_name\":\"F\",\"trunk_id\":\"t\"}", NULL},
	{NUMBER, "{\"number\":\"+1 415 555 1234\",\"friendly_name\":\"F\",\"trunk_id\":\"t\",\"inbound_agent_id\":\"a\",\"outbound_agent_id\":null,\"outbound_shareable\":true,\"codecs\":[\"opus\"],\"status\":\"inactive\"}", NULL},
	{NUMBER, "{\"friendly_name\":\"F\",\"trunk_id\":\"t\"}", "number: is required"},
	{NUMBER, "{\"number\":14155551234,\"friendly_name\":\"F\",\"trunk_id\":\"t\"}", "number: must be a string"},
	{NUMBER, "{\"number\":\"0044207183875\",\"friendly_name\":\"F\",\"trunk_id\":\"t\"}", "number: \"0044207183875\" must start with '+'"},
	{NUMBER, "{\"number\":\"+1415\",\"friendly_name\":\"F\",\"trunk_id\":\"t\"}", "number: \"+1415\" has fewer than 8 digits"},
	{NUMBER, "{\"number\":\"+14155551234\",\"trunk_id\":\"t\"}", "friendly_name: is required"},
	{NUMBER, "{\"number\":\"+14155551234\",\"friendly_name\":\"\",\"trunk_id\":\"t\"}", "friendly_name: is required"},
	{NUMBER, "{\"number\":\"+14155551234\",\"friendly_name\":\"F\"}", "trunk_id: is required"},
	{NUMBER, "{\"number\":\"+14155551234\",\"friendly_name\":\"F\",\"trunk_id\":\"T!\"}", "trunk_id: \"T!\" is not a valid id"},
	{NUMBER, "{\"number\":\"+14155551234\",\"friendly_name\":\"F\",\"trunk_id\":\"t\",\"inbound_agent_id\":5}", "inbound_agent_id: must be a string"},
	{NUMBER, "{\"number\":\"+14155551234\",\"friendly_name\":\"F\",\"trunk_id\":\"t\",\"outbound_shareable\":\"yes\"}", "outbound_shareable: must be true or false"},
	{NUMBER, "{\"number\":\"+14155551234\",\"friendly_name\":\"F\",\"trunk_id\":\"t\",\"status\":1}", "status: must be a string"},
	{NUMBER, "{\"number\":\"+14155551234\",\"friendly_name\":\"F\",\"trunk_id\":\"t\",\"agent\":\"a\"}", "unknown field \"agent\""},
};


static void test_rules(void)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		char err[512] = "";
		int e = decode(rules[i].k, rules[i].json, err, sizeof(err));

		if (!rules[i].msg) {
			if (e)
				TEST_FAIL("rule %zu refused: %s", i, err);
			continue;
		}
		if (e != EINVAL)
			TEST_FAIL("rule %zu accepted: %s", i, rules[i].json);
		if (!strstr(err, rules[i].msg))
			TEST_FAIL("rule %zu: error \"%s\" lacks \"%s\"", i, err,
				  rules[i].msg);
	}
}


static void test_agent_defaults_and_redaction(void)
{
	json_t *j = parse("{\"id\":\"support\",\"url\":\"ws://127.0.0.1/x\","
			  "\"auth_token\":\"tok-SECRET\","
			  "\"parameters\":{\"lang\":\"en\",\"tier\":\"gold\"}}");
	struct agent *a = NULL, *d = NULL, *b = NULL;
	json_t *enc, *state;
	char err[256], *text;

	TEST_ERR(agent_decode(&a, j, NULL, err, sizeof(err)), 0);
	TEST_STREQ(a->id, "support");
	TEST_STREQ(a->name, "");
	TEST_EQ(a->protocol, AGENT_PROTOCOL_TWILIO);
	TEST_EQ(a->audio.encoding, AGENT_ENCODING_MULAW);
	TEST_EQ(a->audio.sample_rate, 8000);
	TEST_EQ(a->paramc, 2);
	TEST_STREQ(agent_param(a, "tier"), "gold");
	TEST_ASSERT(agent_param(a, "nope") == NULL);
	TEST_STREQ(a->auth_token, "tok-SECRET");

	/* replies never carry the token, only that it is set */
	enc = agent_encode(a, MODEL_REDACT);
	text = json_dumps(enc, JSON_COMPACT);
	TEST_ASSERT(strstr(text, "SECRET") == NULL);
	TEST_ASSERT(json_is_true(json_object_get(enc, "auth_token_set")));
	TEST_ASSERT(json_object_get(enc, "auth_token") == NULL);
	free(text);

	/* the state file does */
	state = agent_encode(a, MODEL_SECRETS);
	TEST_STREQ(json_string_value(json_object_get(state, "auth_token")),
		   "tok-SECRET");

	/* a client that puts back what it got keeps the secret ... */
	TEST_ERR(agent_decode(&b, enc, a, err, sizeof(err)), 0);
	TEST_STREQ(b->auth_token, "tok-SECRET");
	b = mem_deref(b);
	/* ... and one that says false clears it */
	json_object_set_new(enc, "auth_token_set", json_false());
	TEST_ERR(agent_decode(&b, enc, a, err, sizeof(err)), 0);
	TEST_ASSERT(b->auth_token == NULL);
	b = mem_deref(b);

	/* the state form decodes to an equal agent */
	TEST_ERR(agent_decode(&b, state, NULL, err, sizeof(err)), 0);
	TEST_STREQ(b->auth_token, "tok-SECRET");
	TEST_EQ(b->paramc, 2);
	TEST_STREQ(b->params[0].name, "lang");

	/* deep copies are independent */
	TEST_ERR(agent_dup(&d, a), 0);
	TEST_ASSERT(d->url != a->url);
	TEST_STREQ(d->url, a->url);
	TEST_STREQ(d->params[1].value, "gold");
	TEST_ASSERT(d->params[1].value != a->params[1].value);

	json_decref(j);
	json_decref(enc);
	json_decref(state);
	mem_deref(a);
	mem_deref(b);
	mem_deref(d);
}


static void test_secret_not_in_errors(void)
{
	json_t *j = parse("{\"id\":\"a\",\"url\":\"ws://h/\","
			  "\"auth_token\":\"SECRET\\u0001\"}");
	struct agent *a = NULL;
	char err[256];

	TEST_ERR(agent_decode(&a, j, NULL, err, sizeof(err)), EINVAL);
	TEST_ASSERT(strstr(err, "auth_token") != NULL);
	TEST_ASSERT(strstr(err, "SECRET") == NULL);
	json_decref(j);
}


static void test_trunk_redaction_and_defaults(void)
{
	json_t *j = parse("{\"id\":\"c1\",\"kind\":\"byoc\",\"inbound\":{"
			  "\"auth_username\":\"in\",\"auth_password\":\"INPW\"},"
			  "\"outbound\":{\"address\":\"sip.example.com\","
			  "\"transport\":\"tls\",\"auth_username\":\"out\","
			  "\"auth_password\":\"OUTPW\"}}");
	struct trunk *t = NULL, *d = NULL, *b = NULL;
	json_t *enc;
	char err[256], *text;

	TEST_ERR(trunk_decode(&t, j, NULL, err, sizeof(err)), 0);
	TEST_EQ(t->outbound.port, 5061);   /* tls default */
	TEST_EQ(t->outbound.transport, SIP_TRANSP_TLS);
	TEST_EQ(t->media_encryption, TRUNK_MEDIA_ENC_NONE);
	TEST_EQ(t->rtp_latching, TRUNK_RTP_LATCHING_OFF);
	TEST_EQ(t->codecc, 0);

	enc = trunk_encode(t, MODEL_REDACT);
	text = json_dumps(enc, JSON_COMPACT);
	TEST_ASSERT(strstr(text, "INPW") == NULL);
	TEST_ASSERT(strstr(text, "OUTPW") == NULL);
	TEST_ASSERT(strstr(text, "\"auth_password_set\":true") != NULL);
	free(text);

	/* round trip through the redacted form keeps both passwords */
	TEST_ERR(trunk_decode(&b, enc, t, err, sizeof(err)), 0);
	TEST_STREQ(b->inbound.auth_password, "INPW");
	TEST_STREQ(b->outbound.auth_password, "OUTPW");

	TEST_ERR(trunk_dup(&d, t), 0);
	TEST_STREQ(d->outbound.address, "sip.example.com");
	TEST_STREQ(d->outbound.auth_password, "OUTPW");

	json_decref(j);
	json_decref(enc);
	mem_deref(t);
	mem_deref(b);
	mem_deref(d);

	/* udp default port */
	j = parse("{\"id\":\"c2\",\"kind\":\"twilio\"}");
	TEST_ERR(trunk_decode(&t, j, NULL, err, sizeof(err)), 0);
	TEST_EQ(t->outbound.port, 5060);
	TEST_EQ(t->outbound.transport, SIP_TRANSP_UDP);
	TEST_ASSERT(t->outbound.address == NULL);
	json_decref(j);
	mem_deref(t);
}


static void test_source_matching(void)
{
	static const struct {
		const char *src;
		bool allowed;
	} srcs[] = {
		{"203.0.113.7",        true},   /* in 203.0.113.0/24  */
		{"203.0.114.7",        false},
		{"198.51.100.9",       true},   /* exact /32          */
		{"198.51.100.10",      false},
		{"::ffff:203.0.113.9", true},   /* v4-mapped          */
		{"2001:db8:1::5",      true},   /* in 2001:db8::/32   */
		{"2001:db9::5",        false},
		{"::1",                true},   /* exact /128         */
		{"::2",                false},
		{"10.1.2.3",           true},   /* 10.0.0.0/9         */
		{"10.128.0.1",         false},
	};
	json_t *j = parse("{\"id\":\"t\",\"kind\":\"byoc\",\"inbound\":{"
			  "\"allowed_sources\":[\"203.0.113.0/24\","
			  "\"198.51.100.9\",\"2001:db8::/32\",\"::1\","
			  "\"10.0.0.0/9\"]}}");
	struct trunk *t = NULL, *any = NULL;
	json_t *enc;
	char err[256];

	TEST_ERR(trunk_decode(&t, j, NULL, err, sizeof(err)), 0);
	json_decref(j);

	for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
		struct sa sa;

		TEST_ERR(sa_set_str(&sa, srcs[i].src, 5060), 0);
		if (trunk_allows_source(t, &sa) != srcs[i].allowed)
			TEST_FAIL("source %s: expected %s", srcs[i].src,
				  srcs[i].allowed ? "allowed" : "refused");
	}

	/* canonical form in JSON */
	enc = trunk_encode(t, MODEL_REDACT);
	TEST_STREQ(json_string_value(json_array_get(json_object_get(
		json_object_get(enc, "inbound"), "allowed_sources"), 1)),
		"198.51.100.9/32");
	json_decref(enc);

	/* /0 and an empty list accept everything */
	j = parse("{\"id\":\"t\",\"kind\":\"byoc\"}");
	TEST_ERR(trunk_decode(&any, j, NULL, err, sizeof(err)), 0);
	json_decref(j);
	{
		struct sa sa;

		sa_set_str(&sa, "192.0.2.1", 0);
		TEST_ASSERT(trunk_allows_source(any, &sa));
		sa_set_str(&sa, "2001:db8::1", 0);
		TEST_ASSERT(trunk_allows_source(any, &sa));
		TEST_ASSERT(!trunk_allows_source(any, NULL));
	}

	mem_deref(t);
	mem_deref(any);
}


static void test_number_status_and_codecs(void)
{
	json_t *j = parse("{\"number\":\"+44 20 7183 8750\","
			  "\"friendly_name\":\"London\",\"trunk_id\":\"t\"}");
	struct number *n = NULL;
	enum model_codec eff[MODEL_CODEC_COUNT];
	struct trunk tr;
	json_t *enc;
	char err[256];

	TEST_ERR(number_decode(&n, j, err, sizeof(err)), 0);
	json_decref(j);
	TEST_STREQ(n->number, "+442071838750");
	TEST_EQ(number_status(n), NUMBER_INACTIVE);
	TEST_ASSERT(!n->outbound_shareable);

	enc = number_encode(n, true);
	TEST_STREQ(json_string_value(json_object_get(enc, "status")),
		   "inactive");
	TEST_ASSERT(json_is_null(json_object_get(enc, "inbound_agent_id")));
	json_decref(enc);

	/* no status in the state file form */
	enc = number_encode(n, false);
	TEST_ASSERT(json_object_get(enc, "status") == NULL);
	json_decref(enc);

	str_dup(&n->outbound_agent_id, "a");
	TEST_EQ(number_status(n), NUMBER_ACTIVE);

	/* codec precedence: number, then trunk, then default */
	memset(&tr, 0, sizeof(tr));
	TEST_EQ(model_codecs_effective(eff, &tr, n), 3);
	TEST_EQ(eff[0], MODEL_CODEC_PCMU);
	TEST_EQ(eff[2], MODEL_CODEC_OPUS);
	tr.codecs[0] = MODEL_CODEC_PCMA;
	tr.codecc = 1;
	TEST_EQ(model_codecs_effective(eff, &tr, n), 1);
	TEST_EQ(eff[0], MODEL_CODEC_PCMA);
	n->codecs[0] = MODEL_CODEC_OPUS;
	n->codecs[1] = MODEL_CODEC_PCMU;
	n->codecc = 2;
	TEST_EQ(model_codecs_effective(eff, &tr, n), 2);
	TEST_EQ(eff[0], MODEL_CODEC_OPUS);

	mem_deref(n);
}


static void test_helpers(void)
{
	static const struct {
		const char *s;
		bool ok;
	} slugs[] = {
		{"a", true}, {"0", true}, {"support-us_2", true},
		{"", false}, {"A", false}, {"_a", false}, {"-a", false},
		{"a.b", false}, {"a/b", false}, {"ä", false},
		{"a123456789012345678901234567890123456789012345678901234567890123", true},
		{"a1234567890123456789012345678901234567890123456789012345678901234", false},
	};

	for (size_t i = 0; i < sizeof(slugs) / sizeof(slugs[0]); i++) {
		if (model_slug_valid(slugs[i].s) != slugs[i].ok)
			TEST_FAIL("slug \"%s\"", slugs[i].s);
	}
	TEST_ASSERT(!model_slug_valid(NULL));

	TEST_STREQ(agent_protocol_name(AGENT_PROTOCOL_RAW), "raw");
	TEST_STREQ(trunk_kind_name(TRUNK_KIND_TWILIO), "twilio");
	TEST_STREQ(trunk_transport_name(SIP_TRANSP_TCP), "tcp");
	TEST_STREQ(trunk_media_enc_name(TRUNK_MEDIA_ENC_SRTP_OPTIONAL),
		   "srtp_optional");
	TEST_STREQ(number_status_name(NUMBER_ACTIVE), "active");
}


/*
 * Type confusion and mutation (seeded): every field of a full valid
 * object gets every wrong JSON type, then random byte edits of the text;
 * decoding must refuse or accept, never crash or leak (run under ASan).
 */
static const char *const full[3] = {
	"{\"id\":\"a\",\"name\":\"n\",\"url\":\"ws://h:1/p?q=1\","
	"\"protocol\":\"raw\",\"parameters\":{\"k\":\"v\"},"
	"\"auth_token\":\"t\",\"audio\":{\"encoding\":\"l16\","
	"\"sample_rate\":48000}}",
	"{\"id\":\"t\",\"name\":\"n\",\"kind\":\"byoc\",\"inbound\":{"
	"\"allowed_sources\":[\"10.0.0.0/8\",\"::1\"],\"auth_username\":"
	"\"u\",\"auth_password\":\"p\"},\"outbound\":{\"address\":\"h\","
	"\"port\":5070,\"transport\":\"tcp\",\"auth_username\":\"u\","
	"\"auth_password\":\"p\",\"from_domain\":\"d.example\","
	"\"media_encryption\":\"srtp_optional\",\"headers\":{\"X-A\":"
	"\"b\"}},\"codecs\":[\"opus\",\"PCMU\"]}",
	"{\"number\":\"+14155551234\",\"friendly_name\":\"f\","
	"\"trunk_id\":\"t\",\"inbound_agent_id\":\"a\","
	"\"outbound_agent_id\":\"b\",\"outbound_shareable\":true,"
	"\"codecs\":[\"PCMA\"],\"status\":\"active\"}",
};


static void confuse(enum kind k, json_t *root, json_t *obj, unsigned *n)
{
	static const char *const wrong[] = {
		"null", "true", "0", "-1", "4294967296", "1.5", "\"\"",
		"\"\\u00e4\\u0000x\"", "[]", "[1,\"a\",null]", "{}",
		"{\"x\":{\"y\":[]}}", "\"ws://h/\"", "\"PCMU\"",
		"1e300", "9223372036854775807",
	};
	const char *key;
	json_t *v;
	void *iter;

	for (iter = json_object_iter(obj); iter;
	     iter = json_object_iter_next(obj, iter)) {
		key = json_object_iter_key(iter);
		v = json_object_iter_value(iter);

		if (json_is_object(v))
			confuse(k, root, v, n);

		for (size_t w = 0; w < sizeof(wrong) / sizeof(wrong[0]); w++) {
			json_t *nv = json_loads(wrong[w], JSON_DECODE_ANY |
						JSON_ALLOW_NUL, NULL);
			json_t *old = json_incref(v);
			char err[512] = "";

			TEST_ASSERT(nv != NULL);
			json_object_set_new(obj, key, nv);
			decode_json(k, root, err, sizeof(err));
			json_object_set_new(obj, key, old);
			++*n;
		}
	}
}


static void test_fuzz(void)
{
	unsigned seed = 777, n = 0;

	for (int k = 0; k < 3; k++) {
		json_t *root = parse(full[k]);
		char err[512];

		TEST_ERR(decode((enum kind)k, full[k], err, sizeof(err)), 0);
		confuse((enum kind)k, root, root, &n);
		json_decref(root);

		for (int i = 0; i < 3000; i++) {
			char text[1024];
			size_t len = strlen(full[k]);
			json_t *j;

			memcpy(text, full[k], len + 1);
			for (int e = 0; e < 1 + (int)(rand_r(&seed) % 4); e++)
				text[rand_r(&seed) % len] =
					(char)(rand_r(&seed) % 256 ?: 1);
			j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
			if (!j)
				continue;
			err[0] = '\0';
			decode_json((enum kind)k, j, err, sizeof(err));
			json_decref(j);
			++n;
		}
	}

	TEST_ASSERT(n > 1000);
}


int main(void)
{
	test_rules();
	test_fuzz();
	test_agent_defaults_and_redaction();
	test_secret_not_in_errors();
	test_trunk_redaction_and_defaults();
	test_source_matching();
	test_number_status_and_codecs();
	test_helpers();
	printf("test_model: ok\n");
	return 0;
}
