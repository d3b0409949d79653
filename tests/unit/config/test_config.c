/* Unit tests for config loading: defaults, every kind of error with its
 * file, line and key, environment overrides, and the commented default file
 * documenting every schema key. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/schema.h"

static struct sb_config_errors errs;

static void reset(void)
{
	sb_config_errors_clear(&errs);
}

TestSuite(config, .fini = reset);

static int load(const char *text, char *const *env, struct sb_config **cfg)
{
	sb_config_errors_clear(&errs);
	return sb_config_load_string("test.conf", text, env, cfg, &errs);
}

static void expect_error(const char *text, const char *needle)
{
	struct sb_config *cfg = NULL;

	cr_assert_eq(load(text, NULL, &cfg), -EINVAL, "accepted: %s", text);
	cr_assert_null(cfg);
	cr_assert_geq(errs.n, 1);
	cr_assert_not_null(strstr(errs.msgs[0], needle), "'%s' not in '%s'", needle, errs.msgs[0]);
}

Test(config, defaults)
{
	struct sb_config *cfg = NULL;

	cr_assert_eq(load("", NULL, &cfg), 0);
	cr_assert_eq(cfg->bus.max_concurrent_dispatches, 25000);
	cr_assert_eq(cfg->bus.broadcast_capacity, 16384);
	cr_assert_eq(cfg->bus.priority, true);
	cr_assert_eq(cfg->bus.batch_size, 50);
	cr_assert_eq(cfg->bus.shard_count, 32);
	cr_assert_eq(cfg->general.drain_timeout_ms, 30000);
	cr_assert_str_eq(cfg->sip.domain, "localhost");
	cr_assert_eq(sb_config_strv_len(cfg->sip.listen), 2);
	cr_assert_eq(cfg->n_routes, 0);
	sb_config_unref(cfg);
}

Test(config, values_of_every_type)
{
	struct sb_config *cfg = NULL;
	const char *text = "# comment\n"
			   "; another\n"
			   "[general]\n"
			   "drain_timeout = 250ms\n"
			   "[bus]\n"
			   "priority = off\n"
			   "batch_size=7\n"
			   "[log]\n"
			   "format = json\n"
			   "[sip]\n"
			   "listen = udp:127.0.0.1:5070 , tcp:[::1]:5071\n"
			   "user_agent = \"  spaced  \"\n"
			   "[trunk carrier]\n"
			   "host = 192.0.2.1\n"
			   "[route out]\n"
			   "destination = 9*\n"
			   "action = trunk\n"
			   "target = carrier\n"
			   "[route echo]\n"
			   "destination = echo\n"
			   "action = echo\n";

	cr_assert_eq(load(text, NULL, &cfg), 0, "%s", errs.n ? errs.msgs[0] : "");
	cr_assert_eq(cfg->general.drain_timeout_ms, 250);
	cr_assert_eq(cfg->bus.priority, false);
	cr_assert_eq(cfg->bus.batch_size, 7);
	cr_assert_str_eq(cfg->log.format, "json");
	cr_assert_str_eq(cfg->sip.listen[1], "tcp:[::1]:5071");
	cr_assert_str_eq(cfg->sip.user_agent, "  spaced  ");
	cr_assert_eq(cfg->n_trunks, 1);
	cr_assert_eq(cfg->trunks[0].port, 5060, "repeatable sections get defaults");
	cr_assert_eq(cfg->n_routes, 2);
	cr_assert_str_eq(cfg->routes[0].name, "out", "routes keep file order");
	cr_assert_str_eq(cfg->routes[1].name, "echo");
	cr_assert_not_null(sb_config_find_trunk(cfg, "carrier"));
	sb_config_unref(cfg);
}

Test(config, unknown_key_names_file_line_key)
{
	expect_error("[sip]\n\nbogus = 1\n", "test.conf:3: unknown key 'bogus' in [sip]");
}

Test(config, unknown_section)
{
	expect_error("[nope]\n", "test.conf:1: unknown section [nope]");
}

Test(config, wrong_type)
{
	expect_error("[bus]\nbatch_size = ten\n",
		     "test.conf:2: key 'batch_size' in [bus]: expected an integer, got 'ten'");
	expect_error("[bus]\npriority = maybe\n",
		     "key 'priority' in [bus]: expected true or false");
	expect_error("[general]\ndrain_timeout = 3 weeks\n", "key 'drain_timeout' in [general]");
	expect_error("[log]\nlevel = loud\n", "'loud' is not one of: error, warn, info");
}

/* [trunk] srtp: off by default, one of three modes, an error naming the
 * line and key otherwise. */
