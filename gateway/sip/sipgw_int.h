/**
 * @file sipgw_int.h  The SIP side's shared state (sip/ only; SIP thread)
 *
 * struct sipgw is the module (SIP stack, listeners, calls, workers), struct
 * call one inbound call's signalling state. Only the files of sip/ include
 * this header; the rest of the daemon sees sipgw.h.
 */
#ifndef CB_SIPGW_INT_H
#define CB_SIPGW_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "cb_re.h"
#include "callstate.h"
#include "gwmsg.h"
#include "model.h"
#include "sid.h"
#include "sipgw.h"
#include "sipreply.h"

struct callsdp;
struct gwconf;
struct sipflood;
struct resolver_addrs;
struct media_start;
struct rtp_socks;
struct route;
struct trunk;

struct sipgw {
	const struct gwconf *conf;
	struct store *store;
	struct callreg *reg;
	struct worker **workers;
	unsigned nworkers;
	struct sip *sip;
	struct sipsess_sock *sock;
	struct sip_lsnr *lsnr;
	struct dnsc *dnsc;
	struct msgq *mq;          /**< workers -> SIP thread        */
	struct resolver *resolver;/**< agent host names             */
	struct rtpport *ports;
	struct sipflood *flood;   /**< limits per source address    */
	struct hash *calls;       /**< struct call by id            */
	uint32_t ncalls;          /**< calls holding resources      */
	uint8_t nonce_key[32];    /**< signs digest nonces          */
	uint64_t next_id;
	bool shutting_down;
	struct tmr tmr_shutdown;
	sipgw_done_h *doneh;
	void *done_arg;
};

/**
 * The SIP side of a call. SIP thread only.
 */
struct call {
	struct le he;
	uint64_t id;
	struct sipgw *gw;
	struct sipsess *sess;
	struct callsdp *sdp;
	struct worker *w;
	enum call_state state;    /**< RINGING: waiting for the agent;
				     ANSWERED: 200 OK sent; ENDING:
				     CALL_STOP sent, awaiting GONE */
	enum end_reason reason;
	bool offer_in_200;        /**< INVITE came without SDP      */
	bool media_started;       /**< CALL_START pushed            */
	struct media_start *pending_ms; /**< waiting for the agent's host */
	bool ended;               /**< sipcall_end() ran            */
	struct media_params mp;   /**< agreed media                 */
	struct tmr tmr_agent;     /**< agent connect deadline       */
	struct tmr tmr_maxdur;    /**< maximum call duration        */
	struct tmr tmr_ack;       /**< answered: the ACK's deadline */
	struct sa src;            /**< where its INVITE came from   */
	bool pending;             /**< counted in its source's calls
				       not ACKed (sipflood.c)       */
	uint64_t t_invite;        /**< [ms] tmr_jiffies             */
	uint64_t t_answer;        /**< [ms]                         */
	char call_sid[SID_LEN + 1];
	char number[E164_SIZE];
	char from[128];
	char agent_id[MODEL_ID_MAX + 8];
};

/* sipflood.c: flood limits per source address */
int  sipflood_alloc(struct sipflood **flp, const struct gwconf *conf);
bool sipflood_admit(struct sipflood *fl, struct sip *sip,
		    const struct sip_msg *msg);
void sipflood_pending(struct sipflood *fl, const struct sa *src, int delta);

/* sipreq.c: what every request passes */
bool sipreq_filter(const struct sip_msg *msg, void *arg);
enum sipreply sipreq_verdict(const struct sip_msg *msg);
int  sipreq_sdp_body(const struct sip_msg *msg, bool *has);

/* sipauth.c: is an INVITE from its trunk (sources, digest) */
void sipauth_init(struct sipgw *gw);
bool sipauth_admit(struct sipgw *gw, const struct sip_msg *msg,
		   const struct trunk *t);

/* callmedia.c: what a call's media needs, from its route */
int  callmedia_sdp_alloc(struct callsdp **csp, const struct route *rt,
			 const struct sa *laddr);
int  callmedia_start_alloc(struct media_start **msp, struct call *call,
			   const struct route *rt, const struct sip_msg *msg,
			   const struct rtp_socks *socks);

/* sipgw.c: the module */
struct worker *sipgw_pick_worker(struct sipgw *gw);
void sipgw_shutdown_check(struct sipgw *gw);

/* sipinvite.c: a new INVITE */
void sipinvite_handler(const struct sip_msg *msg, void *arg);

/* sipcall.c: a call's life */
int  sipcall_alloc(struct call **callp, struct sipgw *gw);
int  sipcall_accept(struct call *call, const struct sip_msg *msg,
		    const char *cuser);
void sipcall_register(struct call *call, const char *trunk_id, bool has_sdp);
int  sipcall_media_start(struct call *call, struct media_start *ms,
			 const char *agent_url);
void sipcall_end(struct call *call, enum end_reason reason,
		 enum sipreply answer, const char *why);
void sipcall_agent_resolved(int err, const struct resolver_addrs *addrs,
			    uint64_t id, void *arg);
void sipcall_worker_msg(int id, void *data, void *arg);

#endif
