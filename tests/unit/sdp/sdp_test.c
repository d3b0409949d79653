/* Model comparison and line-end checks for the SDP unit tests. */
#include <criterion/criterion.h>
#include <string.h>

#include "sdp_test.h"

static void expect_str(const char *a, const char *b, const char *what, int i)
{
	if (!a || !b)
		cr_expect(a == b, "%s of section %d: %s vs %s", what, i, a ? a : "NULL",
			  b ? b : "NULL");
	else
		cr_expect_str_eq(a, b, "%s of section %d", what, i);
}

static void expect_same_codecs(const struct sb_sdp_media *a, const struct sb_sdp_media *b, int i)
{
	cr_assert_eq(a->n_codecs, b->n_codecs, "codecs of section %d", i);
	for (int j = 0; j < a->n_codecs; j++) {
		cr_expect_eq(a->codecs[j].pt, b->codecs[j].pt);
		expect_str(a->codecs[j].name, b->codecs[j].name, "codec", i);
		cr_expect_eq(a->codecs[j].rate, b->codecs[j].rate);
		cr_expect_eq(a->codecs[j].channels, b->codecs[j].channels);
		expect_str(a->codecs[j].fmtp, b->codecs[j].fmtp, "fmtp", i);
	}
	cr_assert_eq(a->n_fmts, b->n_fmts, "formats of section %d", i);
	for (int j = 0; j < a->n_fmts; j++)
		expect_str(a->fmts[j], b->fmts[j], "format", i);
}

static void expect_same_media(const struct sb_sdp *sa, const struct sb_sdp_media *a,
			      const struct sb_sdp *sb, const struct sb_sdp_media *b, int i)
{
	expect_str(a->type, b->type, "type", i);
	expect_str(a->proto, b->proto, "proto", i);
	/* A section's c= is its own, else the session's. */
	expect_str(a->addr ? a->addr : sa->addr, b->addr ? b->addr : sb->addr, "c=", i);
	cr_expect_eq(a->port, b->port, "port of section %d", i);
	expect_same_codecs(a, b, i);
	cr_expect_eq(a->dir, b->dir, "direction of section %d", i);
	expect_str(a->mid, b->mid, "mid", i);
	expect_str(a->ice.ufrag, b->ice.ufrag, "ufrag", i);
	expect_str(a->ice.pwd, b->ice.pwd, "pwd", i);
	expect_str(a->ice.options, b->ice.options, "ice-options", i);
	expect_str(a->fingerprint.hash, b->fingerprint.hash, "fingerprint hash", i);
	expect_str(a->fingerprint.value, b->fingerprint.value, "fingerprint", i);
	cr_expect_eq(a->setup, b->setup, "setup of section %d", i);
	cr_expect_eq(a->rtcp_mux, b->rtcp_mux);
	cr_expect_eq(a->rtcp_port, b->rtcp_port);
	cr_expect_eq(a->ptime, b->ptime);
	/* Only the first SSRC and its cname are written back. */
	cr_expect_eq(a->n_ssrcs > 0, b->n_ssrcs > 0);
	if (a->n_ssrcs > 0 && b->n_ssrcs > 0 && a->cname)
		cr_expect_eq(a->ssrcs[0], b->ssrcs[0]);
	expect_str(a->cname, b->cname, "cname", i);
	cr_assert_eq(a->n_crypto, b->n_crypto);
	for (int j = 0; j < a->n_crypto; j++) {
		cr_expect_eq(a->crypto[j].tag, b->crypto[j].tag);
		expect_str(a->crypto[j].suite, b->crypto[j].suite, "suite", i);
		expect_str(a->crypto[j].key_params, b->crypto[j].key_params, "key", i);
		expect_str(a->crypto[j].session_params, b->crypto[j].session_params, "sess", i);
	}
	cr_assert_eq(a->n_candidates, b->n_candidates);
	for (int j = 0; j < a->n_candidates; j++)
		expect_str(a->candidates[j], b->candidates[j], "candidate", i);
	cr_expect_eq(a->end_of_candidates, b->end_of_candidates);
}

void sb_test_expect_same(const struct sb_sdp *a, const struct sb_sdp *b)
{
	cr_assert_eq(a->n_media, b->n_media);
	cr_expect_eq(a->ice_lite, b->ice_lite);
	cr_assert_eq(a->n_bundle, b->n_bundle);
	for (int i = 0; i < a->n_bundle; i++)
		expect_str(a->bundle[i], b->bundle[i], "bundle", i);
	for (int i = 0; i < a->n_media; i++)
		expect_same_media(a, a->media[i], b, b->media[i], i);
}

void sb_test_expect_crlf(const char *text)
{
	for (const char *p = text; *p; p++)
		if (*p == '\n')
			cr_assert(p > text && p[-1] == '\r', "bare LF at offset %zu",
				  (size_t)(p - text));
	cr_assert(strlen(text) >= 2 && strcmp(text + strlen(text) - 2, "\r\n") == 0);
}
