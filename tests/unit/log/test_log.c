/* Unit tests for the logger: context inheritance, per-component levels,
 * lazy argument evaluation, JSON output. */
#define SB_LOG_COMP SB_COMP_SIP

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log/log.h"

struct captured {
	char msg[256];
	char call[64];
	char leg[64];
	char action[64];
	int comp;
	int level;
	int n;
};

static void sink_cb(const struct sb_log_record *rec, void *ud)
{
	struct captured *c = ud;

	c->n++;
	snprintf(c->msg, sizeof(c->msg), "%s", rec->msg);
	snprintf(c->call, sizeof(c->call), "%s", rec->ctx->call ? rec->ctx->call : "");
	snprintf(c->leg, sizeof(c->leg), "%s", rec->ctx->leg ? rec->ctx->leg : "");
	snprintf(c->action, sizeof(c->action), "%s", rec->ctx->action ? rec->ctx->action : "");
	c->comp = rec->comp;
	c->level = rec->level;
}

static struct captured cap;

static void setup(void)
{
	memset(&cap, 0, sizeof(cap));
	sb_log_set_level_all(SB_LOG_INFO);
	sb_log_set_sink(sink_cb, &cap);
}

static void teardown(void)
{
	sb_log_set_sink(NULL, NULL);
}

TestSuite(log, .init = setup, .fini = teardown);

static void inner(void)
{
	SB_LOG_SCOPE(NULL, NULL, "DTLS handshaking");
	sb_info("handshake %d", 1);
}

Test(log, context_is_inherited_and_restored)
{
	{
		SB_LOG_SCOPE("call-1", "a", "ringing");
		sb_info("first");
		cr_assert_str_eq(cap.call, "call-1");
		cr_assert_str_eq(cap.leg, "a");
		cr_assert_str_eq(cap.action, "ringing");
		inner();
		cr_assert_str_eq(cap.msg, "handshake 1");
		cr_assert_str_eq(cap.call, "call-1", "inner scope keeps outer fields");
		cr_assert_str_eq(cap.action, "DTLS handshaking");
		sb_info("after");
		cr_assert_str_eq(cap.action, "ringing", "inner scope restored on exit");
	}
	sb_info("outside");
	cr_assert_str_eq(cap.call, "");
	cr_assert_eq(cap.comp, SB_COMP_SIP);
}

static int evaluated;

static int side_effect(void)
{
	return ++evaluated;
}

Test(log, level_check_before_arguments)
{
	evaluated = 0;
	sb_debug("not shown %d", side_effect());
	cr_assert_eq(evaluated, 0, "arguments of a disabled line are not evaluated");
	cr_assert_eq(cap.n, 0);
	sb_log_set_level(SB_COMP_SIP, SB_LOG_DEBUG);
	sb_debug("shown %d", side_effect());
	cr_assert_eq(evaluated, 1);
	cr_assert_eq(cap.n, 1);
	cr_assert_eq(cap.level, SB_LOG_DEBUG);
}

Test(log, per_component_levels)
{
	sb_log_set_level(SB_COMP_MEDIA, SB_LOG_ERROR);
	sb_log_at(SB_COMP_MEDIA, SB_LOG_WARN, "hidden");
	cr_assert_eq(cap.n, 0);
	sb_log_at(SB_COMP_SIP, SB_LOG_WARN, "visible");
	cr_assert_eq(cap.n, 1);
	cr_assert_eq(sb_log_get_level(SB_COMP_MEDIA), SB_LOG_ERROR);
}

Test(log, names)
{
	cr_assert_eq(sb_log_level_from_name("DEBUG"), SB_LOG_DEBUG);
	cr_assert_eq(sb_log_level_from_name("loud"), _SB_LOG_LEVEL_INVALID);
	cr_assert_eq(sb_log_comp_from_name("media"), SB_COMP_MEDIA);
	cr_assert_eq(sb_log_comp_from_name("nope"), _SB_COMP_INVALID);
	cr_assert_str_eq(sb_log_comp_name(SB_COMP_BUS), "bus");
}

Test(log, json_lines_on_stderr)
{
	char buf[1024] = {0};
	FILE *tmp = tmpfile();
	int saved = dup(2);

	sb_log_set_sink(NULL, NULL);
	sb_log_set_format(SB_LOG_FORMAT_JSON);
	dup2(fileno(tmp), 2);
	{
		SB_LOG_SCOPE("c9", "b", NULL);
		sb_warn("quote \" and newline \n end");
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	cr_assert_gt(fread(buf, 1, sizeof(buf) - 1, tmp), 0);
	fclose(tmp);
	cr_assert_not_null(strstr(buf, "\"level\":\"warn\""), "%s", buf);
	cr_assert_not_null(strstr(buf, "\"component\":\"sip\""));
	cr_assert_not_null(strstr(buf, "\"call\":\"c9\""));
	cr_assert_not_null(strstr(buf, "\"leg\":\"b\""));
	cr_assert_not_null(strstr(buf, "quote \\\" and newline \\n end"));
	cr_assert_eq(strchr(buf, '\n'), buf + strlen(buf) - 1, "one line");
}
