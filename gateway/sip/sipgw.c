/**
 * @file sipgw.c  SIP signalling: the gateway's SIP thread ("cb-sip")
 *
 * Design note. Everything in sip/ runs on this thread, on libre's loop:
 * the main thread, named cb-sip. This file is the module: the SIP stack
 * and its listeners (one per interface address for a wildcard entry), the
 * inbox where media workers report (msgq), the choice of a worker for a
 * call, and shutdown. The first listener is the request filter
 * (sipreq.c); new INVITEs go to sipinvite.c, a call's life is sipcall.c.
 */
#include <errno.h>
#include "cb_re.h"
#include "gwconf.h"
#include "log.h"
#include "msgq.h"
#include "resolver.h"
#include "rtpport.h"
#include "sipgw.h"
#include "sipgw_int.h"
#include "sipreply.h"
#include "worker.h"

enum {
	HASH_SIZE = 1024,
};

static void mq_handler(int flags, void *arg)
{
	struct sipgw *gw = arg;

	(void)flags;

	msgq_drain(gw->mq);
}


static void sip_exit_handler(void *arg)
{
	(void)arg;
}


static void destructor(void *arg)
{
	struct sipgw *gw = arg;

	tmr_cancel(&gw->tmr_shutdown);
	gw->resolver = mem_deref(gw->resolver);
	if (gw->mq)
		fd_close(msgq_fd(gw->mq));
	hash_flush(gw->calls);
	mem_deref(gw->calls);
	mem_deref(gw->lsnr);
	mem_deref(gw->sock);
	if (gw->sip)
		sip_close(gw->sip, true);
	mem_deref(gw->sip);
	mem_deref(gw->dnsc);
	mem_deref(gw->ports);
	mem_deref(gw->mq);
	mem_deref(gw->flood);   /* after the calls, which count in it */
}


static int dns_init(struct sipgw *gw)
{
	struct sa nsv[8];
	uint32_t nsn = 8;
	int err;

	err = dns_srv_get(NULL, 0, nsv, &nsn);
	if (err || !nsn) {
		/* no resolver configured: numeric hosts only */
		nsn = 0;
	}

	return dnsc_alloc(&gw->dnsc, NULL, nsv, nsn);
}


/*
 * A wildcard sip_listen entry (0.0.0.0, [::]) becomes one listener per
 * interface address present at start-up: libre's transports want a real
 * address (it goes in Via and Contact, and the SDP's c= when rtp_address
 * is a wildcard too), and a socket bound to the wildcard would give the
 * carrier 0.0.0.0 to send its ACK and BYE to. IPv6 link-local addresses
 * are left out (they need a scope the SIP URI cannot carry).
 */
struct if_listen {
	struct sip *sip;
	enum sip_transp tp;
	int af;
	uint16_t port;
	unsigned n;
	int err;
};


static bool if_listen_add(const char *ifname, const struct sa *sa,
			  void *arg)
{
	struct if_listen *il = arg;
	struct sa a = *sa;

	if (sa_af(sa) != il->af || sa_is_linklocal(sa))
		return false;

	sa_set_port(&a, il->port);
	il->err = sip_transp_add(il->sip, il->tp, &a);
	if (il->err == EADDRINUSE && il->n) {
		il->err = 0;            /* the same address on two interfaces */
		return false;
	}
	if (il->err) {
		log_error("SIP: cannot listen on %s %J (%s): %m",
			  sip_transp_name(il->tp), &a, ifname, il->err);
		return true;
	}

	log_info("SIP listening on %s %J (%s)", sip_transp_name(il->tp), &a,
		 ifname);
	++il->n;

	return false;
}


static int listen_entry(struct sipgw *gw, enum sip_transp tp,
		      const struct sa *addr)
{
	struct if_listen il = {gw->sip, tp, sa_af(addr), sa_port(addr), 0, 0};
	int err;

	if (!sa_is_any(addr)) {
		err = sip_transp_add(gw->sip, tp, addr);
		if (err)
			log_error("SIP: cannot listen on %s %J: %m",
				  sip_transp_name(tp), addr, err);
		else
			log_info("SIP listening on %s %J", sip_transp_name(tp),
				 addr);
		return err;
	}

	err = net_if_apply(if_listen_add, &il);
	if (!err)
		err = il.err;
	if (!err && !il.n) {
		log_error("SIP: %s %J: no interface has an %s address",
			  sip_transp_name(tp), addr,
			  il.af == AF_INET ? "IPv4" : "IPv6");
		err = EADDRNOTAVAIL;
	}

	return err;
}


/* libre's SIP stack: its transports on every listen entry, the filter
   that sees every request first, and the session socket for INVITEs */
static int sip_stack_alloc(struct sipgw *gw, const struct gwconf *conf)
{
	char ua[64];
	int err;

	snprintf(ua, sizeof(ua), "callbridge/%s", CB_VERSION);
	err = sip_alloc(&gw->sip, gw->dnsc, HASH_SIZE, HASH_SIZE, HASH_SIZE,
			ua, sip_exit_handler, gw);
	if (err)
		return err;

	for (unsigned i = 0; i < conf->listenc; i++) {
		err = listen_entry(gw, conf->listen[i].tp,
				 &conf->listen[i].addr);
		if (err)
			return err;
	}

	/* first listener: checks that apply to every request */
	err = sip_listen(&gw->lsnr, gw->sip, true, sipreq_filter, gw);
	if (err)
		return err;

	return sipsess_listen(&gw->sock, gw->sip, HASH_SIZE,
			      sipinvite_handler, gw);
}


