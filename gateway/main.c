/**
 * @file main.c  The callbridge daemon: parse the command line, load the
 *               settings and the state, start the threads, wait for a
 *               signal, stop
 *
 * Threading model
 * ---------------
 * Each thread has one role and one event loop (README.md, "Architecture",
 * has the same table):
 *
 *   main               Starts the others, then waits for a signal
 *                      (sigwaitinfo): every other thread blocks SIGINT and
 *                      SIGTERM, so they arrive here, and are passed to
 *                      cb-sip as messages.
 *   "cb-sip"           libre's loop (re_main): SIP transports, admission
 *                      and routing of calls, SDP, call state (sip/).
 *   "cb-media-N"       N media workers (setting `workers`, default: one
 *                      per core). Each runs a libev loop that its own
 *                      lws_context shares as a foreign loop, and owns the
 *                      calls placed on it: their RTP/RTCP sockets, agent
 *                      link, jitter buffer and 20 ms pacing (media/,
 *                      agent/). Nothing on the per-packet path is shared,
 *                      so no lock is taken per packet.
 *   "cb-ctl"           The control socket (api/): reads and writes the
 *                      store, answers status and call views. Disk writes
 *                      (fsync) happen here, never on the SIP thread or a
 *                      worker, so the control socket cannot stall media.
 *   "cb-dns"           Agent host names (core/resolver.c): getaddrinfo()
 *                      may block, so it runs here, for the SIP thread.
 *
 * Hand-offs
 *   main -> SIP        msgq: SHUTDOWN (first signal), STOP (second).
 *   SIP -> worker      msgq (eventfd watched by the worker's loop):
 *                      CALL_START, ANSWERED, UPDATE, DTMF, STOP.
 *   worker -> SIP      msgq (eventfd watched by libre's loop):
 *                      AGENT_READY, CALL_END_REQ, SEND_INFO, CALL_GONE.
 *                      core/gwmsg.h has the life of a call.
 *   SIP <-> cb-dns     a locked request queue; answers by msgq.
 *   store              written by cb-ctl, read by cb-sip (store_route()
 *                      returns a private copy per call, so a change
 *                      applies to the next call only).
 *   callreg            calls in progress; cb-sip adds/removes, workers
 *                      publish statistics once a second, cb-ctl reads.
 *
 * Shutdown (SIGINT/SIGTERM): stop taking calls, end every call (BYE or
 * 503), wait for the workers to report each call gone (bounded), give the
 * BYE transactions a moment; then cb-sip's loop ends, and main stops the
 * control thread and the workers and frees everything. A second signal
 * ends cb-sip's loop at once.
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
#include "fdlimit.h"
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
	FDS_RESERVE       = 128,    /**< listeners, queues, loops, files */
	SIG_SIP_DONE      = SIGUSR1,/**< cb-sip's loop has ended       */
};

/** main -> cb-sip */
enum main_msg {
	MAIN_SHUTDOWN = 1,    /**< end every call, then the loop  */
	MAIN_STOP,            /**< end the loop now               */
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
	struct msgq *mq;          /**< main -> cb-sip                 */
	struct tmr tmr_linger;
	pthread_t main_tid;
	pthread_t sip_tid;
	bool sip_started;
	int sip_err;              /**< re_main()'s result             */
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


/* -1: go on; else the exit code */
static int parse_args(int argc, char *argv[], const char **config,
		      bool *check)
{
	static const struct option opts[] = {
		{"config",  required_argument, NULL, 'c'},
		{"check",   no_argument,       NULL, 'k'},
		{"version", no_argument,       NULL, 'v'},
		{"help",    no_argument,       NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *config = optarg; break;
		case 'k': *check = true; break;
		case 'v': printf("callbridge %s\n", CB_VERSION); return 0;
		case 'h': usage(); return 0;
		default:  usage(); return 2;
		}
	}
	if (optind < argc) {
		usage();
		return 2;
	}

	return -1;
}


/*
 * cb-sip
 */

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


/* a signal, passed on by main (cb-sip) */
static void main_msg(int id, void *data, void *arg)
{
	(void)data;
	(void)arg;

	switch (id) {

	case MAIN_SHUTDOWN:
		log_notice("shutting down (%u calls in progress)",
			   sipgw_calls(gw.sipgw));
		sipgw_shutdown(gw.sipgw, SHUTDOWN_GRACE_MS, calls_gone, NULL);
		break;

	case MAIN_STOP:
		log_warn("second signal: stopping now");
		re_cancel();
		break;

	default:
		break;
	}
}


static void main_mq_handler(int flags, void *arg)
{
	(void)flags;
	(void)arg;

	msgq_drain(gw.mq);
}


static void *sip_thread(void *arg)
{
	(void)arg;

	log_thread_name("cb-sip");

	gw.sip_err = re_main(NULL);
	if (gw.sip_err)
		log_error("main loop: %m", gw.sip_err);

	(void)pthread_kill(gw.main_tid, SIG_SIP_DONE);

	return NULL;
}


/*
 * main
 */

/*
 * SIGINT and SIGTERM go to main and no other thread: every thread is
 * created with them blocked (threads inherit the mask), and main takes
 * them with sigwaitinfo(). SIG_SIP_DONE wakes main when cb-sip ends.
 */
static void signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIG_SIP_DONE);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}