Test(config, trunk_srtp)
{
	struct sb_config *cfg = NULL;

	cr_assert_eq(load("[trunk a]\nhost = h\n[trunk b]\nhost = h\nsrtp = sdes_optional\n", NULL,
			  &cfg),
		     0, "%s", errs.n ? errs.msgs[0] : "");
	cr_assert_str_eq(cfg->trunks[0].srtp, "off");
	cr_assert_str_eq(cfg->trunks[1].srtp, "sdes_optional");
	sb_config_unref(cfg);
	expect_error("[trunk t]\nhost = h\nsrtp = dtls\n",
		     "test.conf:3: key 'srtp' in [trunk]: 'dtls' is not one of: off, sdes, "
		     "sdes_optional");
}

/* [trunk] dtmf: rfc4733 by default, info or both, an error naming the line
 * and key otherwise. */
Test(config, trunk_dtmf)
{
	struct sb_config *cfg = NULL;

	cr_assert_eq(load("[trunk a]\nhost = h\n[trunk b]\nhost = h\ndtmf = info\n"
			  "[trunk c]\nhost = h\ndtmf = both\n",
			  NULL, &cfg),
		     0, "%s", errs.n ? errs.msgs[0] : "");
	cr_assert_str_eq(cfg->trunks[0].dtmf, "rfc4733");
	cr_assert_str_eq(cfg->trunks[1].dtmf, "info");
	cr_assert_str_eq(cfg->trunks[2].dtmf, "both");
	sb_config_unref(cfg);
	expect_error("[trunk t]\nhost = h\ndtmf = inband\n",
		     "test.conf:3: key 'dtmf' in [trunk]: 'inband' is not one of: rfc4733, info, "
		     "both");
}

/* [route] hours and timezone: checked as the file is read, an error naming
 * the line, the key and what is wrong; accepted ones are kept as written. */
Test(config, route_hours_and_timezone)
{
	struct sb_config *cfg = NULL;

	cr_assert_eq(load("[route r]\naction = echo\nhours = mon-fri 09:00-17:00, sat "
			  "10:00-13:00\ntimezone = +01:00\n",
			  NULL, &cfg),
		     0, "%s", errs.n ? errs.msgs[0] : "");
	cr_assert_str_eq(cfg->routes[0].hours, "mon-fri 09:00-17:00, sat 10:00-13:00");
	cr_assert_str_eq(cfg->routes[0].timezone, "+01:00");
	sb_config_unref(cfg);
	expect_error("[route r]\naction = echo\nhours = mon-fry 09:00-17:00\n",
		     "test.conf:3: key 'hours' in [route]: 'fry 09:00-17' at 5: expected a day "
		     "after '-'");
	expect_error("[route r]\naction = echo\nhours = mon 9:00-17:00\n",
		     "test.conf:3: key 'hours' in [route]: '9:00-17:00' at 5: expected a time");
	expect_error("[route r]\naction = echo\nhours = mon 09:00-24:30\n",
		     "'24:30' at 11: expected an end time");
	expect_error("[route r]\naction = echo\ntimezone = Mars/Olympus\n",
		     "test.conf:3: key 'timezone' in [route]: unknown time zone 'Mars/Olympus'");
}

Test(config, out_of_range)
{
	expect_error("[media]\nrtp_port_min = 80\n",
		     "test.conf:2: key 'rtp_port_min' in [media]: 80 is out of range 1024..65535");
	expect_error("[bus]\nbatch_size = 99999999999999999999\n", "key 'batch_size'");
}

/* [queue NAME]: defaults, every key, and the errors naming the line, the
 * queue, the agent or the route. */
