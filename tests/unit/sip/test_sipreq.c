/**
 * @file test_sipreq.c  The checks every request passes (gateway/sipreq.c)
 *
 * A table of requests, each decoded by libre's sip_msg_decode() as the
 * transport would (with a Content-Length of its body added), and the
 * answer sipreq_verdict() gives it (none: the request goes on to the
 * dialogs). Besides RFC 4475's broken requests
 * (integ_sip_torture sends all 49 on the wire), what carriers send must
 * pass: Accept with wildcards or parameters, compact header names, quoted
 * display names with escaped quotes, the largest CSeq and Max-Forwards.
 */
#include <string.h>
#include "cb_re.h"
#include "sipgw_int.h"
#include "sipreply.h"
#include "test.h"

#define CRLF "\r\n"
#define SDP "v=0" CRLF "o=- 1 1 IN IP4 127.0.0.2" CRLF "s=-" CRLF \
	"c=IN IP4 127.0.0.2" CRLF "t=0 0" CRLF "m=audio 40000 RTP/AVP 0" CRLF

/* the start line and Via; then the headers of the case */
#define INV "INVITE sip:+14155550100@127.0.0.1 SIP/2.0" CRLF \
	"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-1" CRLF
#define OPT "OPTIONS sip:+14155550100@127.0.0.1 SIP/2.0" CRLF \
	"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-1" CRLF
#define DLG "To: <sip:+14155550100@127.0.0.1>" CRLF \
	"From: \"Carrier\" <sip:+14155550199@127.0.0.2>;tag=a1" CRLF \
	"Call-ID: c1@127.0.0.2" CRLF
#define CSEQ_INV "CSeq: 1 INVITE" CRLF
#define MF "Max-Forwards: 70" CRLF
#define BODY_HDRS "Content-Type: application/sdp" CRLF

#define GOES_ON SIPREPLY_COUNT

struct tcase {
	const char *name;
	const char *head;     /**< start line, headers but Content-Length */
	const char *body;
	enum sipreply want;
};