/*
 * Descriptors: the soft limit is raised to the hard one, libre's table
 * sized to it, and the configuration must fit: every call's descriptors,
 * every control client's, and a reserve. Otherwise SIP over TCP fails
 * once the calls' descriptors pass libre's default of 1,024 (at about
 * 333 calls), while UDP still works.
 */
static int fds_setup(void)
{
	uint64_t limit, hard, need, fit;
	int err;

	err = fdlimit_raise(&limit, &hard);
	if (err) {
		log_error("cannot read the open files limit: %m", err);
		return err;
	}

	need = (uint64_t)gw.set->max_calls * FDLIMIT_PER_CALL +
		CTL_CLIENTS_MAX + FDS_RESERVE;
	if (need > limit) {
		fit = limit > CTL_CLIENTS_MAX + FDS_RESERVE ?
			(limit - CTL_CLIENTS_MAX - FDS_RESERVE) /
			FDLIMIT_PER_CALL : 0;
		log_error("max_calls %u needs up to %llu open files, but the "
			  "limit is %llu (hard limit %llu): raise it "
			  "(LimitNOFILE= in the systemd unit, ulimit -n) or "
			  "set max_calls to %llu or less",
			  gw.set->max_calls, (unsigned long long)need,
			  (unsigned long long)limit, (unsigned long long)hard,
			  (unsigned long long)fit);
		return EMFILE;
	}

	err = fd_setsize((int)limit);
	if (err)
		log_error("cannot size libre's descriptor table to %llu: %m",
			  (unsigned long long)limit, err);
	else
		log_info("open files: limit %llu, max_calls %u needs %llu",
			 (unsigned long long)limit, gw.set->max_calls,
			 (unsigned long long)need);

	return err;
}


static int open_state(bool check)
{
	char errbuf[512];
	int err;

	err = (check ? store_check : store_open)(&gw.store,
			 gw.set->state_file,
			 gw.set->state_seed[0] ? gw.set->state_seed : NULL,
			 errbuf, sizeof(errbuf));
	if (err)
		log_error("%s", errbuf);

	return err;
}


static unsigned workers_wanted(void)
{
	unsigned n = gw.conf.workers;

	if (!n) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores > 0 ? (unsigned)cores : 1;
	}

	return n > MAX_WORKERS ? MAX_WORKERS : n;
}


/* the media workers above normal priority (media_priority), or a note
   saying why not: the calls work either way, their timing on a busy host
   does not */
static void workers_priority(void)
{
	int nice = -(int)gw.set->media_priority;
	int err = 0;

	if (!nice)
		return;

	for (unsigned i = 0; i < gw.nworkers && !err; i++)
		err = worker_set_nice(gw.workers[i], nice);

	if (err == EPERM || err == EACCES)
		log_notice("media workers at normal priority: nice %d is not "
			   "allowed (run as root, or grant CAP_SYS_NICE or "
			   "LimitNICE=, or set media_priority 0)", nice);
	else if (err)
		log_warn("media workers at normal priority: %m", err);
	else
		log_info("media workers at nice %d", nice);
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
			return err;
		}
		gw.nworkers++;
	}

	workers_priority();

	return sipgw_set_workers(gw.sipgw, gw.workers, gw.nworkers);
}


