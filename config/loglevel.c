/**
 * @file loglevel.c  Log level names
 */
#include <errno.h>
#include <string.h>
#include "loglevel.h"

static const char *const names[] = {
#define X(id, name) [id] = name,
	LOG_LEVEL_TABLE(X)
#undef X
};


/** The level's name ("debug" ... "error"), "?" for no level */
const char *loglevel_name(enum log_level l)
{
	return (unsigned)l < LOG_LEVEL_COUNT ? names[l] : "?";
}


/**
 * A level by its name, as the settings file writes it
 *
 * @param name  "debug", "info", "notice", "warn" or "error"
 * @param l     Set to the level
 *
 * @return 0 if success, EINVAL for another name
 */
int loglevel_parse(const char *name, enum log_level *l)
{
	for (unsigned i = 0; name && i < LOG_LEVEL_COUNT; i++) {
		if (!strcmp(name, names[i])) {
			*l = (enum log_level)i;
			return 0;
		}
	}

	return EINVAL;
}
