/**
 * @file sipflood.c  Flood limits per source address (SIP thread)
 *
 * Design note. One source address must not be able to take every call
 * slot and agent connection, nor to keep the gateway busy answering it,
 * as a burst of INVITEs that are never ACKed did (PROTOS: all 500 slots
 * filled in seconds, each holding an agent WebSocket for 32 s). So, per
 * source address, as Kamailio's pike module does:
 *
 *   - a token bucket of INVITEs: sip_invite_rate a second, and up to
 *     sip_invite_burst at once above it (a carrier's burst passes);
 *   - a limit on calls not yet ACKed (ringing, or answered and waiting
 *     for the ACK): sip_pending_per_source;
 *   - over either, the INVITE gets a stateless 503 with Retry-After, or
 *     nothing (sip_flood_action drop), and never reaches routing, the
 *     store, an RTP port or an agent.
 *
 * A source over its limits is in an episode: logged once when it begins
 * and once when it ends (no refusal for FLOOD_QUIET_MS), counted in the
 * gateway's statistics (core/gwstats.c: totals, and the sources over
 * their limits now, for the control socket's status).
 *
 * Memory is bounded: at most SRC_MAX sources are tracked; a sweep once a
 * second forgets those idle for SRC_IDLE_MS with no call pending. When
 * the table is full (a spoofed UDP flood), idle entries go at once, and
 * failing that a new source's INVITE is refused (it cannot be counted).
 */
#include <errno.h>
#include <string.h>
#include "cb_re.h"
#include "gwconf.h"
#include "gwstats.h"
#include "log.h"
#include "sipgw_int.h"

enum {
	SRC_MAX        = 16384,  /**< sources tracked at once              */
	SRC_HASH       = 4096,
	SRC_IDLE_MS    = 10000,  /**< forgotten after this idle [ms]       */
	SWEEP_MS       = 1000,
	FLOOD_QUIET_MS = 2000,   /**< an episode ends this long after its
				      last refusal [ms]                    */
};

/** One source address */
struct fsrc {
	struct le he;
	struct sa addr;          /**< port 0                               */
	double tokens;           /**< INVITEs it may send now              */
	uint64_t t_fill;         /**< [ms] tokens last topped up           */
	uint64_t t_last;         /**< [ms] its last INVITE                 */
	uint32_t pending;        /**< its calls not yet ACKed              */
	bool over;               /**< in an episode                        */
	uint64_t refused;        /**< INVITEs refused in this episode      */
	uint64_t t_since;        /**< [ms] the episode began               */
	uint64_t t_refused;      /**< [ms] its last refusal                */
};

struct sipflood {
	const struct gwconf *conf;
	struct hash *srcs;       /**< struct fsrc by address               */
	uint32_t n;
	struct tmr tmr;          /**< the sweep                            */
};


static void fsrc_destructor(void *arg)
{
	struct fsrc *s = arg;

	hash_unlink(&s->he);
}


static bool addr_cmp(struct le *le, void *arg)
{
	const struct fsrc *s = le->data;

	return sa_cmp(&s->addr, arg, SA_ADDR);
}


static struct fsrc *lookup(const struct sipflood *fl, const struct sa *a)
{
	return list_ledata(hash_lookup(fl->srcs, sa_hash(a, SA_ADDR),
				       addr_cmp, (void *)a));
}


static void episode_end(struct fsrc *s, uint64_t now)
{
	log_notice("flood: %j back under its limits after %llu INVITEs "
		   "refused in %llu s", &s->addr,
		   (unsigned long long)s->refused,
		   (unsigned long long)((now - s->t_since) / 1000));
	gwstats_flooding(&s->addr, s->refused, s->t_since, false);
	s->over = false;
	s->refused = 0;
}


/* the sweep: end quiet episodes, refresh the view of the others, forget
   idle sources (all idle ones when `hard`) */
static bool sweep_apply(struct le *le, void *arg)
{
	struct fsrc *s = le->data;
	struct sipflood *fl = arg;
	uint64_t now = tmr_jiffies();

	if (s->over && now - s->t_refused >= FLOOD_QUIET_MS)
		episode_end(s, now);
	else if (s->over)
		gwstats_flooding(&s->addr, s->refused, s->t_since, true);

	if (!s->over && !s->pending && now - s->t_last >= SRC_IDLE_MS) {
		mem_deref(s);
		--fl->n;
	}

	return false;
}


static void sweep(void *arg)
{
	struct sipflood *fl = arg;

	(void)hash_apply(fl->srcs, sweep_apply, fl);
	tmr_start(&fl->tmr, SWEEP_MS, sweep, fl);
}


static bool forget_idle(struct le *le, void *arg)
{
	struct fsrc *s = le->data;
	struct sipflood *fl = arg;

	if (!s->over && !s->pending) {
		mem_deref(s);
		--fl->n;
	}

	return false;
}