/* every thread, from cb-dns (with the SIP side) to cb-sip's loop */
static int start(void)
{
	struct ctl_gw cg;
	int err;

	gwconf_from_settings(&gw.conf, gw.set);

	err = callreg_alloc(&gw.reg);
	if (err)
		return err;

	err = sipgw_alloc(&gw.sipgw, &gw.conf, gw.store, NULL, 0, gw.reg);
	if (err) {
		log_error("SIP start-up failed: %m", err);
		return err;
	}

	err = start_workers(workers_wanted());
	if (err)
		return err;

	cg.reg = gw.reg;
	cg.max_calls = gw.conf.max_calls;
	cg.workers = gw.nworkers;
	cg.account_sid = gw.conf.account_sid;
	err = ctl_alloc(&gw.ctl, gw.set->control_socket, gw.store, &cg);
	if (err)
		return err;

	/* the SIP side was set up here, on libre's process-wide loop, which
	   cb-sip now runs */
	err = msgq_alloc(&gw.mq, main_msg, NULL);
	if (!err)
		err = fd_listen(msgq_fd(gw.mq), FD_READ, main_mq_handler,
				NULL);
	if (!err)
		err = pthread_create(&gw.sip_tid, NULL, sip_thread, NULL);
	if (err)
		return err;
	gw.sip_started = true;
	(void)pthread_setname_np(gw.sip_tid, "cb-sip");

	return 0;
}


/* until cb-sip's loop ends: signals become messages to it */
static void wait_signals(const sigset_t *set)
{
	bool stopping = false;

	for (;;) {
		int sig = sigwaitinfo(set, NULL);

		if (sig == SIG_SIP_DONE)
			return;
		if (sig != SIGINT && sig != SIGTERM)
			continue;   /* EINTR */

		log_notice("signal %d%s", sig, stopping ? " again" : "");
		(void)msgq_push(gw.mq, stopping ? MAIN_STOP : MAIN_SHUTDOWN,
				NULL);
		stopping = true;
	}
}


static void stop(void)
{
	if (gw.sip_started)
		(void)pthread_join(gw.sip_tid, NULL);

	tmr_cancel(&gw.tmr_linger);
	if (gw.mq)
		fd_close(msgq_fd(gw.mq));
	gw.mq = mem_deref(gw.mq);
	gw.ctl = mem_deref(gw.ctl);

	/* workers stop before the SIP side goes: their last reports (calls
	   that outlived the grace period) land in its queue, handled here */
	sipgw_detach_workers(gw.sipgw);
	for (unsigned i = 0; i < gw.nworkers; i++)
		gw.workers[i] = mem_deref(gw.workers[i]);
	gw.tls = mem_deref(gw.tls);   /* after every lws_context is gone */
	sipgw_handle_last_reports(gw.sipgw);
	gw.sipgw = mem_deref(gw.sipgw);
	gw.reg = mem_deref(gw.reg);
}


static void log_ready(void)
{
	uint32_t na, nt, nn;

	store_counts(gw.store, &na, &nt, &nn);
	log_notice("callbridge %s ready: %u media workers, %u numbers, "
		   "%u agents, %u trunks; control socket %s",
		   CB_VERSION, gw.nworkers, nn, na, nt,
		   gw.set->control_socket);
}


/* libre's and libsrtp2's process-wide state */
static int libs_init(void)
{
	int err;

	err = libre_init();
	if (err) {
		log_error("libre init failed: %m", err);
		return err;
	}

	err = srtpx_init();
	if (err)
		log_error("libsrtp2 init failed");

	return err;
}


/* --check's answer: what was read */
static void print_check(void)
{
	uint32_t na, nt, nn;

	store_counts(gw.store, &na, &nt, &nn);
	printf("callbridge: settings and state OK (%u agents, %u "
	       "trunks, %u numbers)\n", na, nt, nn);
}


int main(int argc, char *argv[])
{
	const char *config = NULL;
	bool check = false;
	char errbuf[512];
	sigset_t sigs;
	int err, ret = 1;

	ret = parse_args(argc, argv, &config, &check);
	if (ret >= 0)
		return ret;
	ret = 1;

	signal(SIGPIPE, SIG_IGN);
	/* no reload: settings are read at start-up and the model changes
	   live; a stray SIGHUP (a closed terminal, a habit) must not kill
	   calls in progress, as its default action would */
	signal(SIGHUP, SIG_IGN);
	gw.main_tid = pthread_self();
	worker_lws_logging();

	err = settings_load(&gw.set, config, errbuf, sizeof(errbuf));
	if (err) {
		fprintf(stderr, "callbridge: %s\n", errbuf);
		return 1;
	}

	log_set_level(gw.set->log_level);

	err = libs_init();
	if (err)
		goto out;

	if (!check) {
		err = fds_setup();
		if (err)
			goto out;
	}

	err = open_state(check);
	if (err)
		goto out;

	if (check) {
		print_check();
		ret = 0;
		goto out;
	}

	/* from here on threads start (cb-dns, cb-media-N, cb-ctl, cb-sip) */
	signals_block(&sigs);

	err = start();
	if (err)
		goto out;

	log_ready();
	wait_signals(&sigs);
	ret = gw.sip_err ? 1 : 0;

 out:
	stop();
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
