/* TLS listeners: sofia's TLS transport reads its certificate and key from
 * one directory (agent.pem: key then certificate; cafile.pem: trusted CAs),
 * so [sip] tls_cert and tls_key are copied into <data_dir>/sip-tls at
 * start. Control thread, at start only. Owns nothing after it returns. */
#define SB_LOG_COMP SB_COMP_SIP

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "log/log.h"
#include "sip/sip_internal.h"

/* Appends the whole file at path to fd. Returns 0 or a negative errno. */
static int append_file(int fd, const char *path)
{
	char buf[4096];
	int in = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int r = 0;

	if (in < 0)
		return -errno;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n) {
			r = -EIO;
			break;
		}
	if (n < 0)
		r = -errno;
	close(in);
	return r;
}

/* Writes dir/name from the concatenation of paths, readable by us only. */
static int write_pem(const char *dir, const char *name, const char *const *paths)
{
	char path[1024];
	int fd, r = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; paths[i] && r == 0; i++) {
		r = append_file(fd, paths[i]);
		if (r == 0 && write(fd, "\n", 1) != 1)
			r = -EIO;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int sb__sip_tls_dir(struct sb_sip *sip, char *out, size_t len)
{
	const struct sb_config *cfg = sip->cfg;
	const char *cert = cfg->sip.tls_cert, *key = cfg->sip.tls_key;
	int r;

	if (!cert || !*cert || !key || !*key) {
		sb_error("[sip] tls: listeners need tls_cert and tls_key");
		return -EINVAL;
	}
	if ((size_t)snprintf(out, len, "%s/sip-tls", cfg->general.data_dir) >= len)
		return -ENAMETOOLONG;
	if (mkdir(cfg->general.data_dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return -errno;
	r = write_pem(out, "agent.pem", (const char *const[]){key, cert, NULL});
	if (r == 0)
		r = write_pem(out, "cafile.pem", (const char *const[]){cert, NULL});
	if (r < 0)
		sb_error("[sip] tls_cert %s, tls_key %s: cannot prepare %s: %s", cert, key, out,
			 strerror(-r));
	return r;
}
