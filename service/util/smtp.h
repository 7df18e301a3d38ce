/*
 * smtp.h: sending one e-mail message over SMTP with libcurl (the alerts' email
 * channel, worker/alerts.c).
 *
 * TLS is required: smtps:// starts with TLS, smtp:// must upgrade with STARTTLS
 * (CURLOPT_USE_SSL = CURLUSESSL_ALL: a server without STARTTLS is an error, never
 * a plain-text fallback), and the server's certificate is verified against
 * ca_pem (PEM text; NULL: the system's bundle). AUTH uses what the server offers
 * when a username is given. The password is handed to libcurl only; messages
 * never contain it.
 */
#ifndef CERTFLEET_UTIL_SMTP_H
#define CERTFLEET_UTIL_SMTP_H

#include <stddef.h>

#include "util/err.h"

typedef struct cf_smtp_msg {
	const char *url;              /* smtp://host[:port] or smtps://host[:port] */
	const char *username;         /* NULL or "": no AUTH */
	const char *password;
	const char *ca_pem;           /* NULL: the system's CA bundle */
	const char *from;             /* the envelope sender, an address */
	const char *const *to;        /* envelope recipients */
	size_t nto;
	const char *data;             /* the whole RFC 5322 message, CRLF line ends */
	size_t len;
	long timeout_ms;              /* total; <= 0 means 30 s */
} cf_smtp_msg;

/* Sends m. 0 when the server accepted the message; -1 with err otherwise (a
 * refused login or recipient is permanent, no answer transient), and *reply
 * (may be NULL) the server's last SMTP reply code (0 when none). */
CF_MUST_CHECK int cf_smtp_send(const cf_smtp_msg *m, long *reply, cf_err *err);

#endif