static struct fsrc *fsrc_get(struct sipflood *fl, const struct sa *a,
			     uint64_t now)
{
	struct fsrc *s = lookup(fl, a);

	if (s)
		return s;

	if (fl->n >= SRC_MAX)
		(void)hash_apply(fl->srcs, forget_idle, fl);
	if (fl->n >= SRC_MAX)
		return NULL;

	s = mem_zalloc(sizeof(*s), fsrc_destructor);
	if (!s)
		return NULL;

	s->addr = *a;
	sa_set_port(&s->addr, 0);
	s->tokens = fl->conf->flood.invite_burst;
	s->t_fill = now;
	s->t_last = now;
	hash_append(fl->srcs, sa_hash(&s->addr, SA_ADDR), &s->he, s);
	++fl->n;

	return s;
}


/* over its limits? why, for the log */
static const char *over_limits(const struct sipflood *fl, struct fsrc *s,
			       uint64_t now)
{
	const double burst = fl->conf->flood.invite_burst;

	s->tokens += (double)(now - s->t_fill) *
		fl->conf->flood.invite_rate / 1000.0;
	if (s->tokens > burst)
		s->tokens = burst;
	s->t_fill = now;

	if (s->pending >= fl->conf->flood.pending)
		return "calls not ACKed";
	if (s->tokens < 1.0)
		return "INVITE rate";

	s->tokens -= 1.0;

	return NULL;
}


static void refuse(struct sipflood *fl, struct sip *sip,
		   const struct sip_msg *msg, struct fsrc *s,
		   const char *why, uint64_t now)
{
	gwstats_add(GWSTAT_SIP_FLOOD_REFUSED, 1);

	if (s) {
		if (!s->over) {
			s->over = true;
			s->t_since = now;
			gwstats_add(GWSTAT_SIP_FLOOD_EPISODES, 1);
			log_warn("flood: %j over its limits (%s: %u/s, burst "
				 "%u, %u not ACKed): its INVITEs are %s",
				 &s->addr, why, fl->conf->flood.invite_rate,
				 fl->conf->flood.invite_burst,
				 fl->conf->flood.pending,
				 fl->conf->flood.drop ? "dropped" :
				 "refused with 503");
		}
		++s->refused;
		s->t_refused = now;
		if (s->refused == 1)
			gwstats_flooding(&s->addr, 1, s->t_since, true);
	}

	if (!fl->conf->flood.drop)
		(void)sipreply_stateless(sip, msg,
					 SIPREPLY_SERVICE_UNAVAILABLE);
}


/**
 * May this INVITE go on to routing? If not it has been answered (503) or
 * dropped, and counted
 *
 * @param fl   Flood limits
 * @param sip  SIP stack (for the answer)
 * @param msg  The INVITE
 *
 * @return true if it may go on
 */
bool sipflood_admit(struct sipflood *fl, struct sip *sip,
		    const struct sip_msg *msg)
{
	uint64_t now = tmr_jiffies();
	struct fsrc *s = fsrc_get(fl, &msg->src, now);
	const char *why;

	if (!s) {
		refuse(fl, sip, msg, NULL, "sources", now);
		return false;
	}

	s->t_last = now;
	why = over_limits(fl, s, now);
	if (why) {
		refuse(fl, sip, msg, s, why, now);
		return false;
	}

	return true;
}


/**
 * A call from this source is waiting for its ACK (+1), or no longer is
 * (-1: ACKed, or ended)
 *
 * @param fl     Flood limits
 * @param src    The call's source address
 * @param delta  +1 or -1
 */
void sipflood_pending(struct sipflood *fl, const struct sa *src, int delta)
{
	struct fsrc *s;

	if (!fl || !src)
		return;

	s = delta > 0 ? fsrc_get(fl, src, tmr_jiffies()) : lookup(fl, src);
	if (!s)
		return;

	if (delta > 0)
		++s->pending;
	else if (s->pending)
		--s->pending;
}


static void destructor(void *arg)
{
	struct sipflood *fl = arg;

	tmr_cancel(&fl->tmr);
	hash_flush(fl->srcs);
	mem_deref(fl->srcs);
}


/**
 * Allocate the flood limits of the SIP side
 *
 * @param flp   Pointer to allocated flood limits
 * @param conf  The gateway's configuration (outlives them)
 *
 * @return 0 if success, otherwise errorcode
 */
int sipflood_alloc(struct sipflood **flp, const struct gwconf *conf)
{
	struct sipflood *fl;
	int err;

	if (!flp || !conf)
		return EINVAL;

	fl = mem_zalloc(sizeof(*fl), destructor);
	if (!fl)
		return ENOMEM;

	fl->conf = conf;
	err = hash_alloc(&fl->srcs, SRC_HASH);
	if (err) {
		mem_deref(fl);
		return err;
	}

	tmr_start(&fl->tmr, SWEEP_MS, sweep, fl);
	*flp = fl;

	return 0;
}
