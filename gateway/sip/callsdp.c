/**
 * @file callsdp.c  SDP offer/answer for one call (RFC 3264)
 *
 * Design note. libre's sdp_session does the parsing, matching and printing.
 * We add every format we can handle, let sdp_decode() mark what the peer
 * supports (the `sup` flag), and then keep exactly one audio codec -- the
 * first of the call's preference list that the peer offered -- plus the
 * telephone-event and CN formats at that codec's clock rate. The answer
 * therefore never leaves the peer a choice of codecs, so the media worker
 * only ever sees one audio payload type per call.
 *
 * The chosen codec is sticky: a re-INVITE (hold, unhold, new address) must
 * offer it again, else the re-INVITE gets 488 and the call stays as it was.
 * A re-INVITE with the stream at port 0 stops media (RFC 3264 8.2): the
 * answer has port 0 and the worker neither sends nor takes RTP until an
 * SDP with a port brings it back.
 *
 * Payload types. Each side receives with the numbers of its own SDP
 * (RFC 3264 5.1). In an answer we make libre gives our formats the offer's
 * numbers, the same both ways; the answer to an offer of ours may number
 * a format otherwise, and then we send with its numbers (media_params pt,
 * telev_pt) and take ours (rx_pt, rx_telev_pt). Our offers list the
 * formats in our order of preference, whatever order libre was left in.
 *
 * SRTP (SDES, RFC 4568). The trunk's media_encryption decides the
 * transport: none takes RTP/AVP only, srtp_optional takes RTP/AVP or
 * RTP/SAVP, whichever the peer offers, srtp_required takes RTP/SAVP only
 * (libre answers another transport with port 0, which we refuse as 488).
 * With RTP/SAVP the first a=crypto line of the peer's that we can use
 * (a suite we speak, no MKI, no session parameters) gives the peer's key;
 * ours, random per call, goes in our a=crypto with the same tag. An
 * answer to our offer must echo the tag and suite we offered (RFC 4568
 * 5.1.3), else it is refused like an answer without a key.
 *
 * The peer's SDP goes to sdp_decode() without its a=rtpmap lines that
 * have no clock rate: libre refuses a whole SDP for one of them, and RFC
 * 4475's offers carry "a=rtpmap:31 LPC" on a video line that we refuse
 * anyway; the audio must still be answered.
 */
#include <errno.h>
#include <string.h>
#include "cb_re.h"
#include "srtpx.h"
#include "callsdp.h"

struct callsdp {
	struct sdp_session *sess;
	struct sdp_media *m;
	enum codec_id prefs[CODEC_COUNT];
	size_t prefc;
	struct sdp_format *fmts[CODEC_COUNT + 3]; /**< ours, in our order */
	size_t fmtc;
	enum codec_id chosen;     /**< CODEC_NONE until agreed */
	struct media_params agreed; /**< the last media agreed with a port */
	bool mux_offered;
	enum callsdp_srtp srtp;   /**< policy                  */
	struct srtpx_crypto local;/**< our key; suite NONE until used */
};


static void destructor(void *arg)
{
	struct callsdp *cs = arg;

	mem_deref(cs->sess);
}


/*
 * Opus fmtp: with an agent below full band, say so (RFC 7587 6.1): the
 * caller's encoder then need not spend bits and CPU on a band the agent
 * never hears, and our decoder does less work (narrowband SILK decodes in
 * about 40 % of the time of wideband-and-up packets to the same rate).
 */
static int add_codec(struct sdp_format **fp, struct sdp_media *m,
		     enum codec_id c, uint32_t audio_hz)
{
	char fmtp[128];

