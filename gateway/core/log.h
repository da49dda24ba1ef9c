/**
 * @file log.h  Process-wide logging
 *
 * One line per event on stderr: time, level, thread name, message. Safe from
 * any thread (a single write(2) per line). Formats are libre's (re_fmt.h):
 * printf's plus %m (errno text), %J (address and port), %r (struct pl)
 * and %H (a print handler). Never pass secrets to it.
 */
#ifndef CB_LOG_H
#define CB_LOG_H

#include "loglevel.h"

void log_set_level(enum log_level lvl);
void log_thread_name(const char *name);
void log_msg(enum log_level lvl, const char *fmt, ...);

#define log_debug(...)  log_msg(LOGL_DEBUG, __VA_ARGS__)
#define log_info(...)   log_msg(LOGL_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOGL_NOTICE, __VA_ARGS__)
#define log_warn(...)   log_msg(LOGL_WARN, __VA_ARGS__)
#define log_error(...)  log_msg(LOGL_ERROR, __VA_ARGS__)

#endif
