/**
 * @file test_callsdp.c  SDP offer/answer of a call (gateway/callsdp.c)
 *
 * A table of calls. Each sets up one struct callsdp (local address, codec
 * preference, SRTP policy, agent rate) and runs up to four steps:
 *
 *   IN   the peer's offer (INVITE or re-INVITE): callsdp_offer_recv(),
 *        then our answer, callsdp_encode(offer=false);
 *   OUT  our offer (INVITE without SDP, or a re-offer):
 *        callsdp_encode(offer=true);
 *   ANS  the peer's answer to it (ACK or 200): callsdp_answer_recv().
 *
 * Each step gives the expected error and, on success, every field of the
 * agreed struct media_params; each SDP we print is checked line by line
 * (`want`: lines that must be there, `*` matches any text; `never`: lines
 * that must not be), and for form: CRLF endings, v=/o=/s=/c=/t= from the
 * local address, one direction attribute per m= line, the o= version
 * going up by one at each SDP of the call (RFC 3264 section 8). With
 * SRTP, the key in our a=crypto must be the one media_params encrypts
 * with, the same for the whole call, and the peer's key must be the one
 * it decrypts with.
 *
 * Cases marked `xfail` state what RFC 3264/4568 asks where callsdp.c (as
 * of this test) does otherwise: each runs in a child process and must
 * fail, at its step; if one passes, the fault was fixed and the mark
 * must go.
 *
 * Besides the table: the arguments, and the gateway talking to itself
 * (our offer, our answer to it, that answer taken back), where the keys
 * and payload types must cross over.
 *
 * Longer than the 900 lines of DEVELOPERS.md: the table is half of it,
 * one case per behaviour, and reads best in one place.
 *
 * CB_TEST_VERBOSE=1 prints every SDP we make.
 */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/wait.h>
#include "cb_re.h"
#include "callsdp.h"
#include "srtpx.h"
#include "test.h"

#define CRLF "\r\n"

/* the carrier: 127.0.0.2 (or ::1), RTP on 40000 */
#define HEAD4 "v=0" CRLF "o=carrier 1001 1 IN IP4 127.0.0.2" CRLF \
	"s=call" CRLF "c=IN IP4 127.0.0.2" CRLF "t=0 0" CRLF
#define HEAD6 "v=0" CRLF "o=carrier 1001 1 IN IP6 ::1" CRLF \
	"s=call" CRLF "c=IN IP6 ::1" CRLF "t=0 0" CRLF

#define PCMU   "a=rtpmap:0 PCMU/8000" CRLF
#define PCMA   "a=rtpmap:8 PCMA/8000" CRLF
#define CN     "a=rtpmap:13 CN/8000" CRLF
#define TE(pt, hz) "a=rtpmap:" #pt " telephone-event/" #hz CRLF \
	"a=fmtp:" #pt " 0-16" CRLF
#define OPUS(pt) "a=rtpmap:" #pt " opus/48000/2" CRLF \
	"a=fmtp:" #pt " minptime=10;useinbandfec=1" CRLF

/* SDES keys: RFC 4568's example, and the bytes 0x40..0x5d */
#define KEY_A "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
#define KEY_B "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xd"
#define C80 " AES_CM_128_HMAC_SHA1_80 inline:"
#define C32 " AES_CM_128_HMAC_SHA1_32 inline:"

#define S80 SRTPX_AES_CM_128_HMAC_SHA1_80
#define S32 SRTPX_AES_CM_128_HMAC_SHA1_32

/* our Opus fmtp for a full-band agent (and OPUS()'s, by chance) */
#define OUR_OPUS_FMTP "minptime=10;useinbandfec=1"

enum op { END = 0, IN, OUT, ANS };

/** What the step must agree (checked when err is 0) */
struct want_mp {
	int codec;
	int pt;
	uint32_t srate;
	uint8_t ch;
	const char *fmtp;     /**< the peer's, "" if none         */
	int telev_pt;
	int cn_pt;
	uint32_t ptime;
	const char *raddr;    /**< %J: "127.0.0.2:40000"          */
	const char *rtcp;     /**< %J                             */
	bool mux;
	bool send, recv;
	int srtp;             /**< suite, 0: plain RTP            */
	const char *rx_key;   /**< base64 of the peer's key       */
	bool rx_own;          /**< false: we receive with the PTs
				   we send with (rx_* unused)     */
	int rx_pt, rx_telev_pt, rx_cn_pt; /**< rx_own: the PTs we take */
};

struct step {
	enum op op;
	const char *sdp;      /**< IN, ANS: the peer's SDP        */
	int err;
	struct want_mp mp;
	const char *want[16]; /**< lines in our SDP (`*`: any)    */
	const char *never[8]; /**< lines that must not be there   */
	bool encode;          /**< IN with err: print the answer anyway */
};

struct tcase {
	const char *name;
	const char *laddr;    /**< NULL: 127.0.0.1:30000           */
	enum codec_id prefs[CODEC_COUNT];
	size_t prefc;
	enum callsdp_srtp srtp;
	uint32_t audio_hz;
	struct step steps[4];
	const char *xfail;    /**< suspected fault: RFC and what   */
	int xfail_step;       /**< the step that must fail (1..)   */
};

/* media_params of the usual answers */
#define MP_PCMU(te) {CODEC_PCMU, 0, 8000, 1, "", te, -1, 0,		\
		"127.0.0.2:40000", "127.0.0.2:40001", false, true, true, 0, \
		NULL}