	switch (c) {

	case CODEC_PCMU:
		return sdp_format_add(fp, m, false, "0", "PCMU", 8000, 1,
				      NULL, NULL, NULL, false, NULL);
	case CODEC_PCMA:
		return sdp_format_add(fp, m, false, "8", "PCMA", 8000, 1,
				      NULL, NULL, NULL, false, NULL);
	case CODEC_OPUS:
		if (audio_hz >= 8000 && audio_hz < 48000)
			re_snprintf(fmtp, sizeof(fmtp), "maxplaybackrate=%u;"
				    "sprop-maxcapturerate=%u;"
				    "minptime=10;useinbandfec=1",
				    audio_hz, audio_hz);
		else
			str_ncpy(fmtp, "minptime=10;useinbandfec=1",
				 sizeof(fmtp));
		return sdp_format_add(fp, m, false, "111", "opus", 48000, 2,
				      NULL, NULL, NULL, false, fmtp);
	default:
		return EINVAL;
	}
}


/**
 * Allocate the SDP state of a call
 *
 * @param csp    Pointer to allocated state
 * @param laddr  Local RTP address and port (written in c= and m=)
 * @param prefs  Codec preference, most wanted first
 * @param prefc  Number of entries in prefs (0 = default order)
 * @param srtp   Media encryption policy
 * @param audio_hz  The agent's audio rate: the most worth receiving, and
 *                  the most we send [Hz] (0: full band)
 *
 * @return 0 if success, otherwise errorcode
 */
int callsdp_alloc(struct callsdp **csp, const struct sa *laddr,
		  const enum codec_id *prefs, size_t prefc,
		  enum callsdp_srtp srtp, uint32_t audio_hz)
{
	static const enum codec_id defprefs[] = CODEC_DEFAULT_PREFS;
	struct callsdp *cs;
	int err;

	if (!csp || !laddr)
		return EINVAL;

	cs = mem_zalloc(sizeof(*cs), destructor);
	if (!cs)
		return ENOMEM;

	cs->chosen = CODEC_NONE;
	cs->srtp = srtp;

	if (!prefc) {
		prefs = defprefs;
		prefc = sizeof(defprefs) / sizeof(defprefs[0]);
	}
	for (size_t i = 0; i < prefc && cs->prefc < CODEC_COUNT; i++) {
		if (prefs[i] > CODEC_NONE && prefs[i] < CODEC_COUNT)
			cs->prefs[cs->prefc++] = prefs[i];
	}
	if (!cs->prefc) {
		err = EINVAL;
		goto out;
	}

	err = sdp_session_alloc(&cs->sess, laddr);
	if (err)
		goto out;

	err = sdp_media_add(&cs->m, cs->sess, "audio", sa_port(laddr),
			    srtp == CALLSDP_SRTP_REQUIRED ? "RTP/SAVP" :
			    "RTP/AVP");
	if (err)
		goto out;

	if (srtp == CALLSDP_SRTP_OPTIONAL)
		err = sdp_media_set_alt_protos(cs->m, 2, "RTP/AVP",
					       "RTP/SAVP");
	if (err)
		goto out;

	/* our key for the whole call, used only if SRTP is agreed */
	err = srtpx_key_random(cs->local.key);
	if (err)
		goto out;
	cs->local.tag = 1;

	for (size_t i = 0; i < cs->prefc; i++) {
		err = add_codec(&cs->fmts[cs->fmtc++], cs->m, cs->prefs[i],
				audio_hz);
		if (err)
			goto out;
	}

	err  = sdp_format_add(&cs->fmts[cs->fmtc++], cs->m, false, "101",
			      "telephone-event", 8000, 1, NULL, NULL, NULL,
			      false, "0-16");
	err |= sdp_format_add(&cs->fmts[cs->fmtc++], cs->m, false, "102",
			      "telephone-event", 48000, 1, NULL, NULL, NULL,
			      false, "0-16");
	err |= sdp_format_add(&cs->fmts[cs->fmtc++], cs->m, false, "13",
			      "CN", 8000, 1, NULL, NULL, NULL, false, NULL);
	if (err)
		goto out;

	err = sdp_media_set_lattr(cs->m, true, "ptime", "20");

 out:
	if (err)
		mem_deref(cs);
	else
		*csp = cs;

	return err;
}


