/* Our own re-INVITE (the reinvite op, hold and resume from the browser)
 * against SIPp far ends: the real SIP component in-process on a bus and the
 * default GLib context, driven through sb_sip_engine_ops as the engine
 * drives it, with no engine or media. Every wait is bounded; SIPp runs
 * under timeout and its exit status is the far end's verdict. */
#include <criterion/criterion.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus/bus.h"
#include "config/config.h"
#include "core/lifecycle.h"
#include "engine/engine.h"
#include "sip/sip.h"

#include "../../support/event_record.h"

#define CALL	   7
#define LEG	   1
#define MAX_EVENTS 32
#define WAIT_MS	   10000

static const char OFFER[] = "v=0\r\n"
			    "o=- 4000 %d IN IP4 127.0.0.1\r\n"
			    "s=-\r\n"
			    "c=IN IP4 127.0.0.1\r\n"
			    "t=0 0\r\n"
			    "m=audio 40000 RTP/AVP 0\r\n"
			    "a=rtpmap:0 PCMU/8000\r\n"
			    "a=%s\r\n";

struct fixture {
	struct sb_config *cfg;
	struct sb_bus *bus;
	struct sb_lifecycle *lc;
	struct sb_sip *sip;
	GPid sipp;
	int sipp_status;
	bool sipp_done;
	struct sb_event events[MAX_EVENTS];
	char *texts[MAX_EVENTS];
	int n;
};

static struct fixture F;

static void record_cb(const struct sb_event *ev, void *ud)
{
	sbt_event_record(F.events, F.texts, &F.n, MAX_EVENTS, ev);
}

/* A port free for UDP on loopback, at random in 12000-19999 (below the
 * ephemeral range, apart from the RTP ranges), step apart from others. */