static const struct tcase cases[] = {

	/* -- codecs ------------------------------------------------------- */

	{.name = "PCMU only, static payload type without rtpmap",
	 .audio_hz = 16000, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF,
	   .mp = MP_PCMU(-1),
	   .want = {"m=audio 30000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000",
		    "a=sendrecv", "a=ptime:20"},
	   .never = {"a=rtpmap:8 *", "a=rtpmap:* telephone-event/*",
		     "a=crypto:*", "a=rtcp-mux", "a=fmtp:*", "a=rtcp:*"}},
	 }},

	{.name = "PCMA only, PCMU preferred; telephone-event at PT 96",
	 .audio_hz = 8000, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 8 96" CRLF PCMA
	   TE(96, 8000) "a=ptime:20" CRLF "a=sendrecv" CRLF,
	   .mp = {CODEC_PCMA, 8, 8000, 1, "", 96, -1, 20, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, 0, NULL},
	   /* RFC 3264 6.1: the offer's payload type numbers */
	   .want = {"m=audio 30000 RTP/AVP 8 96", "a=rtpmap:8 PCMA/8000",
		    "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-16",
		    "a=sendrecv"},
	   .never = {"a=rtpmap:0 *", "a=rtpmap:101 *", "a=rtpmap:102 *",
		     "a=rtpmap:13 *"}},
	 }},

	{.name = "Opus only at PT 107, agent at 16 kHz: band limit in fmtp",
	 .audio_hz = 16000, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 107" CRLF
	   "a=rtpmap:107 opus/48000/2" CRLF
	   "a=fmtp:107 useinbandfec=1;stereo=0;maxaveragebitrate=24000" CRLF,
	   .mp = {CODEC_OPUS, 107, 48000, 2,
		  "useinbandfec=1;stereo=0;maxaveragebitrate=24000", -1, -1,
		  0, "127.0.0.2:40000", "127.0.0.2:40001", false, true, true,
		  0, NULL},
	   /* RFC 7587 7: opus/48000/2 whatever is sent; 6.1: the limits */
	   .want = {"m=audio 30000 RTP/AVP 107", "a=rtpmap:107 opus/48000/2",
		    "a=fmtp:107 maxplaybackrate=16000;"
		    "sprop-maxcapturerate=16000;minptime=10;useinbandfec=1",
		    "a=sendrecv"},
	   .never = {"a=rtpmap:111 *", "a=rtpmap:0 *", "a=rtpmap:13 *"}},
	 }},

	{.name = "Opus only, full-band agent: no band limit",
	 .audio_hz = 48000, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 111" CRLF OPUS(111),
	   .mp = {CODEC_OPUS, 111, 48000, 2, OUR_OPUS_FMTP, -1, -1, 0,
		  "127.0.0.2:40000", "127.0.0.2:40001", false, true, true, 0,
		  NULL},
	   .want = {"m=audio 30000 RTP/AVP 111", "a=fmtp:111 " OUR_OPUS_FMTP},
	   .never = {"a=fmtp:* *maxplaybackrate*"}},
	 }},

	{.name = "Opus + PCMU, Opus preferred: telephone-event/48000 with it",
	 .prefs = {CODEC_OPUS, CODEC_PCMU}, .prefc = 2, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 111 0 13 101 100"
	   CRLF OPUS(111) PCMU CN TE(101, 48000) TE(100, 8000),
	   .mp = {CODEC_OPUS, 111, 48000, 2, OUR_OPUS_FMTP, 101, -1, 0,
		  "127.0.0.2:40000", "127.0.0.2:40001", false, true, true, 0,
		  NULL},
	   .want = {"m=audio 30000 RTP/AVP 111 101",
		    "a=rtpmap:111 opus/48000/2",
		    "a=rtpmap:101 telephone-event/48000", "a=fmtp:101 0-16"},
	   .never = {"a=rtpmap:0 *", "a=rtpmap:13 *", "a=rtpmap:100 *"}},
	 }},

	{.name = "Opus + PCMU, PCMU preferred: telephone-event/8000 and CN",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 111 0 13 101 100"
	   CRLF OPUS(111) PCMU CN TE(101, 48000) TE(100, 8000),
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", 100, 13, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 0 13 100", "a=rtpmap:0 PCMU/8000",
		    "a=rtpmap:13 CN/8000",
		    "a=rtpmap:100 telephone-event/8000", "a=fmtp:100 0-16"},
	   .never = {"a=rtpmap:111 *", "a=rtpmap:101 *", "a=fmtp:111 *"}},
	 }},

	{.name = "no common codec (G.729, GSM): refused", .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 18 3 101" CRLF
	   "a=rtpmap:18 G729/8000" CRLF "a=rtpmap:3 GSM/8000" CRLF
	   TE(101, 8000), .err = ENOTSUP},
	 }},

	{.name = "no common codec by preference: Opus-only trunk, G.711 offer",
	 .prefs = {CODEC_OPUS}, .prefc = 1, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 8" CRLF PCMU PCMA,
	   .err = ENOTSUP},
	 }},

	/* found by fuzzing (tests/fuzz/corpus/sdp/crash-pt-over-127):
	   RTP has 7 bits for the payload type (RFC 3550 5.1) */
	{.name = "Opus at payload type 214: not a payload type; refused",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 214" CRLF
	   "a=rtpmap:214 opus/48000/2" CRLF, .err = ENOTSUP},
	 }},

	{.name = "telephone-event at payload type 200: ignored", .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 200" CRLF PCMU
	   TE(200, 8000), .mp = MP_PCMU(-1),
	   .want = {"m=audio 30000 RTP/AVP 0"},
	   .never = {"a=rtpmap:200 *", "a=fmtp:200 *"}},
	 }},

	{.name = "telephone-event only: refused", .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 101" CRLF
	   TE(101, 8000), .err = ENOTSUP},
	 }},

	/* -- ptime, RTCP, addresses --------------------------------------- */

	{.name = "ptime 30: taken for sending; we ask 20 (RFC 3264 6.1)",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 8" CRLF PCMA
	   "a=ptime:30" CRLF "a=maxptime:60" CRLF,
	   .mp = {CODEC_PCMA, 8, 8000, 1, "", -1, -1, 30, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 8", "a=ptime:20"},
	   .never = {"a=ptime:30"}},
	 }},

	{.name = "a=rtcp port, then with an address; rtcp-mux", .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF
	   "a=rtcp:40005" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40005", false, true, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 0"}, .never = {"a=rtcp-mux"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF
	   "a=rtcp:40007 IN IP4 127.0.0.3" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.3:40007", false, true, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 0"}, .never = {"a=rtcp-mux"}},
	  /* RFC 5761 5.1.1: rtcp-mux answered only when offered */
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF
	   "a=rtcp-mux" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40000", true, true, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 0", "a=rtcp-mux"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF,
	   .mp = MP_PCMU(-1),
	   .want = {"m=audio 30000 RTP/AVP 0"}, .never = {"a=rtcp-mux"}},
	 }},

	{.name = "media-level c= overrides the session's", .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40002 RTP/AVP 0" CRLF
	   "c=IN IP4 127.0.0.3" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.3:40002",
		  "127.0.0.3:40003", false, true, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 0"}},
	 }},

	{.name = "IPv6: c=IN IP6 both ways", .laddr = "[::1]:30000",
	 .steps = {
	  {.op = IN, .sdp = HEAD6 "m=audio 40000 RTP/AVP 0 101" CRLF PCMU
	   TE(101, 8000),
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", 101, -1, 0, "[::1]:40000",
		  "[::1]:40001", false, true, true, 0, NULL},
	   .want = {"o=- * * IN IP6 ::1", "c=IN IP6 ::1",
		    "m=audio 30000 RTP/AVP 0 101"},
	   .never = {"c=IN IP4 *", "o=* IN IP4 *"}},
	 }},

	{.name = "LF line ends are read (RFC 4566 5: parsers SHOULD)",
	 .steps = {
	  {.op = IN, .sdp = "v=0\no=carrier 1 1 IN IP4 127.0.0.2\ns=-\n"
	   "c=IN IP4 127.0.0.2\nt=0 0\nm=audio 40000 RTP/AVP 0\n",
	   .mp = MP_PCMU(-1), .want = {"m=audio 30000 RTP/AVP 0"}},
	 }},

	{.name = "audio after video: video refused with port 0, in its place",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "m=video 40010 RTP/AVP 96" CRLF
	   "a=rtpmap:96 H264/90000" CRLF "m=audio 40000 RTP/AVP 0" CRLF,
	   .mp = MP_PCMU(-1),
	   /* RFC 3264 6: as many m= lines, in the offer's order */
	   .want = {"m=video 0 RTP/AVP *", "m=audio 30000 RTP/AVP 0"},
	   .never = {"a=rtpmap:96 *"}},
	 }},

	{.name = "RFC 4475 offer: a refused video line's rtpmap without a "
		 "clock rate does not cost the audio",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 12" CRLF
	   "m=video 3227 RTP/AVP 31" CRLF "a=rtpmap:31 LPC" CRLF,
	   .mp = MP_PCMU(-1),
	   .want = {"m=audio 30000 RTP/AVP 0", "m=video 0 RTP/AVP *"},
	   .never = {"a=rtpmap:31 *", "a=rtpmap:12 *"}},
	 }},

	/* -- direction (RFC 3264 6.1, 8.4) -------------------------------- */

	{.name = "hold: a=sendonly answered a=recvonly, then unhold",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 101" CRLF PCMU
	   TE(101, 8000) "a=sendrecv" CRLF,
	   .mp = MP_PCMU(101),
	   .want = {"m=audio 30000 RTP/AVP 0 101", "a=sendrecv"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 101" CRLF PCMU
	   TE(101, 8000) "a=sendonly" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", 101, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, false, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 0 101", "a=recvonly"},
	   .never = {"a=sendrecv", "a=sendonly", "a=inactive"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 101" CRLF PCMU
	   TE(101, 8000),
	   .mp = MP_PCMU(101), .want = {"a=sendrecv"}},
	 }},

	{.name = "hold: a=inactive answered a=inactive", .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF
	   "a=inactive" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, false, false, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 0", "a=inactive"},
	   .never = {"a=sendrecv", "a=sendonly", "a=recvonly"}},
	 }},

	{.name = "a=recvonly answered a=sendonly", .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF
	   "a=recvonly" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, false, 0, NULL},
	   .want = {"a=sendonly"},
	   .never = {"a=sendrecv", "a=recvonly", "a=inactive"}},
	 }},

	{.name = "hold: session-level a=sendonly applies to the m= line",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "a=sendonly" CRLF
	   "m=audio 40000 RTP/AVP 0" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, false, true, 0, NULL},
	   .want = {"a=recvonly"}, .never = {"a=sendrecv"}},
	 }},

	{.name = "RFC 2543 hold, c=0.0.0.0: we send nothing (RFC 3264 8.4)",
	 .steps = {
	  {.op = IN, .sdp = "v=0" CRLF "o=carrier 1 1 IN IP4 127.0.0.2" CRLF
	   "s=-" CRLF "c=IN IP4 0.0.0.0" CRLF "t=0 0" CRLF
	   "m=audio 40000 RTP/AVP 0" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "0.0.0.0:40000",
		  "0.0.0.0:40001", false, false, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 0"}},
	 }},

	/* -- port 0 (RFC 3264 6, 8.2) ------------------------------------- */

	{.name = "port 0, the only stream: refused; an answer has port 0",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 0 RTP/AVP 0" CRLF PCMU,
	   .err = ENOTSUP, .encode = true,
	   .want = {"m=audio 0 RTP/AVP *"}, .never = {"m=audio 30000 *"}},
	 }},

	/* RFC 3264 8.2: a stream offered with port 0 is answered with port
	   0; media stops (no direction) and comes back with a port */
	{.name = "re-INVITE disabling audio (port 0) is answered with port 0",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 101" CRLF PCMU
	   TE(101, 8000),
	   .mp = MP_PCMU(101), .want = {"m=audio 30000 RTP/AVP 0 101"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 0 RTP/AVP 0" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", 101, -1, 0, "127.0.0.2:0",
		  "127.0.0.2:0", false, false, false, 0, NULL},
	   .want = {"m=audio 0 RTP/AVP *"}, .never = {"m=audio 30000 *"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40002 RTP/AVP 0 101" CRLF PCMU
	   TE(101, 8000),
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", 101, -1, 0, "127.0.0.2:40002",
		  "127.0.0.2:40003", false, true, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 0 101", "a=sendrecv"}},
	 }},

	{.name = "SRTP: port 0 keeps the keys; the stream comes back",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:1" C80 KEY_A CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, S80, KEY_A},
	   .want = {"a=crypto:1" C80 "*"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 0 RTP/SAVP 0" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:0",
		  "127.0.0.2:0", false, false, false, S80, KEY_A},
	   .want = {"m=audio 0 RTP/SAVP *"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:1" C80 KEY_A CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, S80, KEY_A},
	   .want = {"m=audio 30000 RTP/SAVP 0", "a=crypto:1" C80 "*"}},
	 }},

	/* libre reports a transport we do not take as port 0: that is
	   still a 488, the call as it was */
	{.name = "SRTP required: a re-INVITE with RTP/AVP is still refused",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:1" C80 KEY_A CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, S80, KEY_A},
	   .want = {"a=crypto:1" C80 "*"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF,
	   .err = ENOTSUP},
	 }},

	{.name = "re-INVITE keeps the codec: a PCMA-only re-offer is refused",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 8" CRLF PCMU PCMA,
	   .mp = MP_PCMU(-1),
	   .want = {"m=audio 30000 RTP/AVP 0"}, .never = {"a=rtpmap:8 *"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 8" CRLF PCMA,
	   .err = ENOTSUP},
	  /* the refused offer left nothing behind: a re-INVITE without
	     SDP gets our offer of the agreed codec and its companions */
	  {.op = OUT, .want = {"m=audio 30000 RTP/AVP *", "a=rtpmap:0 *",
			       "a=rtpmap:101 *", "a=rtpmap:13 *"},
	   .never = {"a=rtpmap:8 *", "a=rtpmap:111 *", "a=rtpmap:102 *"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40020 RTP/AVP 8 0" CRLF PCMA PCMU,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40020",
		  "127.0.0.2:40021", false, true, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP 0"}, .never = {"a=rtpmap:8 *"}},
	 }},

	/* -- unreadable ---------------------------------------------------- */

	{.name = "not SDP", .steps = {
	  {.op = IN, .sdp = "hello world" CRLF, .err = EBADMSG}}},
	{.name = "v=1", .steps = {
	  {.op = IN, .sdp = "v=1" CRLF "m=audio 40000 RTP/AVP 0" CRLF,
	   .err = EBADMSG}}},
	{.name = "bad c= line", .steps = {
	  {.op = IN, .sdp = "v=0" CRLF "c=IN IP9 x" CRLF
	   "m=audio 40000 RTP/AVP 0" CRLF, .err = EBADMSG}}},
	{.name = "last line without its end", .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0",
	   .err = EBADMSG}}},
	{.name = "no m= line: nothing acceptable", .steps = {
	  {.op = IN, .sdp = HEAD4, .err = ENOTSUP}}},

	/* -- SRTP (RFC 4568) ---------------------------------------------- */

	{.name = "SRTP optional, RTP/SAVP offered with a key: SRTP",
	 .srtp = CALLSDP_SRTP_OPTIONAL, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0 101" CRLF PCMU
	   TE(101, 8000) "a=crypto:1" C80 KEY_A CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", 101, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, S80, KEY_A},
	   .want = {"m=audio 30000 RTP/SAVP 0 101", "a=crypto:1" C80 "*"}},
	 }},

	{.name = "SRTP optional, RTP/AVP offered: plain RTP",
	 .srtp = CALLSDP_SRTP_OPTIONAL, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF,
	   .mp = MP_PCMU(-1),
	   .want = {"m=audio 30000 RTP/AVP 0"}, .never = {"a=crypto:*"}},
	 }},

	{.name = "SRTP optional, a=crypto on RTP/AVP: ignored",
	 .srtp = CALLSDP_SRTP_OPTIONAL, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF
	   "a=crypto:1" C80 KEY_A CRLF,
	   .mp = MP_PCMU(-1),
	   .want = {"m=audio 30000 RTP/AVP 0"}, .never = {"a=crypto:*"}},
	 }},

	{.name = "SRTP optional, RTP/SAVP without a=crypto: refused",
	 .srtp = CALLSDP_SRTP_OPTIONAL, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF,
	   .err = ENOTSUP},
	 }},

	{.name = "SRTP optional: SAVP, then a re-INVITE with AVP drops SRTP",
	 .srtp = CALLSDP_SRTP_OPTIONAL, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:3" C32 KEY_B CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, S32, KEY_B},
	   .want = {"m=audio 30000 RTP/SAVP 0", "a=crypto:3" C32 "*"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF,
	   .mp = MP_PCMU(-1),
	   .want = {"m=audio 30000 RTP/AVP 0"}, .never = {"a=crypto:*"}},
	 }},

	{.name = "SRTP required: first a=crypto unusable (AES-256), 2nd taken",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 8" CRLF PCMA
	   "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" KEY_A KEY_A
	   "AAAAAAAA" CRLF "a=crypto:2" C32 KEY_B CRLF
	   "a=crypto:3" C80 KEY_A CRLF,
	   .mp = {CODEC_PCMA, 8, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, S32, KEY_B},
	   /* RFC 4568 5.1.2: one a=crypto, the accepted tag and suite */
	   .want = {"m=audio 30000 RTP/SAVP 8", "a=crypto:2" C32 "*"},
	   .never = {"a=crypto:1 *", "a=crypto:3 *"}},
	 }},

	{.name = "SRTP required: keys with MKI or session parameters unusable",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:1" C80 KEY_A "|2^20|1:4" CRLF
	   "a=crypto:2" C80 KEY_A " UNENCRYPTED_SRTP" CRLF,
	   .err = ENOTSUP},
	 }},

	{.name = "SRTP required, RTP/SAVP without a=crypto: refused",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF PCMU,
	   .err = ENOTSUP},
	 }},

	{.name = "SRTP required, RTP/AVP offered (with a=crypto): refused",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0" CRLF
	   "a=crypto:1" C80 KEY_A CRLF, .err = ENOTSUP},
	 }},

	{.name = "SRTP none, RTP/SAVP offered: refused", .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:1" C80 KEY_A CRLF, .err = ENOTSUP},
	 }},

	{.name = "SRTP required, re-INVITE with a new key: our key stays",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:1" C80 KEY_A CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, S80, KEY_A},
	   .want = {"a=crypto:1" C80 "*"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:9" C80 KEY_B CRLF "a=sendonly" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, false, true, S80, KEY_B},
	   .want = {"a=crypto:9" C80 "*", "a=recvonly"},
	   .never = {"a=crypto:1 *"}},
	 }},

	/* -- offers we make (INVITE without SDP) --------------------------- */

	{.name = "our offer: all we can; PCMA answered; re-offer keeps PCMA",
	 .srtp = CALLSDP_SRTP_OPTIONAL, .audio_hz = 16000, .steps = {
	  {.op = OUT,
	   .want = {"m=audio 30000 RTP/AVP 0 8 111 101 102 13",
		    "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
		    "a=rtpmap:111 opus/48000/2",
		    "a=fmtp:111 maxplaybackrate=16000;"
		    "sprop-maxcapturerate=16000;minptime=10;useinbandfec=1",
		    "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16",
		    "a=rtpmap:102 telephone-event/48000", "a=fmtp:102 0-16",
		    "a=rtpmap:13 CN/8000", "a=sendrecv", "a=ptime:20"},
	   .never = {"a=crypto:*", "a=rtcp-mux"}},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/AVP 8 101" CRLF PCMA
	   TE(101, 8000) "a=ptime:20" CRLF,
	   .mp = {CODEC_PCMA, 8, 8000, 1, "", 101, -1, 20, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, 0, NULL}},
	  {.op = OUT,
	   .want = {"m=audio 30000 RTP/AVP 8 101 13", "a=rtpmap:8 PCMA/8000"},
	   .never = {"a=rtpmap:0 *", "a=rtpmap:111 *", "a=rtpmap:102 *"}},
	 }},

	{.name = "our offer: Opus first by preference; Opus answered",
	 .prefs = {CODEC_OPUS, CODEC_PCMA}, .prefc = 2, .audio_hz = 48000,
	 .steps = {
	  {.op = OUT,
	   .want = {"m=audio 30000 RTP/AVP 111 8 101 102 13",
		    "a=fmtp:111 " OUR_OPUS_FMTP},
	   .never = {"a=rtpmap:0 *"}},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/AVP 111 102" CRLF
	   "a=rtpmap:111 opus/48000/2" CRLF "a=fmtp:111 stereo=1" CRLF
	   TE(102, 48000) "a=rtcp-mux" CRLF,
	   .mp = {CODEC_OPUS, 111, 48000, 2, "stereo=1", 102, -1, 0,
		  "127.0.0.2:40000", "127.0.0.2:40000", true, true, true, 0,
		  NULL}},
	 }},

	/* RFC 3264 5.1: formats in order of preference, whatever order
	   libre was left in by the refused re-offer */
	{.name = "after a refused re-offer, our offer lists the codec first",
	 .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 8" CRLF PCMU PCMA,
	   .mp = MP_PCMU(-1), .want = {"m=audio 30000 RTP/AVP 0"}},
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 8" CRLF PCMA,
	   .err = ENOTSUP},
	  {.op = OUT, .want = {"m=audio 30000 RTP/AVP 0 101 13"}},
	 }},

	{.name = "re-offer after an offer in reverse order: codec first",
	 .prefs = {CODEC_OPUS, CODEC_PCMU}, .prefc = 2, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 13 101 0" CRLF CN
	   TE(101, 8000) PCMU,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", 101, 13, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, 0, NULL},
	   .want = {"m=audio 30000 RTP/AVP *"}},
	  {.op = OUT, .want = {"m=audio 30000 RTP/AVP 0 101 13"}},
	 }},

	/* RFC 3264 5.1/6.1: the answer's payload types are the ones the
	   answerer receives: we send with them, and take ours */
	{.name = "our offer answered with Opus at another PT: we send that PT",
	 .prefs = {CODEC_OPUS}, .prefc = 1, .audio_hz = 48000, .steps = {
	  {.op = OUT, .want = {"m=audio 30000 RTP/AVP 111 101 102 13"}},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/AVP 96 97" CRLF
	   "a=rtpmap:96 opus/48000/2" CRLF TE(97, 48000),
	   .mp = {CODEC_OPUS, 96, 48000, 2, "", 97, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, 0, NULL,
		  true, 111, 102, -1}},
	  /* a re-offer keeps our numbers (RFC 3264 8.3.2) */
	  {.op = OUT, .want = {"m=audio 30000 RTP/AVP 111 102",
			       "a=rtpmap:111 opus/48000/2",
			       "a=rtpmap:102 telephone-event/48000"}},
	 }},

	{.name = "our offer answered with telephone-event at 96, CN at 13",
	 .steps = {
	  {.op = OUT, .want = {"m=audio 30000 RTP/AVP 0 8 111 101 102 13"}},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 96 13" CRLF PCMU
	   TE(96, 8000) CN,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", 96, 13, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, 0, NULL,
		  true, 0, 101, 13}},
	  /* the peer re-offers with its numbers: the answer takes them,
	     and both ways use them */
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/AVP 0 96" CRLF PCMU
	   TE(96, 8000),
	   .mp = MP_PCMU(96),
	   .want = {"m=audio 30000 RTP/AVP 0 96",
		    "a=rtpmap:96 telephone-event/8000"},
	   .never = {"a=rtpmap:101 *"}},
	 }},

	{.name = "our offer with SRTP required; the peer's key answered",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = OUT,
	   .want = {"m=audio 30000 RTP/SAVP 0 8 111 101 102 13",
		    "a=crypto:1" C80 "*"}},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:1" C80 KEY_B CRLF "a=recvonly" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, false, S80, KEY_B}},
	 }},

	{.name = "our offer with SRTP required; answer without a key: refused",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = OUT, .want = {"m=audio 30000 RTP/SAVP *"}},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF,
	   .err = ENOTSUP},
	 }},

	/* RFC 4568 5.1.3: the offerer checks that the answer echoes an
	   offered tag and suite */
	{.name = "our SRTP offer answered with a tag and suite never offered",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = OUT, .want = {"a=crypto:1" C80 "*"}},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:7" C32 KEY_B CRLF, .err = ENOTSUP},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:1" C32 KEY_B CRLF, .err = ENOTSUP},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:2" C80 KEY_B CRLF, .err = ENOTSUP},
	 }},

	{.name = "SRTP re-offer after an offer in: the answer echoes tag 3",
	 .srtp = CALLSDP_SRTP_REQUIRED, .steps = {
	  {.op = IN, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:3" C32 KEY_A CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, S32, KEY_A},
	   .want = {"a=crypto:3" C32 "*"}},
	  {.op = OUT, .want = {"a=crypto:3" C32 "*"}},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:1" C80 KEY_B CRLF, .err = ENOTSUP},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/SAVP 0" CRLF
	   "a=crypto:3" C32 KEY_B CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "127.0.0.2:40000",
		  "127.0.0.2:40001", false, true, true, S32, KEY_B}},
	 }},

	{.name = "our offer; answered with port 0 or no common codec: refused",
	 .steps = {
	  {.op = OUT, .want = {"m=audio 30000 RTP/AVP 0 8 111 101 102 13"}},
	  {.op = ANS, .sdp = HEAD4 "m=audio 0 RTP/AVP 0" CRLF,
	   .err = ENOTSUP},
	  {.op = ANS, .sdp = HEAD4 "m=audio 40000 RTP/AVP 18" CRLF
	   "a=rtpmap:18 G729/8000" CRLF, .err = ENOTSUP},
	 }},

	{.name = "our offer over IPv6; answered on IPv6",
	 .laddr = "[::1]:30000", .prefs = {CODEC_PCMU}, .prefc = 1, .steps = {
	  {.op = OUT,
	   .want = {"o=- * * IN IP6 ::1", "c=IN IP6 ::1",
		    "m=audio 30000 RTP/AVP 0 101 102 13"},
	   .never = {"a=rtpmap:111 *", "a=rtpmap:8 *"}},
	  {.op = ANS, .sdp = HEAD6 "m=audio 40000 RTP/AVP 0" CRLF,
	   .mp = {CODEC_PCMU, 0, 8000, 1, "", -1, -1, 0, "[::1]:40000",
		  "[::1]:40001", false, true, true, 0, NULL}},
	 }},

	/* -- suspected faults (.xfail): must fail until callsdp.c is fixed;
	   none known ----------------------------------------------------- */
};


