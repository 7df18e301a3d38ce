/*
 * smtp.c: one message over SMTP with libcurl; see smtp.h. libcurl speaks the
 * protocol (EHLO, STARTTLS, AUTH, MAIL FROM, RCPT TO, DATA with dot-stuffing);
 * this file only feeds it the message and maps its outcome.
 */
#include "util/smtp.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

typedef struct reader {
	const char *p;
	size_t left;
} reader;

static size_t read_cb(char *buf, size_t size, size_t n, void *arg)
{
	reader *r = arg;
	size_t k = size * n < r->left ? size * n : r->left;

	memcpy(buf, r->p, k);
	r->p += k;
	r->left -= k;
	return k;
}

int cf_smtp_send(const cf_smtp_msg *m, long *reply, cf_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", from[320];
	struct curl_slist *rcpt = NULL;
	reader rd = {m->data, m->len};
	struct curl_blob ca = {0};
	CURL *c = NULL;
	CURLcode code;
	long r = 0;
	int rc = -1;

	if (reply != NULL)
		*reply = 0;
	if (strncmp(m->url, "smtp://", 7) != 0 && strncmp(m->url, "smtps://", 8) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "smtp: the URL must be smtp:// or "
				  "smtps://");
	for (size_t i = 0; i < m->nto; i++) {
		struct curl_slist *n = curl_slist_append(rcpt, m->to[i]);

		if (n == NULL) {
			cf_err_oom(err, "smtp recipients");
			goto out;
		}
		rcpt = n;
	}
	if ((c = curl_easy_init()) == NULL) {
		cf_err_oom(err, "smtp: curl_easy_init");
		goto out;
	}
	snprintf(from, sizeof(from), "<%s>", m->from);
	curl_easy_setopt(c, CURLOPT_URL, m->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (m->ca_pem != NULL && m->ca_pem[0] != '\0') {
		ca.data = (void *)m->ca_pem;
		ca.len = strlen(m->ca_pem);
		ca.flags = CURL_BLOB_COPY;
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
	}
	if (m->username != NULL && m->username[0] != '\0') {
		curl_easy_setopt(c, CURLOPT_USERNAME, m->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, m->password ? m->password : "");
		/* the credentials in the AUTH command itself (RFC 4954 initial response):
		 * one round trip less, and some servers (aiosmtpd) stall on the
		 * challenge that would come otherwise */
		curl_easy_setopt(c, CURLOPT_SASL_IR, 1L);
	}
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &rd);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, m->timeout_ms > 0 ? m->timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	code = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r);
	if (reply != NULL)
		*reply = r;
	if (code == CURLE_OK) {
		rc = 0;
		goto out;
	}
	cf_err_set(err, code == CURLE_LOGIN_DENIED || code == CURLE_RECV_ERROR ||
			       code == CURLE_COULDNT_CONNECT || code == CURLE_OPERATION_TIMEDOUT ||
			       code == CURLE_SEND_ERROR || code == CURLE_GOT_NOTHING ||
			       code == CURLE_SSL_CONNECT_ERROR || code == CURLE_COULDNT_RESOLVE_HOST
		   ? CF_ERR_TRANSIENT : CF_ERR_PERMANENT,
		   "smtp: %s%s%s (reply %ld)", curl_easy_strerror(code), errbuf[0] ? ": " : "",
		   errbuf, r);
out:
	if (c != NULL)
		curl_easy_cleanup(c);
	curl_slist_free_all(rcpt);
	return rc;
}