Test(config, queues)
{
	struct sb_config *cfg = NULL;

	cr_assert_eq(load("[user bob]\n[user carol]\n"
			  "[queue sales]\nagents = bob, carol\n"
			  "[queue support]\nagents = carol\nstrategy = ring_all\n"
			  "agent_timeout = 2s\nmax_wait = 90s\nmax_callers = 3\nwrapup = 10s\n"
			  "[route q]\ndestination = 800\naction = queue\ntarget = sales\n",
			  NULL, &cfg),
		     0, "%s", errs.n ? errs.msgs[0] : "");
	cr_assert_eq(cfg->n_queues, 2);
	cr_assert_str_eq(cfg->queues[0].name, "sales");
	cr_assert_str_eq(cfg->queues[0].agents[0], "bob");
	cr_assert_str_eq(cfg->queues[0].agents[1], "carol");
	cr_assert_null(cfg->queues[0].agents[2]);
	cr_assert_str_eq(cfg->queues[0].strategy, "longest_idle");
	cr_assert_eq(cfg->queues[0].agent_timeout_ms, 15000);
	cr_assert_eq(cfg->queues[0].max_wait_ms, 300000);
	cr_assert_eq(cfg->queues[0].max_callers, 50);
	cr_assert_eq(cfg->queues[0].wrapup_ms, 0);
	cr_assert_str_eq(cfg->queues[1].strategy, "ring_all");
	cr_assert_eq(cfg->queues[1].agent_timeout_ms, 2000);
	cr_assert_eq(cfg->queues[1].max_wait_ms, 90000);
	cr_assert_eq(cfg->queues[1].max_callers, 3);
	cr_assert_eq(cfg->queues[1].wrapup_ms, 10000);
	cr_assert_eq(sb_config_find_queue(cfg, "support"), &cfg->queues[1]);
	cr_assert_null(sb_config_find_queue(cfg, "nope"));
	cr_assert_str_eq(cfg->routes[0].action, "queue");
	sb_config_unref(cfg);

	expect_error("[user bob]\n[queue sales]\nagents = bob, dave\n",
		     "[queue sales] key 'agents': no [user dave]");
	expect_error("[queue sales]\nstrategy = longest_idle\n",
		     "[queue sales] needs key 'agents'");
	expect_error("[user bob]\n[queue sales]\nagents = bob\nstrategy = random\n",
		     "test.conf:4: key 'strategy' in [queue]");
	expect_error("[user bob]\n[queue sales]\nagents = bob\nmax_callers = 0\n",
		     "test.conf:4: key 'max_callers' in [queue]: 0 is out of range");
	expect_error("[user bob]\n[queue sales]\nagents = bob\n"
		     "[route r]\naction = queue\ntarget = support\n",
		     "[route r] key 'target': no [queue support]");
}

/* [conference NAME]: the default, the range of max_members, unknown keys,
 * and a route naming no conference. */
Test(config, conferences)
{
	struct sb_config *cfg = NULL;

	cr_assert_eq(load("[conference lobby]\n"
			  "[conference board]\nmax_members = 5\n"
			  "[route c]\ndestination = 700\naction = conference\ntarget = board\n",
			  NULL, &cfg),
		     0, "%s", errs.n ? errs.msgs[0] : "");
	cr_assert_eq(cfg->n_conferences, 2);
	cr_assert_str_eq(cfg->conferences[0].name, "lobby");
	cr_assert_eq(cfg->conferences[0].max_members, 20);
	cr_assert_eq(cfg->conferences[1].max_members, 5);
	cr_assert_eq(sb_config_find_conference(cfg, "board"), &cfg->conferences[1]);
	cr_assert_null(sb_config_find_conference(cfg, "nope"));
	cr_assert_null(sb_config_find_conference(cfg, NULL));
	cr_assert_str_eq(cfg->routes[0].action, "conference");
	cr_assert_str_eq(cfg->routes[0].target, "board");
	sb_config_unref(cfg);

	expect_error("[conference lobby]\nmax_members = 1\n",
		     "test.conf:2: key 'max_members' in [conference]: 1 is out of range 2..1000");
	expect_error("[conference lobby]\n\nmax_members = 1001\n",
		     "test.conf:3: key 'max_members' in [conference]: 1001 is out of range");
	expect_error("[conference lobby]\npin = 1234\n", "test.conf:2: unknown key 'pin'");
	expect_error("[conference lobby]\n[route r]\naction = conference\ntarget = hall\n",
		     "[route r] key 'target': no [conference hall]");
	expect_error("[route r]\naction = conference\n",
		     "[route r] key 'target': no [conference ]");
}

Test(config, cross_key_checks)
{
	expect_error("[media]\nrtp_port_min = 30000\nrtp_port_max = 20000\n",
		     "rtp_port_min (30000) is above rtp_port_max (20000)");
	expect_error("[bus]\nbroadcast_capacity = 1000\n", "must be a power of two");
	expect_error("[route r]\naction = trunk\ntarget = nowhere\n",
		     "[route r] key 'target': no [trunk nowhere]");
	expect_error("[route r]\ndestination = x\n", "[route r] needs key 'action'");
	expect_error("[trunk t]\nport = 5060\n", "[trunk t] needs key 'host'");
	expect_error("[trunk t]\nhost = h\nregister = true\n",
		     "[trunk t] register = true needs key 'username'");
	expect_error("[trunk t]\nhost = h\nregister_retry_min = 60\nregister_retry_max = 30\n",
		     "[trunk t] register_retry_min is above register_retry_max");
}