static struct sdp_format *lformat(const struct callsdp *cs,
				  const char *name, uint32_t srate)
{
	const struct list *l = sdp_media_format_lst(cs->m, true);

	for (struct le *le = list_head(l); le; le = le->next) {
		struct sdp_format *f = le->data;

		if (!strcasecmp(f->name, name) && f->srate == srate)
			return f;
	}

	return NULL;
}


static struct sdp_format *codec_format(const struct callsdp *cs,
				       enum codec_id c)
{
	return lformat(cs, codec_name(c), codec_clock_rate(c));
}


/** True if the peer's last SDP offered (or accepted) this codec */
bool callsdp_codec_offered(const struct callsdp *cs, enum codec_id codec)
{
	const struct sdp_format *f = cs ? codec_format(cs, codec) : NULL;

	return f && f->sup;
}


struct crypto_pick {
	const struct srtpx_crypto *offered; /**< ours, if an answer */
	struct srtpx_crypto remote;
	bool found;
};


static bool crypto_apply(const char *name, const char *value, void *arg)
{
	struct crypto_pick *cp = arg;

	(void)name;

	if (srtpx_crypto_decode(&cp->remote, value))
		return false;   /* not one we can use: try the next line */

	/* RFC 4568 5.1.3: an answer's key goes with the tag and suite of
	   one we offered (we offer one) */
	if (cp->offered && (cp->remote.tag != cp->offered->tag ||
			    cp->remote.suite != cp->offered->suite))
		return false;

	cp->found = true;
	return true;
}


/* SRTP: the peer's key from its a=crypto, ours in our answer/offer;
   answer: the peer's SDP answers our offer */
static int crypto_settle(struct callsdp *cs, bool answer,
			 struct media_params *res)
{
	struct crypto_pick cp;
	char attr[SRTPX_ATTR_MAX];
	int err;

	res->srtp_suite = SRTPX_NONE;

	if (strcmp(sdp_media_proto(cs->m), "RTP/SAVP")) {
		sdp_media_del_lattr(cs->m, "crypto");
		return cs->srtp == CALLSDP_SRTP_REQUIRED ? ENOTSUP : 0;
	}

	memset(&cp, 0, sizeof(cp));
	cp.offered = answer ? &cs->local : NULL;
	(void)sdp_media_rattr_apply(cs->m, "crypto", crypto_apply, &cp);
	if (!cp.found)
		return ENOTSUP;   /* RTP/SAVP without a usable key: 488 */

	cs->local.tag = cp.remote.tag;
	cs->local.suite = cp.remote.suite;
	err = srtpx_crypto_encode(attr, sizeof(attr), &cs->local);
	if (err)
		return err;
	err = sdp_media_set_lattr(cs->m, true, "crypto", "%s", attr);
	if (err)
		return err;

	res->srtp_suite = cp.remote.suite;
	memcpy(res->srtp_rx_key, cp.remote.key, SRTPX_KEY_LEN);
	memcpy(res->srtp_tx_key, cs->local.key, SRTPX_KEY_LEN);

	return 0;
}


/* the codec to keep: the one agreed before (sticky: a re-INVITE must
   offer it again), else the first of ours the peer offers */
static enum codec_id codec_pick(const struct callsdp *cs)
{
	if (cs->chosen != CODEC_NONE)
		return callsdp_codec_offered(cs, cs->chosen) ? cs->chosen :
			CODEC_NONE;

	for (size_t i = 0; i < cs->prefc; i++) {
		if (callsdp_codec_offered(cs, cs->prefs[i]))
			return cs->prefs[i];
	}

	return CODEC_NONE;
}


/* the codec's format itself, or a companion of it: telephone-event or
   CN at its clock rate */
static bool goes_with(const struct sdp_format *f,
		      const struct sdp_format *cf)
{
	return f == cf || (f->srate == cf->srate &&
			   (!strcasecmp(f->name, "telephone-event") ||
			    !strcasecmp(f->name, "CN")));
}