static const struct tcase cases[] = {
	{"a plain INVITE goes on",
	 INV DLG CSEQ_INV MF BODY_HDRS, SDP, GOES_ON},
	{"compact names, no Max-Forwards (RFC 2543) go on",
	 INV "t: <sip:+14155550100@127.0.0.1>" CRLF
	 "f: <sip:a@127.0.0.2>;tag=1" CRLF "i: c2" CRLF CSEQ_INV
	 "c: application/sdp" CRLF, SDP, GOES_ON},
	{"Accept: application/sdp;q=0.5, text/html",
	 INV DLG CSEQ_INV MF BODY_HDRS
	 "Accept: text/html, application/sdp;q=0.5" CRLF, SDP, GOES_ON},
	{"Accept: application/*", INV DLG CSEQ_INV MF BODY_HDRS
	 "Accept: application/*" CRLF, SDP, GOES_ON},
	{"Accept: */*", INV DLG CSEQ_INV MF BODY_HDRS "Accept: */*" CRLF,
	 SDP, GOES_ON},
	{"an empty Accept counts as none", INV DLG CSEQ_INV MF BODY_HDRS
	 "Accept:" CRLF, SDP, GOES_ON},
	{"Accept without SDP: 406 (RFC 4475 sdp01)",
	 INV DLG CSEQ_INV MF BODY_HDRS "Accept: text/nobodyKnowsThis" CRLF,
	 SDP, SIPREPLY_SDP_NOT_ACCEPTED},
	{"Accept twice, SDP in the second", INV DLG CSEQ_INV MF BODY_HDRS
	 "Accept: text/plain" CRLF "Accept: APPLICATION/SDP" CRLF, SDP,
	 GOES_ON},
	{"OPTIONS with Accept: text/plain is answered 200",
	 OPT DLG "CSeq: 1 OPTIONS" CRLF MF "Accept: text/plain" CRLF, "",
	 SIPREPLY_OPTIONS_OK},
	{"INVITE body not SDP: 415 (RFC 4475 invut)",
	 INV DLG CSEQ_INV MF "Content-Type: application/unknownformat" CRLF,
	 "<audio/>", SIPREPLY_BODY_NOT_SDP},
	{"INVITE without body goes on", INV DLG CSEQ_INV MF, "", GOES_ON},
	{"no Call-ID: 400 (RFC 4475 insuf)",
	 INV "To: <sip:a@b>" CRLF "From: <sip:c@d>;tag=1" CRLF CSEQ_INV MF,
	 "", SIPREPLY_BAD_REQUEST},
	{"no From: 400", INV "To: <sip:a@b>" CRLF "Call-ID: x" CRLF
	 CSEQ_INV MF, "", SIPREPLY_BAD_REQUEST},
	{"Call-ID twice: 400 (RFC 4475 multi01)",
	 INV DLG "Call-ID: c9@127.0.0.2" CRLF CSEQ_INV MF, "",
	 SIPREPLY_BAD_REQUEST},
	{"To twice: 400", INV DLG "To: <sip:x@y>" CRLF CSEQ_INV MF, "",
	 SIPREPLY_BAD_REQUEST},
	{"Max-Forwards twice: 400", INV DLG CSEQ_INV MF MF, "",
	 SIPREPLY_BAD_REQUEST},
	{"Content-Length twice (l and long): 400 (RFC 4475 mcl01)",
	 OPT DLG "CSeq: 1 OPTIONS" CRLF MF "l: 0" CRLF, "",
	 SIPREPLY_BAD_REQUEST},
	{"Via twice is fine", INV "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK2"
	 CRLF DLG CSEQ_INV MF, "", GOES_ON},
	{"CSeq 2**31 - 1 goes on", INV DLG "CSeq: 2147483647 INVITE" CRLF MF,
	 "", GOES_ON},
	{"CSeq 2**31: 400 (RFC 3261 8.1.1.5)",
	 INV DLG "CSeq: 2147483648 INVITE" CRLF MF, "",
	 SIPREPLY_BAD_REQUEST},
	{"CSeq wrapping 2**64: 400 (RFC 4475 scalar02)",
	 INV DLG "CSeq: 36893488147419103232 INVITE" CRLF MF, "",
	 SIPREPLY_BAD_REQUEST},
	{"Max-Forwards 255 goes on", INV DLG CSEQ_INV "Max-Forwards: 255"
	 CRLF, "", GOES_ON},
	{"Max-Forwards 300: 400", INV DLG CSEQ_INV "Max-Forwards: 300" CRLF,
	 "", SIPREPLY_BAD_REQUEST},
	{"Max-Forwards 0: 483", INV DLG CSEQ_INV "Max-Forwards: 0" CRLF, "",
	 SIPREPLY_TOO_MANY_HOPS},
	{"escaped quote in a display name goes on",
	 INV "To: \"J. \\\"the\\\" User\" <sip:+14155550100@x>" CRLF
	 "From: <sip:a@b>;tag=1" CRLF "Call-ID: q" CRLF CSEQ_INV MF, "",
	 GOES_ON},
	{"unterminated quote in To: 400 (RFC 4475 quotbal)",
	 INV "To: \"Mr. J. User <sip:j.user@example.com>" CRLF
	 "From: <sip:a@b>;tag=1" CRLF "Call-ID: q" CRLF CSEQ_INV MF, "",
	 SIPREPLY_BAD_REQUEST},
	{"Contact with ?headers outside <>: 400 (RFC 4475 regbadct)",
	 INV DLG CSEQ_INV MF "Contact: sip:u@example.com?Route=%3Csip:e%3E"
	 CRLF, "", SIPREPLY_BAD_REQUEST},
	{"Contact with ?headers inside <> goes on",
	 INV DLG CSEQ_INV MF "Contact: <sip:u@example.com?Subject=x>" CRLF,
	 "", GOES_ON},
	{"Request-URI with headers: 400 (RFC 4475 escruri)",
	 "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0"
	 CRLF "Via: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK3" CRLF DLG CSEQ_INV
	 MF, "", SIPREPLY_BAD_REQUEST},
	{"CSeq method not the request's: 400",
	 INV DLG "CSeq: 1 OPTIONS" CRLF MF, "", SIPREPLY_BAD_REQUEST},
	{"REGISTER: 405", "REGISTER sip:127.0.0.1 SIP/2.0" CRLF
	 "Via: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK4" CRLF DLG
	 "CSeq: 1 REGISTER" CRLF MF, "", SIPREPLY_METHOD_NOT_ALLOWED},
	{"Require: 420", INV DLG CSEQ_INV MF "Require: 100rel" CRLF, "",
	 SIPREPLY_BAD_EXTENSION},
	{"a broken request with Require: 400 first",
	 INV DLG CSEQ_INV MF MF "Require: 100rel" CRLF, "",
	 SIPREPLY_BAD_REQUEST},
};


static void run(const struct tcase *tc)
{
	struct sip_msg *msg = NULL;
	struct mbuf *mb = mbuf_alloc(1024);
	enum sipreply got;

	TEST_ASSERT(mb != NULL);
	TEST_ERR(mbuf_write_str(mb, tc->head), 0);
	TEST_ERR(mbuf_printf(mb, "Content-Length: %zu" CRLF CRLF,
			     strlen(tc->body)), 0);
	TEST_ERR(mbuf_write_str(mb, tc->body), 0);
	mb->pos = 0;

	if (sip_msg_decode(&msg, mb))
		TEST_FAIL("%s: libre does not decode it", tc->name);
	msg->tp = SIP_TRANSP_UDP;

	got = sipreq_verdict(msg);
	if (got != tc->want)
		TEST_FAIL("%s: answer %u, expected %u", tc->name,
			  got == GOES_ON ? 0 : sipreply_scode(got),
			  tc->want == GOES_ON ? 0 : sipreply_scode(tc->want));

	mem_deref(msg);
	mem_deref(mb);
}


int main(void)
{
	TEST_ERR(libre_init(), 0);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		run(&cases[i]);

	libre_close();
	printf("%zu requests\n", ARRAY_SIZE(cases));

	return 0;
}