Test(config, user_accounts)
{
	struct sb_config *cfg = NULL;
	const char *ok = "[trunk p]\nhost = h\n[user a]\nsip_trunk = p\nsip_username = 1001\n"
			 "sip_password = s\n[user b]\n";

	cr_assert_eq(load(ok, NULL, &cfg), 0);
	cr_assert(sb_config_user_has_account(sb_config_find_user(cfg, "a")));
	cr_assert_not(sb_config_user_has_account(sb_config_find_user(cfg, "b")));
	cr_assert_str_eq(sb_config_find_user(cfg, "a")->sip_password, "s");
	sb_config_unref(cfg);
	expect_error("[user a]\nsip_trunk = nope\nsip_username = x\n",
		     "[user a] key 'sip_trunk': no [trunk nope]");
	expect_error("[trunk p]\nhost = h\n[user a]\nsip_trunk = p\n",
		     "[user a] sip_trunk needs key 'sip_username'");
	expect_error("[user a]\nsip_username = x\n", "[user a] sip_username needs key 'sip_trunk'");
	expect_error("[trunk p]\nhost = h\n[user a]\nsip_trunk = p\nsip_username = x\n"
		     "[user b]\nsip_trunk = p\nsip_username = x\n",
		     "[user b] has the account of [user a] (x at p)");
}

Test(config, structural_errors)
{
	expect_error("[sip\n", "test.conf:1: malformed section header");
	expect_error("key = value\n", "test.conf:1: key 'key' outside a known section");
	expect_error("[sip]\njust words\n", "test.conf:2: expected 'key = value'");
	expect_error("[sip]\ndomain = a\ndomain = b\n",
		     "test.conf:3: key 'domain' in [sip] is set twice");
	expect_error("[trunk]\n", "section [trunk] needs a name");
	expect_error("[sip extra]\n", "section [sip] takes no name");
	expect_error("[trunk a]\nhost=x\n[trunk a]\nhost=y\n",
		     "test.conf:3: [trunk a] is defined twice");
	expect_error("[trunk a b]\n", "a name may use letters, digits");
}

Test(config, every_error_is_reported)
{
	struct sb_config *cfg = NULL;

	cr_assert_eq(load("[sip]\nx = 1\ny = 2\n[bus]\nbatch_size = -1\n", NULL, &cfg), -EINVAL);
	cr_assert_eq(errs.n, 3);
	cr_assert_not_null(strstr(errs.msgs[2], "test.conf:5:"));
}

Test(config, missing_file)
{
	struct sb_config *cfg = NULL;

	sb_config_errors_clear(&errs);
	cr_assert_eq(sb_config_load("/nonexistent/switchboard.conf", NULL, &cfg, &errs), -ENOENT);
	cr_assert_eq(errs.n, 1);
	cr_assert_not_null(strstr(errs.msgs[0], "/nonexistent/switchboard.conf: cannot open"));
}

Test(config, environment_overrides)
{
	struct sb_config *cfg = NULL;
	char *env[] = {"PATH=/bin", "SWITCHBOARD_SIP_DOMAIN=pbx.example.com",
		       "SWITCHBOARD_BUS_BATCH_SIZE=99", "SWITCHBOARD_HTTP_LISTEN=ws://0.0.0.0:9000",
		       NULL};

	cr_assert_eq(load("[sip]\ndomain = file.example\n", env, &cfg), 0);
	cr_assert_str_eq(cfg->sip.domain, "pbx.example.com", "environment wins over the file");
	cr_assert_eq(cfg->bus.batch_size, 99);
	cr_assert_str_eq(cfg->http.listen[0], "ws://0.0.0.0:9000");
	sb_config_unref(cfg);
}

Test(config, environment_errors)
{
	struct sb_config *cfg = NULL;
	char *bad_value[] = {"SWITCHBOARD_BUS_BATCH_SIZE=lots", NULL};
	char *bad_key[] = {"SWITCHBOARD_SIP_NOPE=1", NULL};

	cr_assert_eq(load("", bad_value, &cfg), -EINVAL);
	cr_assert_not_null(strstr(errs.msgs[0], "environment SWITCHBOARD_BUS_BATCH_SIZE (key "
						"'batch_size' in [bus]): expected an integer"));
	cr_assert_eq(load("", bad_key, &cfg), -EINVAL);
	cr_assert_not_null(strstr(errs.msgs[0], "SWITCHBOARD_SIP_NOPE: no such config key"));
}