/**
 * Start SIP signalling on the calling thread's libre loop
 *
 * @param gwp       Pointer to allocated gateway
 * @param conf      Configuration (outlives the gateway)
 * @param store     Numbers, agents and trunks
 * @param workers   Media workers (may be set later: sipgw_set_workers)
 * @param nworkers  Number of workers
 * @param reg       Registry of calls in progress
 *
 * @return 0 if success, otherwise errorcode
 */
int sipgw_alloc(struct sipgw **gwp, const struct gwconf *conf,
		struct store *store, struct worker **workers,
		unsigned nworkers, struct callreg *reg)
{
	struct sipgw *gw;
	int err;

	if (!gwp || !conf || !store || !reg)
		return EINVAL;

	gw = mem_zalloc(sizeof(*gw), destructor);
	if (!gw)
		return ENOMEM;

	gw->conf = conf;
	gw->store = store;
	gw->reg = reg;
	gw->workers = workers;
	gw->nworkers = nworkers;

	sipauth_init(gw);

	err = hash_alloc(&gw->calls, HASH_SIZE);
	if (err)
		goto out;

	err = msgq_alloc(&gw->mq, sipcall_worker_msg, gw);
	if (err)
		goto out;

	err = fd_listen(msgq_fd(gw->mq), FD_READ, mq_handler, gw);
	if (err)
		goto out;

	err = rtpport_alloc(&gw->ports, &conf->rtp_addr, conf->rtp_port_min,
			    conf->rtp_port_max);
	if (err) {
		log_error("RTP port range %u-%u unusable", conf->rtp_port_min,
			  conf->rtp_port_max);
		goto out;
	}

	err = dns_init(gw);
	if (err)
		goto out;

	err = resolver_alloc(&gw->resolver, sipcall_agent_resolved, gw);
	if (err)
		goto out;

	err = sipflood_alloc(&gw->flood, conf);
	if (err)
		goto out;

	err = sip_stack_alloc(gw, conf);

 out:
	if (err)
		mem_deref(gw);
	else
		*gwp = gw;

	return err;
}


/** The SIP thread's inbox, for workers' reports */
struct msgq *sipgw_msgq(const struct sipgw *gw)
{
	return gw ? gw->mq : NULL;
}


/** Set the media workers calls are placed on */
int sipgw_set_workers(struct sipgw *gw, struct worker **workers,
		      unsigned nworkers)
{
	if (!gw || !workers || !nworkers)
		return EINVAL;

	gw->workers = workers;
	gw->nworkers = nworkers;

	return 0;
}


/** The least loaded media worker (NULL if none) */
struct worker *sipgw_pick_worker(struct sipgw *gw)
{
	struct worker *best = NULL;
	uint32_t load = UINT32_MAX;

	for (unsigned i = 0; i < gw->nworkers; i++) {
		uint32_t l = worker_load(gw->workers[i]);
		if (l < load) {
			load = l;
			best = gw->workers[i];
		}
	}

	return best;
}


static bool detach_apply(struct le *le, void *arg)
{
	struct call *call = le->data;

	(void)arg;
	call->w = NULL;

	return false;
}


/**
 * Forget the media workers before they stop (shutdown): from now on a
 * call that ends cannot reach a worker and is freed at once
 */
void sipgw_detach_workers(struct sipgw *gw)
{
	if (!gw)
		return;

	gw->workers = NULL;
	gw->nworkers = 0;
	(void)hash_apply(gw->calls, detach_apply, NULL);
}


/**
 * Handle the reports the workers queued before they stopped (CALL_GONE of
 * calls that outlived the grace period), once they are gone: it frees
 * those calls. Nothing is drained from the calls themselves.
 */
void sipgw_handle_last_reports(struct sipgw *gw)
{
	if (gw)
		msgq_drain(gw->mq);
}


/** Calls in progress (SIP thread) */
uint32_t sipgw_calls(const struct sipgw *gw)
{
	return gw ? gw->ncalls : 0;
}


/** Report the end of shutdown once no call is left */
void sipgw_shutdown_check(struct sipgw *gw)
{
	if (gw->shutting_down && gw->ncalls == 0 && gw->doneh) {
		sipgw_done_h *h = gw->doneh;

		gw->doneh = NULL;
		tmr_cancel(&gw->tmr_shutdown);
		h(gw->done_arg);
	}
}


static void shutdown_timeout(void *arg)
{
	struct sipgw *gw = arg;
	sipgw_done_h *h = gw->doneh;

	log_warn("shutdown: %u calls still ending, giving up waiting",
		 gw->ncalls);
	gw->doneh = NULL;
	if (h)
		h(gw->done_arg);
}


static bool end_apply(struct le *le, void *arg)
{
	struct call *call = le->data;

	(void)arg;
	sipcall_end(call, END_SHUTDOWN, SIPREPLY_SERVICE_UNAVAILABLE, NULL);

	return false;
}


/**
 * Stop taking calls, end every call, and report when all are gone
 *
 * @param gw        Gateway
 * @param grace_ms  Longest wait for calls to end [ms]
 * @param doneh     Called once, when every call is gone or at the deadline
 * @param arg       Handler argument
 */
void sipgw_shutdown(struct sipgw *gw, uint32_t grace_ms,
		    sipgw_done_h *doneh, void *arg)
{
	if (!gw)
		return;

	gw->shutting_down = true;
	gw->doneh = doneh;
	gw->done_arg = arg;

	tmr_start(&gw->tmr_shutdown, grace_ms, shutdown_timeout, gw);

	/* call_end() may free the call: iterate over a safe copy */
	(void)hash_apply(gw->calls, end_apply, NULL);

	sipgw_shutdown_check(gw);
}