/* -- checks of our SDP ------------------------------------------------- */

/* shell-style match, `*` only */
static bool glob(const char *pat, const char *s, size_t n)
{
	if (!*pat)
		return n == 0;
	if (*pat == '*') {
		for (size_t i = 0; i <= n; i++) {
			if (glob(pat + 1, s + i, n - i))
				return true;
		}
		return false;
	}
	return n && *pat == *s && glob(pat + 1, s + 1, n - 1);
}

struct lines {
	struct pl l[64];
	size_t n;
};

static void split(struct lines *ls, const char *txt, const char *name)
{
	const char *p = txt;

	ls->n = 0;
	while (*p) {
		const char *e = strstr(p, CRLF);

		if (!e)
			TEST_FAIL("%s: no CRLF at the end:\n%s", name, txt);
		if (memchr(p, '\n', (size_t)(e - p)))
			TEST_FAIL("%s: bare LF in SDP:\n%s", name, txt);
		if (ls->n == sizeof(ls->l) / sizeof(ls->l[0]))
			TEST_FAIL("%s: SDP too long", name);
		ls->l[ls->n].p = p;
		ls->l[ls->n].l = (size_t)(e - p);
		ls->n++;
		p = e + 2;
	}
}

static const struct pl *find(const struct lines *ls, const char *pat)
{
	for (size_t i = 0; i < ls->n; i++) {
		if (glob(pat, ls->l[i].p, ls->l[i].l))
			return &ls->l[i];
	}
	return NULL;
}

