/**
 * @file fuzz_sdp.c  Fuzz target: a call's SDP offer/answer
 *                   (gateway/sip/callsdp.c on libre's SDP)
 *
 * Input: two bytes of set-up, then up to four SDP bodies separated by NUL
 * bytes, the peer's side of one call.
 *   byte 0  bits 0-1 media encryption (none, optional, required);
 *           bits 2-3 the agent's rate (full band, 8, 16, 24 kHz);
 *           bit 4 codec preference Opus first, else PCMU, PCMA;
 *           bit 5 IPv6 local address
 *   byte 1  bit i: body i is the peer's answer to our offer
 *           (callsdp_encode(offer) then callsdp_answer_recv), else the
 *           peer's offer (callsdp_offer_recv then our answer)
 * Properties: an agreed codec is one of ours, with a payload type and
 * clock rate; the SRTP keys we send and take are set exactly when SRTP
 * is agreed; a required SRTP is never given up.
 */
#include <stdlib.h>
#include <string.h>
#include "cb_re.h"
#include "callsdp.h"
#include "srtpx.h"
#include "fuzz.h"

enum { BODIES_MAX = 4 };


static void check_result(const struct media_params *mp,
			 enum callsdp_srtp srtp)
{
	FUZZ_ASSERT(mp->codec == CODEC_PCMU || mp->codec == CODEC_PCMA ||
		    mp->codec == CODEC_OPUS);
	FUZZ_ASSERT(mp->pt >= 0 && mp->pt <= 127);
	FUZZ_ASSERT(mp->srate == codec_clock_rate(mp->codec));
	FUZZ_ASSERT(mp->telev_pt >= -1 && mp->telev_pt <= 127);
	FUZZ_ASSERT(mp->cn_pt >= -1 && mp->cn_pt <= 127);
	FUZZ_ASSERT(memchr(mp->fmtp, '\0', sizeof(mp->fmtp)) != NULL);
	if (srtp == CALLSDP_SRTP_REQUIRED)
		FUZZ_ASSERT(mp->srtp_suite != SRTPX_NONE);
	if (srtp == CALLSDP_SRTP_NONE)
		FUZZ_ASSERT(mp->srtp_suite == SRTPX_NONE);
}


/* one step of the call: body is the peer's offer, or its answer */
static void step(struct callsdp *cs, const uint8_t *body, size_t len,
		 bool answer, enum callsdp_srtp srtp)
{
	struct media_params mp;
	struct mbuf *mb = NULL, *ours = NULL;
	int err;

	if (answer && callsdp_encode(cs, &ours, true))
		return;
	ours = mem_deref(ours);

	mb = mbuf_alloc(len ? len : 1);
	if (!mb)
		return;
	(void)mbuf_write_mem(mb, body, len);
	mb->pos = 0;

	memset(&mp, 0, sizeof(mp));
	err = answer ? callsdp_answer_recv(cs, mb, &mp) :
		callsdp_offer_recv(cs, mb, &mp);
	if (!err) {
		check_result(&mp, srtp);
		if (!answer && !callsdp_encode(cs, &ours, false))
			FUZZ_ASSERT(mbuf_get_left(ours) > 0);
	}

	mem_deref(ours);
	mem_deref(mb);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum codec_id opus_first[] = {
		CODEC_OPUS, CODEC_PCMU, CODEC_PCMA
	};
	static const uint32_t rates[] = {0, 8000, 16000, 24000};
	struct callsdp *cs = NULL;
	enum callsdp_srtp srtp;
	struct sa laddr;
	uint8_t set, ops;

	if (size < 2)
		return 0;
	set = data[0];
	ops = data[1];
	data += 2;
	size -= 2;

	srtp = (enum callsdp_srtp)((set & 3) % 3);
	if (set & 0x20)
		(void)sa_set_str(&laddr, "::1", 30000);
	else
		(void)sa_set_str(&laddr, "127.0.0.1", 30000);

	if (callsdp_alloc(&cs, &laddr, (set & 0x10) ? opus_first : NULL,
			  (set & 0x10) ? 3 : 0, srtp, rates[(set >> 2) & 3]))
		return 0;

	for (int i = 0; i < BODIES_MAX && size; i++) {
		const uint8_t *nul = memchr(data, '\0', size);
		size_t len = nul ? (size_t)(nul - data) : size;

		step(cs, data, len, (ops >> i) & 1, srtp);

		data += len;
		size -= len;
		if (nul) {
			++data;
			--size;
		}
	}

	mem_deref(cs);
	return 0;
}