/* leave exactly one audio codec and its companions in the answer */
static void keep_only(struct callsdp *cs, const struct sdp_format *cf)
{
	const struct list *l = sdp_media_format_lst(cs->m, true);

	for (struct le *le = list_head(l); le; le = le->next) {
		struct sdp_format *f = le->data;

		if (!goes_with(f, cf))
			f->sup = false;
	}
}


/*
 * The number the peer's SDP gave a format of ours: the first of its
 * formats that matches. In an answer we make libre has given our formats
 * the offer's numbers already; the answer to our offer may number a
 * format otherwise (RFC 3264 6.1 asks the same numbers with SHOULD), and
 * the peer receives with its own numbers (5.1), we with ours.
 */
static int peer_pt(const struct callsdp *cs, const struct sdp_format *lf)
{
	const struct list *l = sdp_media_format_lst(cs->m, false);

	for (struct le *le = list_head(l); le; le = le->next) {
		const struct sdp_format *rf = le->data;

		if (rf->sup && sdp_format_cmp(lf, rf))
			return rf->pt;
	}

	return lf->pt;
}


/* a companion of the codec at its clock rate, as we take it (rx) and
   as we send it (tx); -1 both if not agreed */
static void companion_pts(const struct callsdp *cs, const char *name,
			  uint32_t srate, bool answer, int *rx, int *tx)
{
	const struct sdp_format *f = lformat(cs, name, srate);

	if (!f || !f->sup) {
		*rx = *tx = -1;
		return;
	}

	*rx = f->pt;
	*tx = answer ? peer_pt(cs, f) : f->pt;
}


/* the agreed codec, its companions' payload types, the peer's ptime;
   answer: the peer's SDP answers an offer of ours */
static void result_codec(const struct callsdp *cs, enum codec_id pick,
			 const struct sdp_format *cf, bool answer,
			 struct media_params *res)
{
	const char *attr;

	res->codec = pick;
	res->rx_pt = cf->pt;
	res->pt    = answer ? peer_pt(cs, cf) : cf->pt;
	res->srate = cf->srate;
	res->ch    = cf->ch;
	if (cf->rparams)
		str_ncpy(res->fmtp, cf->rparams, sizeof(res->fmtp));

	companion_pts(cs, "telephone-event", cf->srate, answer,
		      &res->rx_telev_pt, &res->telev_pt);
	companion_pts(cs, "CN", cf->srate, answer, &res->rx_cn_pt,
		      &res->cn_pt);

	attr = sdp_media_rattr(cs->m, "ptime");
	res->ptime = attr ? (uint32_t)atoi(attr) : 0;
}


/* where RTP and RTCP go (rtcp-mux answered only when offered), and
   which way media may flow */
static void result_transport(struct callsdp *cs, struct media_params *res)
{
	res->raddr = *sdp_media_raddr(cs->m);
	res->rtcp_mux = sdp_media_rattr(cs->m, "rtcp-mux") != NULL;
	if (res->rtcp_mux)
		res->raddr_rtcp = res->raddr;
	else
		sdp_media_raddr_rtcp(cs->m, &res->raddr_rtcp);

	switch (sdp_media_dir(cs->m)) {
	case SDP_SENDRECV: res->dir.send = true;  res->dir.recv = true;  break;
	case SDP_SENDONLY: res->dir.send = true;  res->dir.recv = false; break;
	case SDP_RECVONLY: res->dir.send = false; res->dir.recv = true;  break;
	default:           res->dir.send = false; res->dir.recv = false; break;
	}

	/* RFC 2543 hold: c=0.0.0.0 */
	if (!sa_isset(&res->raddr, SA_ADDR))
		res->dir.send = false;

	if (res->rtcp_mux)
		(void)sdp_media_set_lattr(cs->m, true, "rtcp-mux", NULL);
	else
		sdp_media_del_lattr(cs->m, "rtcp-mux");
}


/* RTP carries a payload type in 7 bits (RFC 3550 5.1): a format the
   peer numbered outside 0..127 can be neither sent nor recognised, so it
   counts as not offered (libre takes any number) */
