/**
 * @file model.h  The operator's model: agents, trunks and numbers
 *
 * Plain structs that any thread may read once it holds its own copy (see
 * store.h: store_route() hands out deep copies). Strings are libre mem
 * strings (mem_deref frees them with their object); optional strings are
 * NULL when unset. Arrays come with a count.
 *
 * Every object has a JSON form (jansson) used by the state file and by the
 * control socket. Decoding validates every field and writes an error that
 * names the field ("outbound.port: must be an integer 1..65535"). Encoding
 * either includes secrets (state file only) or redacts them: a reply shows
 * `"auth_token_set": true` instead of the token. See docs/configuration.md.
 */
#ifndef CB_MODEL_H
#define CB_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cb_re.h"


/** Limits of the model (bytes unless stated) */
enum {
	MODEL_ID_MAX       = 64,    /**< slug length                       */
	MODEL_NAME_MAX     = 256,   /**< names and friendly names          */
	MODEL_URL_MAX      = 2048,  /**< agent URL                         */
	MODEL_SECRET_MAX   = 1024,  /**< tokens and passwords              */
	MODEL_PARAMS_MAX   = 64,    /**< agent parameters (count)          */
	MODEL_PARAM_NAME_MAX  = 128,
	MODEL_PARAM_VALUE_MAX = 1024,
	MODEL_HEADERS_MAX  = 32,    /**< trunk extra SIP headers (count)   */
	MODEL_HDR_NAME_MAX = 64,
	MODEL_HDR_VALUE_MAX = 1024,
	MODEL_CIDRS_MAX    = 256,   /**< trunk allowed_sources (count)     */
	MODEL_HOST_MAX     = 253,   /**< DNS name or address literal       */
};

/** E.164: "+" then 8 to 15 digits, plus the terminating NUL */
#define E164_SIZE 17

/** Codecs the gateway can offer to a carrier */
enum model_codec {
	MODEL_CODEC_PCMU = 0,
	MODEL_CODEC_PCMA,
	MODEL_CODEC_OPUS,

	MODEL_CODEC_COUNT
};

/** A string to string pair (agent parameters, trunk headers) */
struct model_kv {
	char *name;
	char *value;
};

/** How a number's status reads; derived, never stored */
enum number_status {
	NUMBER_INACTIVE = 0,  /**< no agent assigned             */
	NUMBER_ACTIVE,        /**< inbound or outbound agent set */
};

/** Whether an encoder includes secrets */
enum model_secrets {
	MODEL_REDACT = 0,     /**< replies and logs: "x_set": true */
	MODEL_SECRETS,        /**< the state file only             */
};


/*
 * Agent: a WebSocket endpoint that talks to callers
 */

enum agent_protocol {
	AGENT_PROTOCOL_TWILIO = 0,  /**< Twilio Media Streams (default) */
	AGENT_PROTOCOL_RAW,         /**< raw audio frames               */
};

enum agent_encoding {
	AGENT_ENCODING_MULAW = 0,   /**< G.711 mu-law, 8 kHz only       */
	AGENT_ENCODING_L16,         /**< 16-bit linear PCM              */
};

struct agent {
	char *id;                   /**< slug [a-z0-9][a-z0-9_-]{0,63}  */
	char *name;                 /**< display name, "" if not set    */
	char *url;                  /**< ws:// or wss:// URL            */
	enum agent_protocol protocol;
	struct model_kv *params;    /**< handed to the agent at start   */
	uint32_t paramc;
	char *auth_token;           /**< secret; NULL if none           */
	struct {
		enum agent_encoding encoding;
		uint32_t sample_rate;  /**< 8000, 16000, 24000, 48000 [Hz] */
	} audio;
};

int  agent_decode(struct agent **ap, const json_t *j, const struct agent *old,
		  char *err, size_t errsz);
json_t *agent_encode(const struct agent *a, enum model_secrets secrets);
int  agent_dup(struct agent **ap, const struct agent *a);
const char *agent_param(const struct agent *a, const char *name);
const char *agent_protocol_name(enum agent_protocol p);


