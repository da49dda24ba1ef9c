/**
 * @file sid.h  Identifiers in Twilio's format (call, stream, account SIDs)
 */
#ifndef CB_SID_H
#define CB_SID_H

#define SID_LEN 34   /**< two letters + 32 hex characters */

void sid_random(char *sid, const char *prefix);
void sid_from_name(char *sid, const char *prefix, const char *name);

#endif