static void pt_check(struct callsdp *cs)
{
	const struct list *l = sdp_media_format_lst(cs->m, true);

	for (struct le *le = list_head(l); le; le = le->next) {
		struct sdp_format *f = le->data;

		if (f->pt < 0 || f->pt > 127)
			f->sup = false;
	}
}


/*
 * Is the port of the (first) m=audio line 0 as written? libre also
 * reports port 0 for a transport we do not take (RTP/AVP on a trunk that
 * requires SRTP): that one stays a 488, not a stream the peer disabled.
 */
static bool port0_written(const struct mbuf *mb)
{
	struct pl port;

	if (re_regex((const char *)mbuf_buf(mb), mbuf_get_left(mb),
		     "\nm=audio [0-9]+ ", &port))
		return false;

	return pl_u32(&port) == 0;
}


/*
 * The stream at port 0 (RFC 3264 8.2): once media was agreed, this
 * stops it -- the answer has port 0 too (libre prints that) and the
 * worker neither sends nor takes RTP -- and a later SDP with a port
 * brings it back. The codec, payload types and keys stay what they were,
 * so the worker keeps its codec and SRTP state for that moment. Before
 * any agreement there is nothing to stop: refused.
 */
static int settle_disabled(const struct callsdp *cs, bool port0,
			   struct media_params *res)
{
	if (!port0 || cs->chosen == CODEC_NONE)
		return ENOTSUP;

	*res = cs->agreed;
	res->raddr = *sdp_media_raddr(cs->m);
	res->raddr_rtcp = res->raddr;
	res->dir.send = false;
	res->dir.recv = false;

	return 0;
}


/*
 * Keep one codec and its companions; fill in the result.
 * Returns ENOTSUP if no acceptable codec was offered.
 * mb: the peer's SDP just decoded; offer: it is an offer
 */
static int settle(struct callsdp *cs, const struct mbuf *mb, bool offer,
		  struct media_params *res)
{
	enum codec_id pick;
	struct sdp_format *cf;
	int err;

	if (sdp_media_disabled(cs->m))
		return ENOTSUP;

	if (!sa_port(sdp_media_raddr(cs->m)))
		return settle_disabled(cs, port0_written(mb), res);

	pt_check(cs);

	pick = codec_pick(cs);
	if (pick == CODEC_NONE)
		return ENOTSUP;

	cf = codec_format(cs, pick);
	keep_only(cs, cf);
	cs->chosen = pick;

	memset(res, 0, sizeof(*res));
	result_codec(cs, pick, cf, !offer, res);
	result_transport(cs, res);

	err = crypto_settle(cs, !offer, res);
	if (!err)
		cs->agreed = *res;

	return err;
}


/* an a=rtpmap line libre's sdp_decode() refuses: no clock rate */
static bool rtpmap_unreadable(struct pl line)
{
	static const char attr[] = "a=rtpmap:";
	const size_t n = sizeof(attr) - 1;

	while (line.l && (line.p[line.l - 1] == '\n' ||
			  line.p[line.l - 1] == '\r'))
		--line.l;

	if (line.l < n || memcmp(line.p, attr, n))
		return false;

	return re_regex(line.p + n, line.l - n, "[^ ]+ [^/]+/[0-9]+",
			NULL, NULL, NULL) != 0;
}


/* the peer's SDP into sdp_decode(), without unreadable rtpmap lines */
static int decode(struct callsdp *cs, const struct mbuf *mb, bool offer)
{
	struct pl txt, line;
	struct mbuf *clean;
	int err = 0;

	clean = mbuf_alloc(mbuf_get_left(mb) + 1);
	if (!clean)
		return ENOMEM;

	txt.p = (const char *)mbuf_buf(mb);
	txt.l = mbuf_get_left(mb);

	while (txt.l && !err) {
		const char *nl = memchr(txt.p, '\n', txt.l);

		line.p = txt.p;
		line.l = nl ? (size_t)(nl - txt.p) + 1 : txt.l;
		txt.p += line.l;
		txt.l -= line.l;

		if (!rtpmap_unreadable(line))
			err = mbuf_write_pl(clean, &line);
	}

	clean->pos = 0;
	if (!err)
		err = sdp_decode(cs->sess, clean, offer);

	mem_deref(clean);

	return err == ENOMEM ? ENOMEM : err ? EBADMSG : 0;
}