/*
 * Trunk: a carrier connection
 */

enum trunk_kind {
	TRUNK_KIND_BYOC = 0,        /**< any SIP carrier      */
	TRUNK_KIND_TWILIO,          /**< Twilio Elastic SIP   */
};

enum trunk_media_enc {
	TRUNK_MEDIA_ENC_NONE = 0,
	TRUNK_MEDIA_ENC_SRTP_OPTIONAL,
	TRUNK_MEDIA_ENC_SRTP_REQUIRED,
};

/** Where a trunk's RTP may come from (rtp/latch.h) */
enum trunk_rtp_latching {
	TRUNK_RTP_LATCHING_OFF = 0,  /**< the SDP's address and port only  */
	TRUNK_RTP_LATCHING_NAT,      /**< learn a NATed caller's source    */
};

/** One allowed source network; addr has its host bits zero, port 0 */
struct trunk_cidr {
	struct sa addr;
	uint8_t prefix;             /**< 0..32 (IPv4) or 0..128 (IPv6)  */
};

struct trunk {
	char *id;                   /**< slug                           */
	char *name;                 /**< display name, "" if not set    */
	enum trunk_kind kind;
	enum trunk_media_enc media_encryption; /**< SRTP, both directions */
	enum trunk_rtp_latching rtp_latching;  /**< RTP sources accepted   */
	struct {
		struct trunk_cidr *allowed;  /**< empty: any source     */
		uint32_t allowedc;
		char *auth_username;    /**< digest; NULL if none       */
		char *auth_password;    /**< secret; set iff username   */
	} inbound;
	struct {
		char *address;          /**< host; NULL: no outbound    */
		uint16_t port;          /**< default 5060 (5061 for tls) */
		enum sip_transp transport;   /**< UDP, TCP or TLS       */
		char *auth_username;    /**< NULL if none               */
		char *auth_password;    /**< secret; NULL if none       */
		char *from_domain;      /**< NULL: use the address      */
		struct model_kv *headers;    /**< extra SIP headers     */
		uint32_t headerc;
	} outbound;
	enum model_codec codecs[MODEL_CODEC_COUNT]; /**< preference  */
	uint32_t codecc;            /**< 0: gateway default          */
};

int  trunk_decode(struct trunk **tp, const json_t *j, const struct trunk *old,
		  char *err, size_t errsz);
json_t *trunk_encode(const struct trunk *t, enum model_secrets secrets);
int  trunk_dup(struct trunk **tp, const struct trunk *t);
bool trunk_allows_source(const struct trunk *t, const struct sa *src);
const char *trunk_kind_name(enum trunk_kind k);
const char *trunk_transport_name(enum sip_transp tp);
const char *trunk_media_enc_name(enum trunk_media_enc m);
const char *trunk_rtp_latching_name(enum trunk_rtp_latching l);


/*
 * Number: an E.164 number and who answers it
 */

struct number {
	char number[E164_SIZE];     /**< normalised E.164            */
	char *friendly_name;        /**< required                    */
	char *trunk_id;             /**< required, trunk must exist  */
	char *inbound_agent_id;     /**< NULL if unassigned          */
	char *outbound_agent_id;    /**< NULL if unassigned          */
	bool outbound_shareable;
	enum model_codec codecs[MODEL_CODEC_COUNT]; /**< overrides trunk */
	uint32_t codecc;            /**< 0: the trunk's list          */
};

int  number_decode(struct number **np, const json_t *j,
		   char *err, size_t errsz);
json_t *number_encode(const struct number *n, bool with_status);
int  number_dup(struct number **np, const struct number *n);
enum number_status number_status(const struct number *n);
const char *number_status_name(enum number_status s);


/*
 * E.164 (e164.c)
 */
int  e164_normalize(char *out, size_t outsz, const char *in);
int  e164_parse(char *out, size_t outsz, const char *in, const char **why);


/*
 * Shared helpers (model.c)
 */
bool model_slug_valid(const char *s);
uint32_t model_codecs_effective(enum model_codec *out, const struct trunk *t,
				const struct number *n);

#endif