static size_t count(const struct lines *ls, const char *pat)
{
	size_t c = 0;

	for (size_t i = 0; i < ls->n; i++)
		c += glob(pat, ls->l[i].p, ls->l[i].l);
	return c;
}

struct state {
	const struct tcase *tc;
	int step;
	struct sa laddr;
	long ver;                 /**< last o= version, -1: none yet */
	bool have_tx;
	uint8_t tx_key[SRTPX_KEY_LEN];   /**< our key, the whole call    */
	bool offered_key;
	uint8_t offer_key[SRTPX_KEY_LEN]; /**< in our last offer          */
	unsigned offer_tag;
};

#define SFAIL(st, txt, fmt, ...)					\
	do {								\
		fprintf(stderr, "--- our SDP:\n%s---\n", txt);		\
		TEST_FAIL("%s, step %d: " fmt, (st)->tc->name,		\
			  (st)->step, ##__VA_ARGS__);			\
	} while (0)

static bool is_dir(const struct pl *l)
{
	return !pl_strcmp(l, "a=sendrecv") || !pl_strcmp(l, "a=sendonly") ||
		!pl_strcmp(l, "a=recvonly") || !pl_strcmp(l, "a=inactive");
}

/* form: v=, o=, s=, c=, t= from laddr; one direction per m= section
   (none in a rejected one: port 0, no attributes) */
static void check_form(struct state *st, const struct lines *ls,
		       const char *txt)
{
	int ipv = sa_af(&st->laddr) == AF_INET ? 4 : 6;
	char line[128], want[128];
	unsigned long id, ver, port;
	int ndir = 0, nm = 0;
	bool rejected = false;

	if (ls->n < 6 || pl_strcmp(&ls->l[0], "v=0") ||
	    pl_strcmp(&ls->l[2], "s=-"))
		SFAIL(st, txt, "v=0 / s=- not in place");

	pl_strcpy(&ls->l[1], line, sizeof(line));
	if (sscanf(line, "o=- %lu %lu", &id, &ver) != 2)
		SFAIL(st, txt, "o= line");
	re_snprintf(want, sizeof(want), "o=- %lu %lu IN IP%d %j", id, ver,
		    ipv, &st->laddr);
	if (strcmp(line, want))
		SFAIL(st, txt, "o= line is not \"%s\"", want);
	if (st->ver >= 0 && (long)ver != st->ver + 1)
		SFAIL(st, txt, "o= version %lu after %ld", ver, st->ver);
	st->ver = (long)ver;

	re_snprintf(want, sizeof(want), "c=IN IP%d %j", ipv, &st->laddr);
	if (pl_strcmp(&ls->l[3], want) || pl_strcmp(&ls->l[4], "t=0 0"))
		SFAIL(st, txt, "session c=/t= not \"%s\"", want);

	for (size_t i = 5; i <= ls->n; i++) {
		const struct pl *l = &ls->l[i];
		bool mline = i < ls->n && l->l > 2 && l->p[0] == 'm' &&
			l->p[1] == '=';

		if (i == ls->n || mline) {
			if (nm && !rejected && ndir != 1)
				SFAIL(st, txt, "%d direction attributes in "
				      "m= section %d", ndir, nm);
			if (i == ls->n)
				break;
			nm++;
			ndir = 0;
			pl_strcpy(l, line, sizeof(line));
			rejected = sscanf(line, "m=%*s %lu", &port) == 1 &&
				port == 0;
			continue;
		}
		if (!nm)
			continue;
		if (rejected)
			SFAIL(st, txt, "a line after a rejected m=");
		ndir += is_dir(l);
	}

	if (count(ls, "m=audio *") != 1)
		SFAIL(st, txt, "not one m=audio line");
}

static void check_lines(struct state *st, const struct step *s,
			const struct lines *ls, const char *txt)
{
	for (size_t i = 0; i < 16 && s->want[i]; i++) {
		if (!find(ls, s->want[i]))
			SFAIL(st, txt, "no line \"%s\"", s->want[i]);
	}
	for (size_t i = 0; i < 8 && s->never[i]; i++) {
		const struct pl *l = find(ls, s->never[i]);

		if (l)
			SFAIL(st, txt, "a line matches \"%s\"", s->never[i]);
	}
}

/* our a=crypto: exactly one in an RTP/SAVP section, none otherwise (nor
   in a section at port 0, which has no attributes) */
static bool our_crypto(struct state *st, const struct lines *ls,
		       const char *txt, struct srtpx_crypto *c)
{
	const struct pl *l;
	char val[160];
	size_t n = count(ls, "a=crypto:*");

	if (!find(ls, "m=audio * RTP/SAVP *") || find(ls, "m=audio 0 *")) {
		if (n)
			SFAIL(st, txt, "a=crypto without RTP/SAVP");
		return false;
	}
	if (n != 1)
		SFAIL(st, txt, "%zu a=crypto lines", n);

	l = find(ls, "a=crypto:*");
	pl_strcpy(&(struct pl){l->p + 9, l->l - 9}, val, sizeof(val));
	if (srtpx_crypto_decode(c, val))
		SFAIL(st, txt, "our a=crypto does not decode");
	return true;
}

static void tx_key_same(struct state *st, const uint8_t *key)
{
	static const uint8_t zero[SRTPX_KEY_LEN];

	if (!memcmp(key, zero, SRTPX_KEY_LEN))
		TEST_FAIL("%s, step %d: our key is all zero", st->tc->name,
			  st->step);
	if (st->have_tx && memcmp(key, st->tx_key, SRTPX_KEY_LEN))
		TEST_FAIL("%s, step %d: our key changed within the call",
			  st->tc->name, st->step);
	memcpy(st->tx_key, key, SRTPX_KEY_LEN);
	st->have_tx = true;
}

/* our SDP: form, lines, and our key */
static void check_ours(struct state *st, const struct step *s,
		       struct mbuf *mb, const struct media_params *mp)
{
	struct srtpx_crypto c;
	struct lines ls;
	char *txt;

	TEST_ERR(mbuf_strdup(mb, &txt, mbuf_get_left(mb)), 0);
	if (getenv("CB_TEST_VERBOSE"))
		printf("--- %s, step %d:\n%s", st->tc->name, st->step, txt);

	split(&ls, txt, st->tc->name);
	check_form(st, &ls, txt);
	check_lines(st, s, &ls, txt);

	if (our_crypto(st, &ls, txt, &c)) {
		tx_key_same(st, c.key);
		if (s->op == OUT) {
			memcpy(st->offer_key, c.key, SRTPX_KEY_LEN);
			st->offer_tag = c.tag;
			st->offered_key = true;
		}
		else if (mp && (int)c.suite != mp->srtp_suite)
			SFAIL(st, txt, "a=crypto suite %d, agreed %d",
			      c.suite, mp->srtp_suite);
		if (mp && !s->err &&
		    memcmp(c.key, mp->srtp_tx_key, SRTPX_KEY_LEN))
			SFAIL(st, txt, "a=crypto key is not the tx key");
	}

	mem_deref(txt);
}


/* -- the agreed media_params ------------------------------------------- */

static void check_mp(struct state *st, const struct want_mp *w,
		     const struct media_params *mp)
{
	const char *name = st->tc->name;
	char a[64];

#define MP_EQ(f, v)							\
	do {								\
		if ((long long)mp->f != (long long)(v))			\
			TEST_FAIL("%s, step %d: %s %lld, expected %lld", \
				  name, st->step, #f,			\
				  (long long)mp->f, (long long)(v));	\
	} while (0)

	MP_EQ(codec, w->codec);
	MP_EQ(pt, w->pt);
	MP_EQ(srate, w->srate);
	MP_EQ(ch, w->ch);
	MP_EQ(telev_pt, w->telev_pt);
	MP_EQ(cn_pt, w->cn_pt);
	MP_EQ(ptime, w->ptime);
	MP_EQ(rtcp_mux, w->mux);
	MP_EQ(dir.send, w->send);
	MP_EQ(dir.recv, w->recv);
	MP_EQ(srtp_suite, w->srtp);
	MP_EQ(rx_pt, w->rx_own ? w->rx_pt : w->pt);
	MP_EQ(rx_telev_pt, w->rx_own ? w->rx_telev_pt : w->telev_pt);
	MP_EQ(rx_cn_pt, w->rx_own ? w->rx_cn_pt : w->cn_pt);
#undef MP_EQ

	if (strcmp(mp->fmtp, w->fmtp))
		TEST_FAIL("%s, step %d: fmtp \"%s\", expected \"%s\"", name,
			  st->step, mp->fmtp, w->fmtp);

	re_snprintf(a, sizeof(a), "%J", &mp->raddr);
	if (strcmp(a, w->raddr))
		TEST_FAIL("%s, step %d: raddr %s, expected %s", name,
			  st->step, a, w->raddr);
	re_snprintf(a, sizeof(a), "%J", &mp->raddr_rtcp);
	if (strcmp(a, w->rtcp))
		TEST_FAIL("%s, step %d: RTCP %s, expected %s", name,
			  st->step, a, w->rtcp);

	if (w->srtp) {
		uint8_t key[SRTPX_KEY_LEN + 4];
		size_t len = sizeof(key);

		TEST_ERR(base64_decode(w->rx_key, strlen(w->rx_key), key,
				       &len), 0);
		TEST_EQ(len, SRTPX_KEY_LEN);
		if (memcmp(mp->srtp_rx_key, key, SRTPX_KEY_LEN))
			TEST_FAIL("%s, step %d: rx key is not the peer's",
				  name, st->step);
		if (!memcmp(mp->srtp_tx_key, key, SRTPX_KEY_LEN))
			TEST_FAIL("%s, step %d: tx key is the peer's", name,
				  st->step);
		tx_key_same(st, mp->srtp_tx_key);
	}
}


/* -- running a case ---------------------------------------------------- */

static struct mbuf *text(const char *s)
{
	struct mbuf *mb = mbuf_alloc(strlen(s) + 1);

	TEST_ASSERT(mb != NULL);
	TEST_ERR(mbuf_write_str(mb, s), 0);
	mb->pos = 0;
	return mb;
}

static void run_step(struct state *st, struct callsdp *cs,
		     const struct step *s)
{
	struct media_params mp;
	struct mbuf *mb = NULL, *out = NULL;
	int err;

	memset(&mp, 0xa5, sizeof(mp));

	switch (s->op) {

	case IN:
	case ANS:
		mb = text(s->sdp);
		err = s->op == IN ? callsdp_offer_recv(cs, mb, &mp)
			: callsdp_answer_recv(cs, mb, &mp);
		if (err != s->err)
			TEST_FAIL("%s, step %d: err %d (%s), expected %d",
				  st->tc->name, st->step, err, strerror(err),
				  s->err);
		if (!err)
			check_mp(st, &s->mp, &mp);

		if (!err && s->op == ANS && mp.srtp_suite) {
			/* we encrypt with the key we offered */
			TEST_ASSERT(st->offered_key);
			if (memcmp(mp.srtp_tx_key, st->offer_key,
				   SRTPX_KEY_LEN))
				TEST_FAIL("%s, step %d: tx key is not the "
					  "one offered", st->tc->name,
					  st->step);
		}
		if (s->op == IN && (!err || s->encode)) {
			TEST_ERR(callsdp_encode(cs, &out, false), 0);
			check_ours(st, s, out, err ? NULL : &mp);
		}
		break;

	case OUT:
		TEST_ERR(callsdp_encode(cs, &out, true), 0);
		check_ours(st, s, out, NULL);
		break;

	default:
		TEST_FAIL("bad op");
	}

	mem_deref(mb);
	mem_deref(out);
}

static int cur_step;      /**< for run_xfail()            */

static void run(const struct tcase *tc)
{
	struct state st;
	struct callsdp *cs = NULL;
	const char *laddr;

	memset(&st, 0, sizeof(st));
	st.tc = tc;
	st.ver = -1;
	laddr = tc->laddr ? tc->laddr : "127.0.0.1:30000";
	TEST_ERR(sa_decode(&st.laddr, laddr, strlen(laddr)), 0);

	TEST_ERR(callsdp_alloc(&cs, &st.laddr, tc->prefc ? tc->prefs : NULL,
			       tc->prefc, tc->srtp, tc->audio_hz), 0);

	for (int i = 0; i < 4 && tc->steps[i].op != END; i++) {
		st.step = cur_step = i + 1;
		run_step(&st, cs, &tc->steps[i]);
	}

	mem_deref(cs);
}

/* a failing check in the child exits with 10 + the step it was in */
static void child_exit(void)
{
	_exit(10 + cur_step);
}

/* a case marked xfail must fail, and at its step: run in a child */
static void run_xfail(const struct tcase *tc)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	TEST_ASSERT(pid >= 0);
	if (pid == 0) {
		(void)atexit(child_exit);
		run(tc);
		_exit(0);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TEST_FAIL("XPASS \"%s\": fixed? remove its xfail mark (%s)",
			  tc->name, tc->xfail);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 10 + tc->xfail_step)
		TEST_FAIL("\"%s\" failed, but not (only) at step %d: status "
			  "0x%x", tc->name, tc->xfail_step, status);
	printf("xfail (as expected, step %d): %s\n    %s\n", tc->xfail_step,
	       tc->name, tc->xfail);
}


