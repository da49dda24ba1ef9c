/**
 * @file agent.c  Agent: a WebSocket endpoint that talks to callers
 */
#include <string.h>
#include <errno.h>
#include "model_int.h"


static const char *const protocol_names[] = {"twilio", "raw", NULL};
static const char *const encoding_names[] = {"mulaw", "l16", NULL};

static const char *const agent_keys[] = {
	"id", "name", "url", "protocol", "parameters", "auth_token",
	"auth_token_set", "audio", NULL
};
static const char *const audio_keys[] = {"encoding", "sample_rate", NULL};


/* The JSON name of an audio encoding: "mulaw" or "l16" */
static const char *encoding_name(enum agent_encoding e)
{
	return (e >= 0 && e <= AGENT_ENCODING_L16) ? encoding_names[e] : "?";
}


static void destructor(void *arg)
{
	struct agent *a = arg;

	mem_deref(a->id);
	mem_deref(a->name);
	mem_deref(a->url);
	model_kv_free(a->params, a->paramc);
	mem_deref(a->auth_token);
}


static int param_check(struct model_ctx *c, const char *key,
		       const char *name, const char *value)
{
	char q[64];

	model_quote(q, sizeof(q), name);
	if (strlen(name) > MODEL_PARAM_NAME_MAX)
		return model_fail(c, key, "name %s is longer than %d bytes",
				  q, MODEL_PARAM_NAME_MAX);
	if (strlen(value) > MODEL_PARAM_VALUE_MAX)
		return model_fail(c, key, "%s is longer than %d bytes",
				  q, MODEL_PARAM_VALUE_MAX);

	return 0;
}


static int audio_decode(struct model_ctx *pc, struct agent *a,
			const json_t *j)
{
	struct model_ctx c = {pc->err, pc->errsz, "audio."};
	uint32_t rate = a->audio.sample_rate;
	int enc = (int)a->audio.encoding;
	int err;

	err = model_dec_keys(&c, j, audio_keys);
	if (err)
		return err;

	err = model_dec_enum(&c, j, "encoding", encoding_names, &enc);
	if (err)
		return err;

	err = model_dec_uint(&c, j, "sample_rate", 0, UINT32_MAX, &rate);
	if (err)
		return err;

	if (rate != 8000 && rate != 16000 && rate != 24000 && rate != 48000)
		return model_fail(&c, "sample_rate", "%u is not one of 8000, "
				  "16000, 24000, 48000", rate);

	if (enc == AGENT_ENCODING_MULAW && rate != 8000)
		return model_fail(&c, "sample_rate", "mulaw is only valid at "
				  "8000 (use l16 for %u)", rate);

	a->audio.encoding = (enum agent_encoding)enc;
	a->audio.sample_rate = rate;

	return 0;
}


/**
 * Decode and validate an agent from JSON
 *
 * @param ap     Set to the new agent
 * @param j      JSON object
 * @param old    The stored agent with the same id, or NULL; used only to
 *               keep its auth_token when j has "auth_token_set": true
 * @param err    Error buffer, names the field
 * @param errsz  Size of err [bytes]
 *
 * @return 0 if success, EINVAL if invalid, ENOMEM
 */
int agent_decode(struct agent **ap, const json_t *j, const struct agent *old,
		 char *err, size_t errsz)
{
	struct model_ctx c = {err, errsz, ""};
	const json_t *audio;
	struct agent *a;
	const char *why;
	char q[64];
	int proto = AGENT_PROTOCOL_TWILIO;
	int e;

	if (!ap)
		return EINVAL;

	e = model_dec_keys(&c, j, agent_keys);
	if (e)
		return e;

	a = mem_zalloc(sizeof(*a), destructor);
	if (!a)
		return ENOMEM;

	a->audio.encoding = AGENT_ENCODING_MULAW;
	a->audio.sample_rate = 8000;

	e = model_dec_id_name(&c, j, &a->id, &a->name);
	if (e)
		goto out;

	e = model_dec_str(&c, j, "url", MODEL_F_REQUIRED, MODEL_URL_MAX,
			  &a->url);
	if (e)
		goto out;
	if (!model_ws_url_valid(a->url, &why)) {
		model_quote(q, sizeof(q), a->url);
		e = model_fail(&c, "url", "%s %s", q, why);
		goto out;
	}

	e = model_dec_enum(&c, j, "protocol", protocol_names, &proto);
	if (e)
		goto out;
	a->protocol = (enum agent_protocol)proto;

	e = model_dec_kv(&c, j, "parameters", MODEL_PARAMS_MAX, param_check,
			 &a->params, &a->paramc);
	if (e)
		goto out;

	e = model_dec_secret_keep(&c, j, "auth_token",
				  old ? old->auth_token : NULL,
				  &a->auth_token);
	if (e)
		goto out;

	e = model_dec_obj(&c, j, "audio", &audio);
	if (e)
		goto out;
	if (audio) {
		e = audio_decode(&c, a, audio);
		if (e)
			goto out;
	}

 out:
	if (e)
		mem_deref(a);
	else
		*ap = a;

	return e;
}


