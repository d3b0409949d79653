/* Helpers shared by the SDP unit tests. */
#pragma once

#include <stddef.h>

#include "sdp/sdp.h"

const char *sb_test_testdata(void);
/* The file at testdata/sdp/rel, NUL-terminated; asserts it exists. */
char *sb_test_load(const char *rel, size_t *ret_len);
/* Parses testdata/sdp/rel; asserts it parses. */
struct sb_sdp *sb_test_parse_file(const char *rel);
/* Expects two models to hold the same values (o= aside). */
void sb_test_expect_same(const struct sb_sdp *a, const struct sb_sdp *b);
/* Expects every line of text to end in CRLF. */
void sb_test_expect_crlf(const char *text);
