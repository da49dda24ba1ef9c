/**
 * @file main.c  The callbridge daemon
 *
 * Threading model
 * ---------------
 * Each thread has one role and one event loop:
 *
 *   main ("cb-sip")    libre's loop (re_main). SIP transports, INVITE
 *                      routing, SDP, call admission and call state
 *                      (struct call). Signals (SIGINT, SIGTERM) arrive here.
 *   "cb-media-N"       N media workers (setting `workers`, default: one
 *                      per core). Each runs a libev loop that its own
 *                      lws_context shares as a foreign loop, and owns the
 *                      calls placed on it: their RTP/RTCP sockets, agent
 *                      WebSocket, jitter buffer and 20 ms pacing. Nothing
 *                      on the per-packet path is shared, so no lock is
 *                      taken per packet.
 *   "cb-ctl"           The control socket (gateway/api/ctl.c): reads and
 *                      writes the store, answers status and call views.
 *                      Disk writes (fsync) happen here, never on the SIP
 *                      thread or a worker, so the control socket cannot
 *                      stall media.
 *
 * Hand-offs
 *   SIP -> worker      msgq (eventfd watched by the worker's loop):
 *                      CALL_START, ANSWERED, UPDATE, DTMF, STOP.
 *   worker -> SIP      msgq (eventfd watched by libre's loop):
 *                      AGENT_READY, CALL_END_REQ, SEND_INFO, CALL_GONE.
 *                      See gwmsg.h for the life of a call.
 *   store              written by cb-ctl, read by cb-sip (store_route()
 *                      returns a private copy per call, so a change
 *                      applies to the next call only).
 *   callreg            calls in progress; cb-sip adds/removes, workers
 *                      publish statistics once a second, cb-ctl reads.
 *
 * Shutdown (SIGINT/SIGTERM): stop taking calls, end every call (BYE or
 * 503), wait for the workers to report each call gone (bounded), give the
 * BYE transactions a moment, then stop the control thread and the workers
 * and free everything.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cb_re.h"
#include "alink.h"
#include "callreg.h"
#include "ctl.h"
#include "gwconf.h"
#include "log.h"
#include "msgq.h"
#include "settings.h"
#include "sipgw.h"
#include "srtpx.h"
#include "store.h"
#include "worker.h"

enum {
	SHUTDOWN_GRACE_MS = 5000,   /**< wait for calls to end        */
	BYE_LINGER_MS     = 500,    /**< then for BYE transactions     */
	MAX_WORKERS       = 256,
};

static struct {
	struct settings *set;
	struct gwconf conf;
	struct store *store;
	struct callreg *reg;
	struct sipgw *sipgw;
	struct alink_tls *tls;    /**< wss:// client context, all workers */
	struct worker *workers[MAX_WORKERS];
	unsigned nworkers;
	struct ctl *ctl;
	struct tmr tmr_linger;
	bool stopping;
} gw;


static void usage(void)
{
	fprintf(stderr,
		"usage: callbridge [--config FILE] [--check] [--version]\n"
		"\n"
		"  -c, --config FILE  settings file (default: built-in "
		"defaults)\n"
		"      --check        validate the settings and state, then "
		"exit\n"
		"  -v, --version      print the version\n");
}


static void linger_done(void *arg)
{
	(void)arg;
	re_cancel();
}


static void calls_gone(void *arg)
{
	(void)arg;

	log_info("all calls ended");
	tmr_start(&gw.tmr_linger, BYE_LINGER_MS, linger_done, NULL);
}


static void signal_handler(int sig)
{
	if (gw.stopping) {
		log_warn("second signal %d: stopping now", sig);
		re_cancel();
		return;
	}

	gw.stopping = true;
	log_notice("signal %d: shutting down (%u calls in progress)", sig,
		   sipgw_calls(gw.sipgw));

	sipgw_shutdown(gw.sipgw, SHUTDOWN_GRACE_MS, calls_gone, NULL);
}


/*
 * libre's signal handler only records the signal; re_main() acts on it
 * when its epoll_wait() is interrupted. So the signals must reach the SIP
 * thread and no other: every thread is created with them blocked (threads
 * inherit the mask), and main() unblocks them once all threads run.
 */
static void signals_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, old);
}


