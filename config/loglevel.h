/**
 * @file loglevel.h  Log levels: one table for the settings file's names
 *                   (log_level) and the tag of every log line
 */
#ifndef CB_LOGLEVEL_H
#define CB_LOGLEVEL_H

#define LOG_LEVEL_TABLE(X)          \
	X(LOGL_DEBUG,  "debug")     \
	X(LOGL_INFO,   "info")      \
	X(LOGL_NOTICE, "notice")    \
	X(LOGL_WARN,   "warn")      \
	X(LOGL_ERROR,  "error")

/** Log levels, least severe first */
enum log_level {
#define X(id, name) id,
	LOG_LEVEL_TABLE(X)
#undef X
	LOG_LEVEL_COUNT
};

const char *loglevel_name(enum log_level l);
int loglevel_parse(const char *name, enum log_level *l);

#endif
