/* SPDX-License-Identifier: MIT */
/* Portable error codes: names and descriptions from the one table in cport.h. */

#include "internal.h"

#include <stdio.h>

struct err_entry {
	int code;
	const char *name;
	const char *text;
};

static const struct err_entry err_table[] = {
#define ERR_ROW(name, lv, text) {CPORT_##name, #name, text},
	CPORT_ERRNO_MAP(ERR_ROW)
#undef ERR_ROW
};

static const struct err_entry *err_find(int64_t code)
{
	for (size_t i = 0; i < sizeof err_table / sizeof *err_table; i++)
		if (err_table[i].code == code)
			return &err_table[i];
	return NULL;
}

const char *cport_strerror(int64_t code)
{
	if (code == 0)
		return "success";
	const struct err_entry *e = err_find(code);
	return e ? e->text : "unknown error";
}

const char *cport_err_name(int64_t code)
{
	if (code == 0)
		return "OK";
	const struct err_entry *e = err_find(code);
	return e ? e->name : "UNKNOWN";
}

/* Write "backend: what: ENAME" into why, for cport_backend_reason. */
void cport__why(char *why, size_t n, const char *backend, const char *what, int err)
{
	snprintf(why, n, "%s: %s: %s", backend, what, cport_err_name(err));
}