Test(config, refcount)
{
	struct sb_config *cfg = sb_config_new_default();

	cr_assert_eq(sb_config_ref(cfg), cfg);
	cr_assert_null(sb_config_unref(cfg));
	cr_assert_null(sb_config_unref(cfg));
	cr_assert_null(sb_config_unref(NULL));
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* The shipped file loads, and documents every key of every section. */
Test(config, default_file_documents_every_key)
{
	char *text = read_file(SB_SOURCE_DIR "/conf/switchboard.conf");
	struct sb_config *cfg = NULL;

	cr_assert_eq(load(text, NULL, &cfg), 0, "%s", errs.n ? errs.msgs[0] : "");
	sb_config_unref(cfg);
	for (const struct sb_config_section *s = sb__config_sections; s->name; s++) {
		char header[64];
		snprintf(header, sizeof(header), s->repeat ? "[%s " : "[%s]", s->name);
		cr_assert_not_null(strstr(text, header), "section %s undocumented", s->name);
		for (const struct sb_config_key *k = s->keys; k->name; k++) {
			char line[96], commented[96];
			snprintf(line, sizeof(line), "\n%s =", k->name);
			snprintf(commented, sizeof(commented), "\n# %s =", k->name);
			cr_assert(strstr(text, line) || strstr(text, commented),
				  "key '%s' of [%s] is not in conf/switchboard.conf", k->name,
				  s->name);
		}
	}
	free(text);
}

/* A WAV file of 16 kHz samples (rate, channels and bits as given) at
 * path. */
static void write_wav(const char *path, uint16_t channels, uint16_t bits)
{
	FILE *f = fopen(path, "wb");
	uint8_t h[44] = "RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0";
	uint32_t rate = 16000, v = 36 + 320;
	int16_t samples[160] = {0, 1000, -1000};

	cr_assert_not_null(f);
	memcpy(h + 4, &v, 4); /* little-endian host */
	memcpy(h + 22, &channels, 2);
	memcpy(h + 24, &rate, 4);
	v = rate * 2;
	memcpy(h + 28, &v, 4);
	memcpy(h + 32, "\x02\0", 2);
	memcpy(h + 34, &bits, 2);
	memcpy(h + 36, "data", 4);
	v = 320;
	memcpy(h + 40, &v, 4);
	fwrite(h, 1, sizeof(h), f);
	fwrite(samples, 2, 160, f);
	fclose(f);
}

/* [media] hold_music: tone by default, silence, or a 16-bit mono PCM WAV
 * file read as the configuration is; anything else is an error naming
 * the line and the key. */
Test(config, media_hold_music)
{
	struct sb_config *cfg = NULL;
	char path[] = "/tmp/sb-test-holdXXXXXX", text[128];
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(load("", NULL, &cfg), 0);
	cr_assert_str_eq(cfg->media.hold_music, "tone");
	sb_config_unref(cfg);
	cr_assert_eq(load("[media]\nhold_music = silence\n", NULL, &cfg), 0);
	sb_config_unref(cfg);

	write_wav(path, 1, 16);
	snprintf(text, sizeof(text), "[media]\nhold_music = %s\n", path);
	cr_assert_eq(load(text, NULL, &cfg), 0, "%s", errs.n ? errs.msgs[0] : "");
	cr_assert_str_eq(cfg->media.hold_music, path);
	sb_config_unref(cfg);

	write_wav(path, 2, 16);
	expect_error(text, "test.conf:2: key 'hold_music' in [media]: not 16-bit mono PCM");
	write_wav(path, 1, 8);
	expect_error(text, "test.conf:2: key 'hold_music' in [media]: not 16-bit mono PCM");
	close(fd);
	fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert_eq(write(fd, "not a wav file at all, really not\n", 34), 34);
	close(fd);
	expect_error(text, "test.conf:2: key 'hold_music' in [media]: not a WAV file");
	unlink(path);
	expect_error(text, "test.conf:2: key 'hold_music' in [media]: cannot open");
	expect_error("[media]\n\nhold_music =\n", "test.conf:3: key 'hold_music' in [media]");
}
