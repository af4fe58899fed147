/* fw.c - one place that checks arguments and dispatches to a backend. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fw_backend.h"

/* A prefix a backend can take: sane length for its family, host bits clear. */
static int fw_check_prefix(const struct ip_prefix *p, struct ip_prefix *out)
{
	if (p->len > 128 || (addr_is_v4(&p->addr) && p->len < 96))
		return -EINVAL;
	*out = *p;
	addr_mask(&out->addr, out->len);
	return 0;
}

int fw_ban(struct fw *fw, const struct ip_prefix *p, uint64_t timeout_ms, const char *note)
{
	struct ip_prefix q;
	int r;

	if (timeout_ms == 0 || (r = fw_check_prefix(p, &q)) < 0 ||
	    (note && strlen(note) >= FW_NOTE_MAX))
		return -EINVAL;
	if ((r = fw->ops->ban(fw, &q, timeout_ms, note)) == 0)
		fw->st.bans++;
	return r;
}

int fw_unban(struct fw *fw, const struct ip_prefix *p)
{
	struct ip_prefix q;
	int r;

	if ((r = fw_check_prefix(p, &q)) < 0)
		return r;
	if ((r = fw->ops->unban(fw, &q)) == 0)
		fw->st.unbans++;
	return r;
}

int fw_set_allow(struct fw *fw, const struct ip_prefix *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i].len > 128 || (addr_is_v4(&p[i].addr) && p[i].len < 96))
			return -EINVAL;
	return fw->ops->set_allow(fw, p, n);
}

int fw_commit(struct fw *fw)
{
	return fw->ops->commit(fw);
}

void fw_on_result(struct fw *fw, fw_result_cb cb, void *ctx)
{
	fw->result = cb;
	fw->result_ctx = ctx;
}

void fw_report(struct fw *fw, enum fw_op op, const struct ip_prefix *p, int err,
	       const char *why)
{
	if (fw->result)
		fw->result(&(struct fw_result){ op, *p, err, why }, fw->result_ctx);
}

int fw_adopt(struct fw *fw, fw_elem_cb cb, void *ctx)
{
	return fw->ops->adopt(fw, cb, ctx);
}

int fw_monitor_fd(struct fw *fw)
{
	return fw->ops->monitor_fd(fw);
}

int fw_monitor_check(struct fw *fw)
{
	return fw->ops->monitor_check(fw);
}

void fw_monitor_missed(struct fw *fw)
{
	if (fw->ops->monitor_missed)
		fw->ops->monitor_missed(fw);
}

int fw_flush(struct fw *fw)
{
	return fw->ops->flush(fw);
}

void fw_close(struct fw *fw)
{
	if (fw)
		fw->ops->close(fw);
}

void fw_get_stats(const struct fw *fw, struct fw_stats *st)
{
	*st = fw->st;
}

static const char *const fw_hook_names[] = {
	[FW_HOOK_INGRESS] = "ingress", [FW_HOOK_PREROUTING] = "prerouting",
	[FW_HOOK_INPUT] = "input", [FW_HOOK_FORWARD] = "forward",
};

int fw_hook_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(fw_hook_names) / sizeof(fw_hook_names[0]); i++)
		if (strcmp(s, fw_hook_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *fw_hook_name(enum fw_hook h)
{
	return (unsigned)h < sizeof(fw_hook_names) / sizeof(fw_hook_names[0]) ?
	       fw_hook_names[h] : "unknown";
}