/**
 * Encode an agent as JSON
 *
 * @param a        Agent
 * @param secrets  MODEL_REDACT for replies ("auth_token_set"), or
 *                 MODEL_SECRETS for the state file
 *
 * @return New JSON object, or NULL if out of memory
 */
json_t *agent_encode(const struct agent *a, enum model_secrets secrets)
{
	json_t *o, *audio;
	int err = 0;

	if (!a)
		return NULL;

	o = json_object();
	audio = json_object();
	if (!o || !audio)
		goto fail;

	err |= model_enc_set(o, "id", json_string(a->id));
	err |= model_enc_set(o, "name", json_string(a->name ? a->name : ""));
	err |= model_enc_set(o, "url", json_string(a->url));
	err |= model_enc_set(o, "protocol",
			     json_string(agent_protocol_name(a->protocol)));
	err |= model_enc_set(o, "parameters",
			     model_enc_kv(a->params, a->paramc));
	if (secrets == MODEL_SECRETS) {
		if (a->auth_token)
			err |= model_enc_set(o, "auth_token",
					     json_string(a->auth_token));
	}
	else {
		err |= model_enc_set(o, "auth_token_set",
				     json_boolean(a->auth_token != NULL));
	}
	err |= model_enc_set(audio, "encoding",
			     json_string(encoding_name(a->audio.encoding)));
	err |= model_enc_set(audio, "sample_rate",
			     json_integer(a->audio.sample_rate));
	err |= model_enc_set(o, "audio", audio);
	audio = NULL;
	if (err)
		goto fail;

	return o;

 fail:
	json_decref(audio);
	json_decref(o);
	return NULL;
}


/**
 * Deep-copy an agent
 *
 * @param ap  Set to the copy
 * @param a   Agent
 *
 * @return 0 if success, otherwise an errno
 */
int agent_dup(struct agent **ap, const struct agent *a)
{
	struct agent *d;
	int err = 0;

	if (!ap || !a)
		return EINVAL;

	d = mem_zalloc(sizeof(*d), destructor);
	if (!d)
		return ENOMEM;

	err |= model_str_dup(&d->id, a->id);
	err |= model_str_dup(&d->name, a->name);
	err |= model_str_dup(&d->url, a->url);
	err |= model_str_dup(&d->auth_token, a->auth_token);
	d->protocol = a->protocol;
	d->audio = a->audio;
	if (!err) {
		err = model_kv_dup(&d->params, a->params, a->paramc);
		if (!err)
			d->paramc = a->paramc;
	}

	if (err) {
		mem_deref(d);
		return ENOMEM;
	}

	*ap = d;
	return 0;
}


/**
 * Look up an agent parameter
 *
 * @return The value, or NULL if the agent has no such parameter
 */
const char *agent_param(const struct agent *a, const char *name)
{
	for (uint32_t i = 0; a && name && i < a->paramc; i++) {
		if (!strcmp(a->params[i].name, name))
			return a->params[i].value;
	}

	return NULL;
}


/** The JSON name of a protocol: "twilio" or "raw" */
const char *agent_protocol_name(enum agent_protocol p)
{
	return (p >= 0 && p <= AGENT_PROTOCOL_RAW) ? protocol_names[p] : "?";
}