/* -- arguments and the codec query ------------------------------------- */

static void test_api(void)
{
	static const enum codec_id bad[] = {CODEC_NONE, CODEC_COUNT};
	struct callsdp *cs = NULL;
	struct media_params mp;
	struct mbuf *mb, *out = NULL;
	struct sa la;

	TEST_ERR(sa_set_str(&la, "127.0.0.1", 30000), 0);
	TEST_ERR(callsdp_alloc(NULL, &la, NULL, 0, 0, 0), EINVAL);
	TEST_ERR(callsdp_alloc(&cs, NULL, NULL, 0, 0, 0), EINVAL);
	TEST_ERR(callsdp_alloc(&cs, &la, bad, 2, 0, 0), EINVAL);
	TEST_ASSERT(cs == NULL);

	TEST_ERR(callsdp_alloc(&cs, &la, NULL, 0, CALLSDP_SRTP_NONE, 0), 0);
	mb = text(HEAD4 "m=audio 40000 RTP/AVP 8 0" CRLF);
	TEST_ERR(callsdp_offer_recv(NULL, mb, &mp), EINVAL);
	TEST_ERR(callsdp_offer_recv(cs, NULL, &mp), EINVAL);
	TEST_ERR(callsdp_offer_recv(cs, mb, NULL), EINVAL);
	TEST_ERR(callsdp_answer_recv(NULL, mb, &mp), EINVAL);
	TEST_ERR(callsdp_encode(NULL, &out, true), EINVAL);
	TEST_ERR(callsdp_encode(cs, NULL, true), EINVAL);

	/* what the peer offered, before the answer narrows it down */
	TEST_ERR(callsdp_offer_recv(cs, mb, &mp), 0);
	TEST_EQ(mp.codec, CODEC_PCMU);
	TEST_ASSERT(!callsdp_codec_offered(cs, CODEC_OPUS));
	TEST_ASSERT(callsdp_codec_offered(cs, CODEC_PCMU));
	TEST_ASSERT(!callsdp_codec_offered(NULL, CODEC_PCMU));

	mem_deref(mb);
	mem_deref(cs);
}

