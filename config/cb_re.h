/**
 * @file cb_re.h  Include libre and jansson in the same file
 *
 * libre's <re.h> pulls in re_json.h, whose enum json_typ declares
 * JSON_STRING and JSON_NULL, as does jansson's enum json_type: a file that
 * includes both fails to compile. Include this header instead of <re.h>
 * and <jansson.h> (and before any other header that includes them): it
 * renames libre's enumerators to RE_JSON_*, which nothing in callbridge
 * uses, and then includes jansson.
 */
#ifndef CB_RE_H
#define CB_RE_H

#ifdef JANSSON_H
#error "cb_re.h must be included before <jansson.h>"
#endif

#define JSON_STRING RE_JSON_STRING
#define JSON_INT    RE_JSON_INT
#define JSON_DOUBLE RE_JSON_DOUBLE
#define JSON_BOOL   RE_JSON_BOOL
#define JSON_NULL   RE_JSON_NULL
#include <re.h>
#undef JSON_STRING
#undef JSON_INT
#undef JSON_DOUBLE
#undef JSON_BOOL
#undef JSON_NULL

#include <jansson.h>

#endif