static int free_port(int step)
{
	for (;;) {
		int p = g_random_int_range(12000, 20000 - step);
		bool ok = true;

		for (int i = 0; i < step && ok; i++) {
			struct sockaddr_in a = {.sin_family = AF_INET,
						.sin_port = htons((uint16_t)(p + i)),
						.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			int fd = socket(AF_INET, SOCK_DGRAM, 0);

			ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
			if (fd >= 0)
				close(fd);
		}
		if (ok)
			return p;
	}
}

static void sipp_exit_cb(GPid pid, gint status, gpointer ud)
{
	F.sipp_status = status;
	F.sipp_done = true;
	g_spawn_close_pid(pid);
}

static gboolean tick_cb(gpointer ud)
{
	return G_SOURCE_CONTINUE;
}

/* Runs the loop until *flag or ms pass; returns *flag. */
static bool run_until(bool *flag, int ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

	while (!*flag && g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	return *flag;
}

static void run_for(int ms)
{
	bool never = false;

	run_until(&never, ms);
}

/* The next event of type from index *from on, waiting for it at most
 * WAIT_MS; NULL when none came. */
static const struct sb_event *wait_event(uint16_t type, int *from)
{
	gint64 end = g_get_monotonic_time() + (gint64)WAIT_MS * 1000;

	for (;;) {
		for (; *from < F.n; (*from)++)
			if (F.events[*from].type == type)
				return &F.events[(*from)++];
		if (g_get_monotonic_time() >= end)
			return NULL;
		g_main_context_iteration(NULL, TRUE);
	}
}

static int count_events(uint16_t type)
{
	int c = 0;

	for (int i = 0; i < F.n; i++)
		c += F.events[i].type == type;
	return c;
}

/* True when a UDP socket is bound to port, read from /proc/net/udp
 * (probing by bind would take the port from SIPp while it starts). */
static bool udp_bound(int port)
{
	FILE *f = fopen("/proc/net/udp", "r");
	char line[512];
	bool bound = false;

	if (!f)
		return false;
	while (!bound && fgets(line, sizeof(line), f)) {
		unsigned a, p;

		bound = sscanf(line, " %*u: %x:%x", &a, &p) == 2 && (int)p == port;
	}
	fclose(f);
	return bound;
}

/* Starts a SIP component listening on a free port with a trunk "far" at
 * a SIPp UAS running scenario. */
static void start(const char *scenario)
{
	struct sb_config_errors errs = {0};
	const char *failed = NULL, *dir = getenv("SB_SIP_TEST_DIR");
	int sip_port = free_port(1), far_port = free_port(1), media_port = free_port(4);
	char text[512], path[512], port[16], mport[16];
	char *argv[] = {"timeout",   "40",	 "sipp",     "-sf", path,  "-i",
			"127.0.0.1", "-p",	 port,	     "-mp", mport, "-m",
			"1",	     "-nostdin", "-timeout", "30s", NULL};
	GError *err = NULL;

	cr_assert(dir, "SB_SIP_TEST_DIR unset");
	snprintf(path, sizeof(path), "%s/%s", dir, scenario);
	snprintf(port, sizeof(port), "%d", far_port);
	snprintf(mport, sizeof(mport), "%d", media_port);
	cr_assert(g_spawn_async(NULL, argv, NULL,
				G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
					G_SPAWN_STDOUT_TO_DEV_NULL,
				NULL, NULL, &F.sipp, &err),
		  "sipp: %s", err ? err->message : "");
	g_child_watch_add(F.sipp, sipp_exit_cb, NULL);
	snprintf(text, sizeof(text),
		 "[sip]\nlisten = udp:127.0.0.1:%d\ndomain = test.invalid\n"
		 "[trunk far]\nhost = 127.0.0.1\nport = %d\noptions_interval = 0\n"
		 "username = tuser\npassword = tpass\n",
		 sip_port, far_port);
	cr_assert_eq(sb_config_load_string("test", text, NULL, &F.cfg, &errs), 0);
	F.bus = sb_bus_new(&F.cfg->bus, g_main_context_default());
	F.lc = sb_lifecycle_new();
	F.sip = sb_sip_new(F.cfg, F.bus);
	cr_assert(F.bus && F.lc && F.sip);
	cr_assert_eq(sb_bus_subscribe(F.bus, SB_EV_NONE, record_cb, NULL), 0);
	cr_assert_eq(sb_lifecycle_add(F.lc, &sb_sip_component, F.sip), 0);
	cr_assert_eq(sb_lifecycle_start(F.lc, &failed), 0);
	g_timeout_add(20, tick_cb, NULL);
	/* A loaded machine may take a while to start SIPp: it must listen
	 * before it is called. */
	for (int i = 0; i < 500 && !udp_bound(far_port); i++)
		run_for(20);
	cr_assert(udp_bound(far_port), "SIPp never bound port %d", far_port);
}

static void teardown(void)
{
	if (F.sipp && !F.sipp_done) {
		kill(F.sipp, SIGKILL);
		run_until(&F.sipp_done, 2000);
	}
	if (F.lc)
		sb_lifecycle_stop(F.lc);
	F.lc = sb_lifecycle_free(F.lc);
	F.sip = sb_sip_free(F.sip);
	F.bus = sb_bus_free(F.bus);
	sb_config_unref(F.cfg);
	for (int i = 0; i < F.n; i++)
		free(F.texts[i]);
	memset(&F, 0, sizeof(F));
}

TestSuite(sip_reinvite, .fini = teardown, .timeout = 60);

static int reinvite(uint32_t leg, int version, const char *dir)
{
	char sdp[256];

	snprintf(sdp, sizeof(sdp), OFFER, version, dir);
	return sb_sip_engine_ops.reinvite(F.sip, CALL, leg, sdp);
}

/* Calls the far end with version 1 of our offer; returns when answered. */
static void call_answered(int *from)
{
	struct sb_engine_sip_target t = {
		.trunk = "far", .uri = "1000", .from_user = "alice", .from_display = ""};
	char sdp[256];

	snprintf(sdp, sizeof(sdp), OFFER, 1, "sendrecv");
	cr_assert_eq(sb_sip_engine_ops.invite(F.sip, CALL, LEG, &t, sdp), 0);
	/* No dialog yet: nothing to re-INVITE. */
	cr_assert_eq(reinvite(LEG, 2, "sendonly"), -ENOENT);
	cr_assert(wait_event(SB_EV_SIP_ANSWERED, from), "not answered");
}

/* Our re-INVITE's outcome: 200 with an answer that has a=dir. */
static void expect_result_200(int *from, const char *dir)
{
	const struct sb_event *ev = wait_event(SB_EV_SIP_REINVITE_RESULT, from);

	cr_assert(ev, "no sip.reinvite_result");
	cr_assert_eq(ev->call, CALL);
	cr_assert_eq(ev->leg, LEG);
	cr_assert_eq(ev->arg[0], 200);
	cr_assert(ev->text && strstr(ev->text, dir), "answer %s", ev->text ? ev->text : "none");
}

static void hang_up(void)
{
	cr_assert_eq(sb_sip_engine_ops.bye(F.sip, CALL, LEG), 0);
	cr_assert(run_until(&F.sipp_done, WAIT_MS), "SIPp did not finish");
	cr_assert(WIFEXITED(F.sipp_status) && WEXITSTATUS(F.sipp_status) == 0,
		  "SIPp failed (status %d): see its *_errors.log", F.sipp_status);
	/* A failure of ours would have ended the dialog with these. */
	cr_assert_eq(count_events(SB_EV_SIP_BYE), 0);
	cr_assert_eq(count_events(SB_EV_SIP_FAILED), 0);
}

Test(sip_reinvite, hold_and_resume)
{
	int from = 0;

	start("uas_hold.xml");
	call_answered(&from);
	cr_assert_eq(reinvite(LEG + 1, 2, "sendonly"), -ENOENT);
	cr_assert_eq(reinvite(LEG, 2, "sendonly"), 0);
	/* One offer of ours at a time (RFC 3264 section 4). */
	cr_assert_eq(reinvite(LEG, 2, "sendonly"), -EBUSY);
	expect_result_200(&from, "a=recvonly");
	cr_assert_eq(reinvite(LEG, 3, "sendrecv"), 0);
	expect_result_200(&from, "a=sendrecv");
	cr_assert_eq(count_events(SB_EV_SIP_REINVITE_RESULT), 2);
	hang_up();
	/* The dialog is gone. */
	cr_assert_eq(reinvite(LEG, 4, "sendonly"), -ENOENT);
}

Test(sip_reinvite, retried_once_after_491)
{
	int from = 0;
	gint64 sent;
	double waited;

	start("uas_hold_491.xml");
	call_answered(&from);
	sent = g_get_monotonic_time();
	cr_assert_eq(reinvite(LEG, 2, "sendonly"), 0);
	/* The 491 came and the retry waits: still ours outstanding. */
	run_for(1000);
	cr_assert_eq(count_events(SB_EV_SIP_REINVITE_RESULT), 0, "the 491 was reported");
	cr_assert_eq(reinvite(LEG, 2, "sendonly"), -EBUSY);
	expect_result_200(&from, "a=recvonly");
	/* RFC 3261 section 14.1: 2.1 to 4 s (and a round trip or two). */
	waited = (double)(g_get_monotonic_time() - sent) / 1e6;
	cr_assert(waited >= 2.1 && waited < 5.0, "retried after %.2f s", waited);
	cr_assert_eq(reinvite(LEG, 3, "sendrecv"), 0);
	expect_result_200(&from, "a=sendrecv");
	cr_assert_eq(count_events(SB_EV_SIP_REINVITE_RESULT), 2);
	hang_up();
}

Test(sip_reinvite, glare_and_refusal)
{
	const struct sb_event *ev;
	int from = 0;

	start("uas_hold_glare.xml");
	call_answered(&from);
	cr_assert_eq(reinvite(LEG, 2, "sendonly"), 0);
	/* The party's UPDATE offer met ours (491, checked by SIPp), then ours
	 * was refused: the session and the dialog stay (RFC 3261 section
	 * 14.1). */
	ev = wait_event(SB_EV_SIP_REINVITE_RESULT, &from);
	cr_assert(ev, "no sip.reinvite_result");
	cr_assert_eq(ev->arg[0], 488);
	cr_assert_null(ev->text);
	/* The party's offer never reached the engine. */
	cr_assert_eq(count_events(SB_EV_SIP_REINVITE), 0);
	run_for(200);
	cr_assert_eq(count_events(SB_EV_SIP_BYE), 0);
	cr_assert_eq(reinvite(LEG, 2, "sendonly"), 0);
	expect_result_200(&from, "a=recvonly");
	hang_up();
}

Test(sip_reinvite, ended_while_retry_waits)
{
	int from = 0;

	start("uas_hold_491.xml");
	call_answered(&from);
	cr_assert_eq(reinvite(LEG, 2, "sendonly"), 0);
	run_for(500); /* the 491 came: the retry waits */
	cr_assert_eq(sb_sip_engine_ops.bye(F.sip, CALL, LEG), 0);
	/* The retry is cancelled and nothing is reported for it (SIPp, which
	 * wanted the retry, fails: not checked here). */
	run_for(4500);
	cr_assert_eq(count_events(SB_EV_SIP_REINVITE_RESULT), 0);
	cr_assert_eq(reinvite(LEG, 3, "sendrecv"), -ENOENT);
}

/* ---- in-call chat: MESSAGE in the dialog (the message op, sip.message) ---- */

TestSuite(sip_message, .fini = teardown, .timeout = 60);

static int message(uint32_t leg, uint64_t seq, const char *text)
{
	return sb_sip_engine_ops.message(F.sip, CALL, leg, seq, text);
}

Test(sip_message, both_ways_and_refusals)
{
	char big[SB_CHAT_MAX + 2];
	const struct sb_event *ev;
	int from = 0, from_msg = 0;

	start("uas_message.xml");
	/* No dialog yet. */
	cr_assert_eq(message(LEG, 1, "too early"), -ENOENT);
	call_answered(&from);
	cr_assert_eq(message(LEG + 1, 1, "no such leg"), -ENOENT);
	cr_assert_eq(message(LEG, 1, NULL), -EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(message(LEG, 1, big), -EINVAL);
	cr_assert_eq(message(LEG, 1, "caf\xe9"), -EINVAL);
	/* SIPp checks the Content-Type, the To tag and the body. */
	cr_assert_eq(message(LEG, 41, "hello from the browser"), 0);
	ev = wait_event(SB_EV_SIP_MESSAGE_RESULT, &from);
	cr_assert(ev, "no sip.message_result");
	cr_assert_eq(ev->call, CALL);
	cr_assert_eq(ev->leg, LEG);
	cr_assert_eq(ev->arg[0], 200);
	cr_assert_eq(ev->arg[1], 41);
	/* The party's text/plain MESSAGE in the dialog. */
	ev = wait_event(SB_EV_SIP_MESSAGE, &from_msg);
	cr_assert(ev, "no sip.message");
	cr_assert_eq(ev->call, CALL);
	cr_assert_eq(ev->leg, LEG);
	cr_assert_str_eq(ev->str, "text/plain");
	cr_assert(ev->text && strncmp(ev->text, "hello from the far end", 22) == 0, "body %s",
		  ev->text ? ev->text : "none");
	/* Its 415, 413 and 400 are SIPp's to check; wait for them to pass
	 * before our second MESSAGE, which SIPp refuses. */
	run_for(500);
	cr_assert_eq(message(LEG, 42, "refused"), 0);
	ev = wait_event(SB_EV_SIP_MESSAGE_RESULT, &from);
	cr_assert(ev, "no second sip.message_result");
	cr_assert_eq(ev->arg[0], 403);
	cr_assert_eq(ev->arg[1], 42);
	hang_up();
	/* The refused ones never reached the engine. */
	cr_assert_eq(count_events(SB_EV_SIP_MESSAGE), 1);
	cr_assert_eq(message(LEG, 43, "after the end"), -ENOENT);
}

/* ---- DTMF by SIP INFO (the info_dtmf op, sip.dtmf) ---- */

TestSuite(sip_info, .fini = teardown, .timeout = 60);

static int info_dtmf(uint32_t leg, const char *digits)
{
	return sb_sip_engine_ops.info_dtmf(F.sip, CALL, leg, digits, 120);
}

Test(sip_info, dtmf_both_ways_and_refusals)
{
	const struct sb_event *ev;
	int from = 0, from_dtmf = 0;

	start("uas_info_dtmf.xml");
	/* No dialog yet. */
	cr_assert_eq(info_dtmf(LEG, "1"), -ENOENT);
	call_answered(&from);
	cr_assert_eq(info_dtmf(LEG + 1, "1"), -ENOENT);
	cr_assert_eq(info_dtmf(LEG, NULL), -EINVAL);
	cr_assert_eq(info_dtmf(LEG, ""), -EINVAL);
	cr_assert_eq(info_dtmf(LEG, "12x"), -EINVAL);
	cr_assert_eq(info_dtmf(LEG, "123456789012345678901234567890123"), -EINVAL);
	/* SIPp checks each INFO: in the dialog, application/dtmf-relay,
	 * Signal and Duration, one at a time and in order, the first again
	 * with our credentials after its 401. */
	cr_assert_eq(info_dtmf(LEG, "12"), 0);
	cr_assert_eq(info_dtmf(LEG, "3"), 0);
	/* The party's INFOs: dtmf-relay with its Duration, then
	 * application/dtmf (no duration: 0). */
	ev = wait_event(SB_EV_SIP_DTMF, &from_dtmf);
	cr_assert(ev, "no sip.dtmf");
	cr_assert_eq(ev->call, CALL);
	cr_assert_eq(ev->leg, LEG);
	cr_assert_str_eq(ev->str, "9");
	cr_assert_eq(ev->arg[0], 250);
	ev = wait_event(SB_EV_SIP_DTMF, &from_dtmf);
	cr_assert(ev, "no second sip.dtmf");
	cr_assert_str_eq(ev->str, "5");
	cr_assert_eq(ev->arg[0], 0);
	/* Its 400, 415 (with Accept) and keepalive 200 are SIPp's to check. */
	run_for(500);
	hang_up();
	/* The refused ones and the keepalive never reached the engine. */
	cr_assert_eq(count_events(SB_EV_SIP_DTMF), 2);
	cr_assert_eq(info_dtmf(LEG, "4"), -ENOENT);
}