/* the gateway on both ends: keys and payload types must cross over */
static void test_loop(void)
{
	struct callsdp *a = NULL, *b = NULL;
	struct media_params ma, mb_;
	struct mbuf *offer = NULL, *answer = NULL;
	struct sa la, lb;
	char *t;

	TEST_ERR(sa_set_str(&la, "127.0.0.1", 30000), 0);
	TEST_ERR(sa_set_str(&lb, "127.0.0.2", 40000), 0);
	TEST_ERR(callsdp_alloc(&a, &la, (enum codec_id[]){CODEC_OPUS,
			       CODEC_PCMU}, 2, CALLSDP_SRTP_REQUIRED, 16000),
		 0);
	TEST_ERR(callsdp_alloc(&b, &lb, NULL, 0, CALLSDP_SRTP_OPTIONAL, 0),
		 0);

	TEST_ERR(callsdp_encode(a, &offer, true), 0);
	TEST_ERR(callsdp_offer_recv(b, offer, &mb_), 0);
	TEST_ERR(callsdp_encode(b, &answer, false), 0);
	TEST_ERR(callsdp_answer_recv(a, answer, &ma), 0);

	/* b prefers PCMU, a offered it */
	TEST_EQ(ma.codec, CODEC_PCMU);
	TEST_EQ(mb_.codec, CODEC_PCMU);
	TEST_EQ(ma.telev_pt, 101);
	TEST_EQ(mb_.telev_pt, 101);
	TEST_EQ(ma.cn_pt, 13);
	TEST_EQ(ma.srtp_suite, S80);
	TEST_EQ(mb_.srtp_suite, S80);
	TEST_ASSERT(!memcmp(ma.srtp_tx_key, mb_.srtp_rx_key, SRTPX_KEY_LEN));
	TEST_ASSERT(!memcmp(mb_.srtp_tx_key, ma.srtp_rx_key, SRTPX_KEY_LEN));
	TEST_ASSERT(memcmp(ma.srtp_tx_key, mb_.srtp_tx_key, SRTPX_KEY_LEN));
	TEST_ASSERT(sa_cmp(&ma.raddr, &lb, SA_ALL));
	TEST_ASSERT(sa_cmp(&mb_.raddr, &la, SA_ALL));

	answer->pos = 0;
	TEST_ERR(mbuf_strdup(answer, &t, mbuf_get_left(answer)), 0);
	TEST_ASSERT(strstr(t, "m=audio 40000 RTP/SAVP 0 101 13\r\n"));
	mem_deref(t);

	mem_deref(offer);
	mem_deref(answer);
	mem_deref(a);
	mem_deref(b);
}


int main(void)
{
	size_t n = sizeof(cases) / sizeof(cases[0]), nx = 0;

	TEST_ERR(libre_init(), 0);

	test_api();
	test_loop();

	for (size_t i = 0; i < n; i++) {
		if (cases[i].xfail) {
			run_xfail(&cases[i]);
			nx++;
		}
		else {
			run(&cases[i]);
		}
	}

	printf("%zu cases passed, %zu expected failures\n", n - nx, nx);

	libre_close();

	return 0;
}
