/* tune.c - settings changed from the page, written into the configuration
 * file's own text so that a person's comments and layout survive.
 *
 * The page applies settings through the reload path with the edited text
 * standing in for the file (config_source.text), so a bad value is
 * refused with the very "file:line: message" that `dosips -n` would give
 * for the file once saved; only an explicit save writes the file, by a
 * rename, so a crash leaves the old file or the new one, never half. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tune.h"

#define TUNE_LINES_MAX 100000

struct lines {
	char **l;
	size_t n, cap;
};

static int lines_insert(struct lines *ls, size_t at, const char *text)
{
	char *s = strdup(text);

	if (!s)
		return -ENOMEM;
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 64;
		char **l = cap > TUNE_LINES_MAX ? NULL : realloc(ls->l, cap * sizeof(*l));

		if (!l) {
			free(s);
			return -ENOMEM;
		}
		ls->l = l;
		ls->cap = cap;
	}
	memmove(&ls->l[at + 1], &ls->l[at], (ls->n - at) * sizeof(*ls->l));
	ls->l[at] = s;
	ls->n++;
	return 0;
}

static void lines_free(struct lines *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		free(ls->l[i]);
	free(ls->l);
}

static const char *skip_blank(const char *s)
{
	return s + strspn(s, " \t");
}

/* The key of a "key = value" line (commented with '#' if commented), or
 * "" when the line is something else. */
static void line_key(const char *line, bool commented, char *key, size_t len)
{
	const char *s = skip_blank(line), *eq;
	size_t n;

	*key = '\0';
	if (commented != (*s == '#'))
		return;
	s = commented ? skip_blank(s + 1) : s;
	if (!(eq = strchr(s, '=')) || *s == '#' || *s == '[')
		return;
	for (n = (size_t)(eq - s); n && (s[n - 1] == ' ' || s[n - 1] == '\t'); n--)
		;
	if (n && n < len && !memchr(s, ' ', n))
		snprintf(key, len, "%.*s", (int)n, s);
}

/* The section a header line opens, or NULL if the line is none. */
static bool line_section(const char *line, char *sec, size_t len)
{
	const char *s = skip_blank(line), *close;

	if (*s != '[' || !(close = strchr(s, ']')))
		return false;
	snprintf(sec, len, "%.*s", (int)(close - s - 1), s + 1);
	return true;
}

/* Where key lives: live line, commented default, header, first section. */
struct spot { long live, commented, header, first; bool live_full; };

static void find_spot(const struct lines *ls, const char *sec, const char *name,
		      const char *full, struct spot *sp)
{
	char cur[96] = "", key[96];

	*sp = (struct spot){ -1, -1, -1, -1, false };
	for (size_t i = 0; i < ls->n; i++) {
		if (line_section(ls->l[i], cur, sizeof(cur))) {
			if (sp->first < 0)
				sp->first = (long)i;
			if (strcmp(cur, sec) == 0)
				sp->header = (long)i;
			continue;
		}
		line_key(ls->l[i], false, key, sizeof(key));
		if ((!strcmp(cur, sec) && !strcmp(key, name)) || (!*cur && !strcmp(key, full))) {
			sp->live = (long)i;
			sp->live_full = !strcmp(key, full) && strcmp(full, name);
		}
		line_key(ls->l[i], true, key, sizeof(key));
		if (!strcmp(cur, sec) && !strcmp(key, name) && sp->commented < 0)
			sp->commented = (long)i;
	}
}

static int set_one(struct lines *ls, const char *full, const char *value)
{
	const char *dot = strchr(full, '.');
	char sec[96] = "", name[100], line[256];
	struct spot sp;
	int r;

	if (dot && (size_t)(dot - full) < sizeof(sec))
		snprintf(sec, sizeof(sec), "%.*s", (int)(dot - full), full);
	snprintf(name, sizeof(name), "%s", dot ? dot + 1 : full);
	snprintf(line, sizeof(line), "%s = %s", name, value);
	find_spot(ls, sec, name, full, &sp);
	if (sp.live >= 0) {
		if (sp.live_full)
			snprintf(line, sizeof(line), "%s = %s", full, value);
		free(ls->l[sp.live]);
		return (ls->l[sp.live] = strdup(line)) ? 0 : -ENOMEM;
	}
	if (sp.commented >= 0)
		return lines_insert(ls, (size_t)sp.commented + 1, line);
	if (sp.header >= 0)
		return lines_insert(ls, (size_t)sp.header + 1, line);
	if (!*sec)
		return lines_insert(ls, sp.first >= 0 ? (size_t)sp.first : ls->n, line);
	snprintf(name, sizeof(name), "[%s]", sec);
	if ((r = lines_insert(ls, ls->n, "")) < 0 || (r = lines_insert(ls, ls->n, name)) < 0)
		return r;
	return lines_insert(ls, ls->n, line);
}

static int split_lines(const char *in, struct lines *ls)
{
	const char *s = in;
	int r;

	while (*s) {
		size_t n = strcspn(s, "\n");
		char *l = strndup(s, n);

		if (!l)
			return -ENOMEM;
		r = lines_insert(ls, ls->n, l);
		free(l);
		if (r < 0)
			return r;
		s += n + (s[n] == '\n');
	}
	return 0;
}

int tune_edit(const char *in, const struct config_setting *set, int n, char **out)
{
	struct lines ls = { 0 };
	size_t total = 1;
	int r = 0;

	for (int i = 0; i < n; i++)
		if (strpbrk(set[i].value, "\n\r#;") || strpbrk(set[i].key, "\n\r#;[]= \t"))
			return -EINVAL;
	if ((r = split_lines(in, &ls)) < 0)
		goto out;
	for (int i = 0; i < n && r == 0; i++)
		r = set_one(&ls, set[i].key, set[i].value);
	for (size_t i = 0; i < ls.n; i++)
		total += strlen(ls.l[i]) + 1;
	if (r == 0 && !(*out = malloc(total)))
		r = -ENOMEM;
	if (r == 0) {
		char *p = *out;

		for (size_t i = 0; i < ls.n; i++)
			p += sprintf(p, "%s\n", ls.l[i]);
		*p = '\0';
	}
out:
	lines_free(&ls);
	return r;
}

int tune_read(const char *path, char **text)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	int r = 0;

	if (!f)
		return errno == ENOENT ? ((*text = strdup("")) ? 0 : -ENOMEM) : -errno;
	if (!(buf = malloc(1 << 20)))
		r = -ENOMEM;
	else if ((len = fread(buf, 1, (1 << 20) - 1, f)) == (1 << 20) - 1 || ferror(f))
		r = -EFBIG;
	fclose(f);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*text = buf;
	return 0;
}

int tune_save(const char *path, const char *text, char *err, size_t errlen)
{
	char tmp[CONFIG_PATH_MAX + 16];
	struct stat st;
	size_t len = strlen(text);
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tune~", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  stat(path, &st) == 0 ? st.st_mode & 07777 : 0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		snprintf(err, errlen, "cannot save %s: %s", path, strerror(-r));
	}
	return r;
}