static int start_workers(unsigned n)
{
	int err;

	err = alink_tls_alloc(&gw.tls, gw.set->agent_tls_ca[0] ?
			      gw.set->agent_tls_ca : NULL);
	if (err) {
		log_error("agent TLS set-up failed: %m", err);
		return err;
	}

	for (unsigned i = 0; i < n; i++) {
		err = worker_alloc(&gw.workers[i], i,
				   sipgw_msgq(gw.sipgw), gw.reg, gw.tls);
		if (err) {
			log_error("cannot start media worker %u: %m", i, err);
			break;
		}
		gw.nworkers++;
	}

	if (!err) {
		const struct ctl_gw cg = {gw.reg, gw.conf.max_calls,
					  gw.nworkers, gw.conf.account_sid};

		err = ctl_alloc(&gw.ctl, gw.set->control_socket, gw.store,
				&cg);
	}

	return err;
}


int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{"config",  required_argument, NULL, 'c'},
		{"check",   no_argument,       NULL, 'k'},
		{"version", no_argument,       NULL, 'v'},
		{"help",    no_argument,       NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *config = NULL;
	sigset_t sigold;
	bool check = false;
	char errbuf[512];
	enum log_level lvl;
	unsigned n;
	int c, err, ret = 1;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'k': check = true; break;
		case 'v': printf("callbridge %s\n", CB_VERSION); return 0;
		case 'h': usage(); return 0;
		default:  usage(); return 2;
		}
	}
	if (optind < argc) {
		usage();
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	/* no reload: settings are read at start-up and the model changes
	   live; a stray SIGHUP (a closed terminal, a habit) must not kill
	   calls in progress, as its default action would */
	signal(SIGHUP, SIG_IGN);
	log_thread_name("cb-sip");
	worker_lws_logging();

	err = settings_load(&gw.set, config, errbuf, sizeof(errbuf));
	if (err) {
		fprintf(stderr, "callbridge: %s\n", errbuf);
		return 1;
	}

	if (!log_level_parse(gw.set->log_level_name, &lvl))
		log_set_level(lvl);

	err = libre_init();
	if (err) {
		log_error("libre init failed: %m", err);
		goto out;
	}

	err = srtpx_init();
	if (err) {
		log_error("libsrtp2 init failed");
		goto out;
	}

	err = (check ? store_check : store_open)(&gw.store,
			 gw.set->state_file,
			 gw.set->state_seed[0] ? gw.set->state_seed : NULL,
			 errbuf, sizeof(errbuf));
	if (err) {
		log_error("%s", errbuf);
		goto out;
	}

	if (check) {
		uint32_t na, nt, nn;

		store_counts(gw.store, &na, &nt, &nn);
		printf("callbridge: settings and state OK (%u agents, %u "
		       "trunks, %u numbers)\n", na, nt, nn);
		ret = 0;
		goto out;
	}

	gwconf_from_settings(&gw.conf, gw.set);

	err = callreg_alloc(&gw.reg);
	if (err)
		goto out;

	/* from here on threads start (cb-dns, cb-media-N, cb-ctl) */
	signals_block(&sigold);

	err = sipgw_alloc(&gw.sipgw, &gw.conf, gw.store, NULL, 0, gw.reg);
	if (err) {
		log_error("SIP start-up failed: %m", err);
		goto out;
	}

	n = gw.conf.workers;
	if (!n) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores > 0 ? (unsigned)cores : 1;
	}
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;

	err = start_workers(n);
	if (err)
		goto out;

	err = sipgw_set_workers(gw.sipgw, gw.workers, gw.nworkers);
	if (err)
		goto out;

	pthread_sigmask(SIG_SETMASK, &sigold, NULL);

	{
		uint32_t na, nt, nn;

		store_counts(gw.store, &na, &nt, &nn);
		log_notice("callbridge %s ready: %u media workers, %u numbers, "
			   "%u agents, %u trunks; control socket %s",
			   CB_VERSION, gw.nworkers, nn, na, nt,
			   gw.set->control_socket);
	}

	err = re_main(signal_handler);
	if (err)
		log_error("main loop: %m", err);

	ret = err ? 1 : 0;

 out:
	tmr_cancel(&gw.tmr_linger);
	gw.ctl = mem_deref(gw.ctl);

	/* workers stop before the SIP side goes: their last reports (calls
	   that outlived the grace period) land in its queue, handled here */
	sipgw_detach_workers(gw.sipgw);
	for (unsigned i = 0; i < gw.nworkers; i++)
		gw.workers[i] = mem_deref(gw.workers[i]);
	gw.tls = mem_deref(gw.tls);   /* after every lws_context is gone */
	sipgw_drain(gw.sipgw);
	gw.sipgw = mem_deref(gw.sipgw);
	gw.reg = mem_deref(gw.reg);
	gw.store = mem_deref(gw.store);
	gw.set = mem_deref(gw.set);

	srtpx_close();
	libre_close();
	tmr_debug();
	mem_debug();

	if (!ret)
		log_notice("callbridge stopped");

	return ret;
}
