/*
 * ari.c: ACME Renewal Information (RFC 9773): whether the CA offers it, and the
 * suggested renewal window of one certificate.
 *
 * renewalInfo is read with a plain GET of <renewalInfo URL>/<certID> (section
 * 4.1), not a signed POST-as-GET: no nonce and no account are involved, so a
 * client used only for this never signs anything. The answer is
 * {"suggestedWindow": {"start", "end"}, "explanationURL"?} with RFC 3339 times,
 * and a Retry-After header telling when to ask again, which the caller keeps
 * (section 4.3). A window whose end is not after its start is invalid (section
 * 4.2): the caller then treats the answer as an error and plans without ARI.
 */
#include "acme/acme_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cf_acme_renewal_info_free(cf_acme_renewal_info *ri)
{
	if (ri == NULL)
		return;
	free(ri->explanation_url);
	memset(ri, 0, sizeof(*ri));
}

/* n digits at *p into *out; advances *p. */
static int digits(const char **p, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		*out = *out * 10 + (**p - '0');
	}
	return 0;
}

int cf_acme_rfc3339_parse(const char *s, time_t *out)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	const char *p = s;

	if (s == NULL || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return -1;
	if (*p == '.') /* fractions of a second: dropped */
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm) - (time_t)sign * (oh * 3600 + om * 60);
	return 0;
}

int cf_acme_renewal_info_parse(const char *body, size_t len, cf_acme_renewal_info *out,
			       cf_err *err)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const json_t *w = json_object_get(j, "suggestedWindow");
	const char *start = json_string_value(json_object_get(w, "start"));
	const char *end = json_string_value(json_object_get(w, "end"));
	int rc = -1;

	cf_acme_renewal_info_free(out);
	if (!json_is_object(j) || start == NULL || end == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "renewalInfo: no suggestedWindow with start and end");
		goto out;
	}
	if (cf_acme_rfc3339_parse(start, &out->start) != 0 ||
	    cf_acme_rfc3339_parse(end, &out->end) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "renewalInfo: suggestedWindow times are not RFC "
			   "3339 (start \"%.40s\", end \"%.40s\")", start, end);
		goto out;
	}
	if (out->end <= out->start) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "renewalInfo: suggestedWindow ends (%s) before it starts (%s)", end, start);
		goto out;
	}
	out->explanation_url = acme_json_strdup(j, "explanationURL");
	rc = 0;
out:
	json_decref(j);
	return rc;
}

int cf_acme_ari_offered(cf_acme_client *c, cf_err *err)
{
	const cf_acme_directory *d;

	if (cf_acme_client_directory(c, &d, err) != 0)
		return -1;
	return d->renewal_info != NULL && d->renewal_info[0] != '\0';
}

static int ari_get(cf_acme_client *c, const char *url, cf_acme_renewal_info *out, cf_err *err)
{
	acme_resp r = {0};
	long long t0 = cf_clock_mono_ms();
	int rc;

	rc = acme_http_request(&c->http, "GET", url, NULL, NULL, "application/json", &r, err);
	acme_emit(c, CF_ACME_EV_HTTP, "renewalInfo", "GET", url, r.status,
		  (long)(cf_clock_mono_ms() - t0), rc == 0 && r.status < 400,
		  rc ? acme_errmsg(err) : NULL);
	if (rc != 0)
		goto out;
	rc = -1;
	if (r.status != 200) {
		cf_acme_problem_set_err(err, "renewalInfo", r.status, (char *)r.body.data,
					r.body.len);
		out->retry_after_ms = acme_resp_retry_after_ms(&r);
		goto out;
	}
	if (cf_acme_renewal_info_parse((char *)r.body.data, r.body.len, out, err) != 0)
		goto out;
	out->retry_after_ms = acme_resp_retry_after_ms(&r);
	rc = 0;
out:
	acme_resp_free(&r);
	return rc;
}

int cf_acme_renewal_info_get(cf_acme_client *c, const char *cert_id,
			     cf_acme_renewal_info *out, cf_err *err)
{
	long long t0 = cf_clock_mono_ms();
	const cf_acme_directory *d;
	char *url = NULL;
	size_t n;
	int rc = -1;

	cf_acme_renewal_info_free(out);
	if (cf_acme_client_directory(c, &d, err) != 0)
		goto out;
	if (d->renewal_info == NULL || cert_id == NULL || cert_id[0] == '\0' ||
	    strspn(cert_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") !=
		    strlen(cert_id)) {
		cf_err_set(err, CF_ERR_PERMANENT, "renewalInfo: the CA offers none, or the "
			   "certificate id is not base64url");
		goto out;
	}
	n = strlen(d->renewal_info);
	if ((url = malloc(n + strlen(cert_id) + 2)) == NULL) {
		cf_err_oom(err, NULL);
		goto out;
	}
	snprintf(url, n + strlen(cert_id) + 2, "%s%s%s", d->renewal_info,
		 n > 0 && d->renewal_info[n - 1] == '/' ? "" : "/", cert_id);
	rc = ari_get(c, url, out, err);
out:
	rc = acme_step_done(c, "renewalInfo", url, t0, rc, err, NULL);
	free(url);
	return rc;
}
