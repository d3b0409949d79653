/* Fuzz target: STUN on the connected ICE socket once the worker reads it
 * itself (src/media/consent.c): every datagram from the browser's side
 * that starts like STUN is outside input. Our credentials are those of
 * RFC 5769's test vectors (USERNAME "evtj:h6vY", password
 * "VOkJxbRl1RmTxUk/WvJxBt"), so the seeds (its sample request and
 * answers) pass integrity and reach the answer and consent paths; the
 * input's own transaction id is taken as our outstanding request's. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "media/media_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sb_config *cfg;
	static struct sb_media m;
	static struct sb_mworker w;
	static struct sb_msession s;
	struct sockaddr_storage from = {0};
	struct sockaddr_in *peer = (struct sockaddr_in *)&s.dx.peer;
	struct sockaddr_in *f = (struct sockaddr_in *)&from;

	if (!cfg) {
		cfg = sb_config_new_default();
		m.cfg = cfg;
		w.m = &m;
		if (!cfg || sb__consent_init(&w) < 0)
			__builtin_trap();
	}
	memset(&s, 0, sizeof(s));
	s.w = &w;
	s.dx.fd = -1; /* answers are made, and their send fails */
	/* Controlling: a nomination from another address is only answered
	 * (a controlled session would hand the socket back to libnice). */
	s.dx.controlling = true;
	memcpy(s.dx.lufrag, "evtj", 5);
	memcpy(s.dx.rufrag, "h6vY", 5);
	memcpy(s.dx.lpwd, "VOkJxbRl1RmTxUk/WvJxBt", 23);
	memcpy(s.dx.rpwd, "VOkJxbRl1RmTxUk/WvJxBt", 23);
	peer->sin_family = AF_INET;
	peer->sin_port = htons(32853);
	peer->sin_addr.s_addr = htonl(0xc0000201); /* 192.0.2.1 */
	s.dx.peer_len = sizeof(*peer);
	*f = *peer;
	if (size & 1) /* odd sizes come from another address */
		f->sin_port = htons(40000);
	if (size >= 20) {
		memcpy(s.dx.tid, data + 4, sizeof(s.dx.tid));
		s.dx.tid_out = true;
	}
	sb__consent_input(&s, data, size, &from, sizeof(*f));
	return 0;
}