/**
 * Take the peer's offer (INVITE or re-INVITE body)
 *
 * @param cs   SDP state
 * @param mb   SDP text
 * @param res  What was agreed
 *
 * @return 0 if success (also for the stream at port 0 once media was
 *         agreed: media stops, the answer has port 0), ENOTSUP if no
 *         acceptable codec (answer 488), EBADMSG if the SDP does not parse
 */
int callsdp_offer_recv(struct callsdp *cs, struct mbuf *mb,
		       struct media_params *res)
{
	int err;

	if (!cs || !mb || !res)
		return EINVAL;

	err = decode(cs, mb, true);
	if (err)
		return err;

	return settle(cs, mb, true, res);
}


/**
 * Take the peer's answer to our offer (ACK or 200 body)
 */
int callsdp_answer_recv(struct callsdp *cs, struct mbuf *mb,
			struct media_params *res)
{
	int err;

	if (!cs || !mb || !res)
		return EINVAL;

	err = decode(cs, mb, false);
	if (err)
		return err;

	return settle(cs, mb, false, res);
}


/*
 * An offer lists our formats in our order of preference (RFC 3264 5.1).
 * libre reorders its list to each offer it decodes (the formats offered
 * in the offer's order, the others last), and a refused re-offer leaves
 * that order behind; so before each offer of ours the list goes back to
 * the order it was made in: the codecs by preference, then
 * telephone-event/8000, telephone-event/48000, CN. libre has no call for
 * this: the list is its own, only the order changes.
 */
static void formats_ours_first(struct callsdp *cs)
{
	struct list *l = (struct list *)sdp_media_format_lst(cs->m, true);

	for (size_t i = 0; i < cs->fmtc; i++) {
		list_unlink(&cs->fmts[i]->le);
		list_append(l, &cs->fmts[i]->le, cs->fmts[i]);
	}
}


/**
 * Print our SDP
 *
 * @param cs     SDP state
 * @param mbp    Allocated SDP text
 * @param offer  True for an offer (INVITE without SDP), false for an answer
 */
int callsdp_encode(struct callsdp *cs, struct mbuf **mbp, bool offer)
{
	const struct list *l;

	if (!cs || !mbp)
		return EINVAL;

	if (offer)
		formats_ours_first(cs);

	if (offer && cs->chosen == CODEC_NONE) {
		/* a fresh offer lists everything we can do */
		l = sdp_media_format_lst(cs->m, true);
		for (struct le *le = list_head(l); le; le = le->next) {
			struct sdp_format *f = le->data;
			f->sup = true;
		}
	}
	else if (offer) {
		/* a re-offer keeps the agreed codec only */
		struct sdp_format *cf = codec_format(cs, cs->chosen);

		l = sdp_media_format_lst(cs->m, true);
		for (struct le *le = list_head(l); le; le = le->next) {
			struct sdp_format *f = le->data;
			f->sup = goes_with(f, cf);
		}
	}

	if (offer && !strcmp(sdp_media_proto(cs->m), "RTP/SAVP")) {
		char attr[SRTPX_ATTR_MAX];
		int err;

		if (cs->local.suite == SRTPX_NONE)
			cs->local.suite = SRTPX_AES_CM_128_HMAC_SHA1_80;
		err = srtpx_crypto_encode(attr, sizeof(attr), &cs->local);
		if (!err)
			err = sdp_media_set_lattr(cs->m, true, "crypto", "%s",
						  attr);
		if (err)
			return err;
	}

	return sdp_encode(mbp, cs->sess, offer);
}
