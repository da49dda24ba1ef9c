/**
 * @file e164.c  E.164 number validation and normalisation
 *
 * A valid number is "+" then 8 to 15 digits, the first digit not 0.
 * Input may carry visual separators, which are removed: spaces, tabs,
 * '-', '.', '(' and ')'. Nothing else is rewritten: a number without "+"
 * is refused, and so is a leading "00" international prefix, because the
 * gateway cannot know which dialling plan the writer had in mind ("0044..."
 * from Europe, "011..." from North America). Refusing is explicit; guessing
 * would route calls to the wrong number.
 */
#include <string.h>
#include <errno.h>
#include "model.h"


enum {
	E164_DIGITS_MIN = 8,
	E164_DIGITS_MAX = 15,
};


static bool is_separator(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '-' || ch == '.' ||
		ch == '(' || ch == ')';
}


/**
 * Validate and normalise an E.164 number, with the reason when invalid
 *
 * @param out    Output buffer for the normalised number (may be NULL to
 *               only validate)
 * @param outsz  Size of out [bytes]; E164_SIZE is always enough
 * @param in     Input, e.g. "+1 (415) 555-1234"
 * @param why    Set to a static reason string when invalid (may be NULL)
 *
 * @return 0 if valid, EINVAL if invalid, EOVERFLOW if out is too small
 */
int e164_parse(char *out, size_t outsz, const char *in, const char **why)
{
	char digits[E164_DIGITS_MAX + 1];
	const char *reason = NULL;
	bool plus = false;
	size_t n = 0;
	int err = EINVAL;

	if (!in) {
		reason = "is missing";
		goto out;
	}

	for (const char *p = in; *p; p++) {
		char ch = *p;

		if (is_separator(ch))
			continue;

		if (ch == '+') {
			if (plus || n) {
				reason = "has '+' after the start";
				goto out;
			}
			plus = true;
			continue;
		}

		if (ch < '0' || ch > '9') {
			reason = "may contain only '+', digits and the "
				"separators space - . ( )";
			goto out;
		}

		if (n == E164_DIGITS_MAX) {
			reason = "has more than 15 digits";
			goto out;
		}
		digits[n++] = ch;
	}

	if (!plus && n >= 2 && digits[0] == '0' && digits[1] == '0') {
		reason = "must start with '+': write +<country code> instead "
			"of the 00 prefix";
		goto out;
	}
	if (!plus) {
		reason = n ? "must start with '+' and the country code"
			: "is empty";
		goto out;
	}
	if (n < E164_DIGITS_MIN) {
		reason = "has fewer than 8 digits";
		goto out;
	}
	if (digits[0] == '0') {
		reason = "must not start with +0";
		goto out;
	}

	if (out) {
		if (outsz < n + 2) {
			reason = "does not fit the output buffer";
			err = EOVERFLOW;
			goto out;
		}
		out[0] = '+';
		memcpy(out + 1, digits, n);
		out[n + 1] = '\0';
	}
	err = 0;

 out:
	if (why)
		*why = reason;

	return err;
}


/**
 * Validate and normalise an E.164 number
 *
 * @param out    Output buffer for "+" and the digits
 * @param outsz  Size of out [bytes]; E164_SIZE is always enough
 * @param in     Input, e.g. "+1 415.555.1234" (no sip:/tel: prefix)
 *
 * @return 0 if valid, EINVAL if invalid, EOVERFLOW if out is too small
 */
int e164_normalize(char *out, size_t outsz, const char *in)
{
	return e164_parse(out, outsz, in, NULL);
}
