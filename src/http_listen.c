/* http_listen.c - the http_* settings checked, apart from the server so
 * that config.c (and so dosipsctl) needs nothing of libmicrohttpd. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static bool sa_loopback(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static int fill_addr(struct http_addr *a, const char *host, unsigned port)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)&a->sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->sa;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*v6);
	} else {
		return -EINVAL;
	}
	a->loopback = sa_loopback(&a->sa);
	return 0;
}

int http_listen_parse(const char *s, struct http_addr out[2], const char **why)
{
	char host[INET6_ADDRSTRLEN + 2], *end;
	const char *colon = strrchr(s, ':'), *ps = colon ? colon + 1 : s;
	unsigned long port = strtoul(ps, &end, 10);
	size_t hl = colon ? (size_t)(colon - s) : 0;

	*why = "expected PORT, ADDRESS:PORT or [IPV6]:PORT";
	if (!*ps || *end || *ps < '0' || *ps > '9' || port < 1 || port > 65535)
		return -EINVAL;
	if (!colon) {
		fill_addr(&out[0], "127.0.0.1", (unsigned)port);
		fill_addr(&out[1], "::1", (unsigned)port);
		return 2;
	}
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	} else if (memchr(s, ':', hl)) {
		return -EINVAL;  /* an IPv6 address needs its brackets */
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	return fill_addr(&out[0], host, (unsigned)port) < 0 ? -EINVAL : 1;
}

int http_cfg_check(const struct config *cfg, char *err, size_t errlen)
{
	struct http_addr a[2];
	const char *why;
	int n;

	if (!*cfg->http_listen)
		return 0;
	if ((n = http_listen_parse(cfg->http_listen, a, &why)) < 0) {
		snprintf(err, errlen, "http_listen %s: %s", cfg->http_listen, why);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (!a[i].loopback && !*cfg->http_tokens) {
			snprintf(err, errlen, "http_listen %s is not a loopback address: "
				 "set http_tokens", cfg->http_listen);
			return -EINVAL;
		}
	}
	return 0;
}
