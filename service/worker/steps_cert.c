/*
 * steps_cert.c: the CA side after the values are served: answering the
 * challenges, waiting for the authorizations, finalizing with a new key, and
 * downloading and storing the certificate.
 *
 * As in issue/engine.c every challenge is answered before any authorization is
 * polled. A claim that resumes at respond or validate re-reads each authorization
 * first, so a challenge the crashed attempt already answered is not answered
 * again. Waits are cut into chunks of WK_CHUNK_S seconds so a stopping process or
 * a lost lease is noticed within that time.
 *
 * The certificate key is made at finalize and sealed into jobs.data (aad
 * "jobs:<id>:certificate_key") before the CSR is sent: a claim that resumes an
 * order that is processing or valid still has the key of its certificate. The
 * final transaction stores the version (key sealed for its row) and removes the
 * job's copy.
 */
#include "worker/worker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store/cert_issued.h"
#include "util/b64.h"
#include "util/clock.h"

static const char *chal_str(const json_t *e, const char *k)
{
	return json_string_value(json_object_get(e, k));
}

/* On resume: true when the challenge still needs an answer. */
static wk_rc needs_answer(wk_job *j, const json_t *e, bool *answer)
{
	cf_acme_authz a = {0};
	wk_rc rc = WK_NEXT;

	*answer = true;
	if (!j->resumed)
		return WK_NEXT;
	if (cf_acme_authz_get(j->w->client, chal_str(e, "authz"), &a, &j->err) != 0)
		rc = wk_err(j);
	else if (a.status != CF_ACME_PENDING && a.status != CF_ACME_VALID)
		rc = wk_fail(j, CF_ERR_PERMANENT, "authorization of %s is %s", chal_str(e, "name"),
			     cf_acme_status_name(a.status));
	else
		*answer = a.status == CF_ACME_PENDING && a.chall_status == CF_ACME_PENDING;
	cf_acme_authz_free(&a);
	return rc;
}

wk_rc wk_st_respond(wk_job *j)
{
	const json_t *chs = json_object_get(j->data, "challenges"), *e;
	size_t i, answered = 0;
	bool answer;
	wk_rc rc;

	if ((rc = wk_account_ensure(j)) != WK_NEXT)
		return rc;
	json_array_foreach(chs, i, e) {
		if ((rc = wk_check(j)) != WK_NEXT || (rc = needs_answer(j, e, &answer)) != WK_NEXT)
			return rc;
		if (!answer)
			continue;
		if (cf_acme_challenge_respond(j->w->client, chal_str(e, "chall"), NULL, &j->err) != 0)
			return wk_err(j);
		answered++;
	}
	return wk_step_done(j, NULL, "%zu challenges answered", answered);
}

/* Polls one authorization until valid, in chunks, until the deadline. */
static wk_rc poll_authz(wk_job *j, const char *url, time_t deadline)
{
	cf_acme_authz a = {0};
	wk_rc rc;
	int r;

	for (;;) {
		time_t chunk = time(NULL) + WK_CHUNK_S;

		if ((rc = wk_check(j)) != WK_NEXT)
			break;
		if (wk_issuer_is_paused(j)) { /* paused by another worker: stop asking */
			rc = wk_fail(j, CF_ERR_TRANSIENT, "issuer %s is paused", j->iss.name);
			break;
		}
		r = cf_acme_authz_poll(j->w->client, url, chunk < deadline ? chunk : deadline, &a,
				       &j->err);
		if (r == 0 || j->err.cls == CF_ERR_PERMANENT || a.status != CF_ACME_PENDING ||
		    time(NULL) >= deadline) {
			rc = r == 0 ? WK_NEXT : wk_err(j);
			break;
		}
		cf_err_clear(&j->err); /* still pending after this chunk */
	}
	cf_acme_authz_free(&a);
	return rc;
}

wk_rc wk_st_validate(wk_job *j)
{
	const json_t *chs = json_object_get(j->data, "challenges"), *e;
	time_t deadline = time(NULL) + WK_VALIDATE_S;
	size_t i;
	wk_rc rc;

	if ((rc = wk_account_ensure(j)) != WK_NEXT)
		return rc;
	json_array_foreach(chs, i, e)
		if ((rc = poll_authz(j, chal_str(e, "authz"), deadline)) != WK_NEXT) {
			if (rc == WK_ERR && j->err.cls == CF_ERR_PERMANENT)
				wk_issuer_validation_failed(j, chal_str(e, "name"));
			return rc;
		}
	return wk_step_done(j, NULL, "%zu authorizations valid", json_array_size(chs));
}

/* The job's sealed copy of the certificate key, if finalize made one. */
static cf_key *key_from_data(wk_job *j)
{
	const char *b64 = json_string_value(json_object_get(j->data, "key"));
	uint8_t *blob = NULL;
	size_t len = 0;
	cf_buf pem = {0};
	char aad[96];
	cf_key *k = NULL;

	if (b64 == NULL)
		return NULL;
	snprintf(aad, sizeof(aad), "jobs:%s:certificate_key", j->cl.ref.id);
	if ((blob = cf_b64_decode(b64, &len)) != NULL &&
	    cf_unseal(j->w->app->master_key, aad, blob, len, &pem, &j->err) == 0)
		k = cf_key_from_pem((const char *)pem.data, pem.len, &j->err);
	cf_buf_free_secret(&pem);
	free(blob);
	return k;
}

/* Makes the certificate key (or takes the saved one) and the CSR; a new key is
 * saved sealed in jobs.data before the CSR leaves. */
static wk_rc key_and_csr(wk_job *j, cf_buf *csr)
{
	cf_key *saved = key_from_data(j);
	char aad[96], *pem = NULL, *b64 = NULL;
	cf_buf sealed = {0};
	wk_rc rc = WK_NEXT;

	if (saved == NULL && json_object_get(j->data, "key") != NULL)
		return wk_fail(j, CF_ERR_PERMANENT, "the job's saved key does not open: %s",
			       j->err.msg);
	if (cf_issue_key_and_csr(j->key_type, saved, j->w->acct.key, j->names, j->nnames,
				 &j->cert_key, csr, &j->err) != 0)
		rc = wk_err(j);
	else if (saved == NULL) {
		snprintf(aad, sizeof(aad), "jobs:%s:certificate_key", j->cl.ref.id);
		if ((pem = cf_key_to_pem(j->cert_key, &j->err)) == NULL ||
		    cf_seal(j->w->app->master_key, aad, pem, strlen(pem), &sealed, &j->err) != 0 ||
		    (b64 = cf_b64_encode(sealed.data, sealed.len)) == NULL)
			rc = wk_fail(j, CF_ERR_TRANSIENT, "sealing the key: %s", j->err.msg);
		else
			json_object_set_new(j->data, "key", json_string(b64));
		if (rc == WK_NEXT)
			rc = wk_write(j, NULL, WK_EV(FINALIZE), false, NULL,
				      "new %s key sealed in the job", cf_key_type_name(j->key_type));
	}
	cf_key_free(saved);
	cf_secret_free(j->cert_key_pem);
	j->cert_key_pem = pem; /* the final write stores it sealed again: encoded once */
	cf_buf_free(&sealed);
	free(b64);
	return rc;
}

/* Polls a processing order until valid, in chunks. */
static wk_rc poll_order(wk_job *j, time_t deadline)
{
	int r;
	wk_rc rc;

	while (j->order.status == CF_ACME_PROCESSING || j->order.status == CF_ACME_READY) {
		time_t chunk = time(NULL) + WK_CHUNK_S;

		if ((rc = wk_check(j)) != WK_NEXT)
			return rc;
		if (wk_issuer_is_paused(j))
			return wk_fail(j, CF_ERR_TRANSIENT, "issuer %s is paused", j->iss.name);
		r = cf_acme_order_poll(j->w->client, j->order.url, chunk < deadline ? chunk : deadline,
				       &j->order, &j->err);
		if (r != 0 && (j->err.cls == CF_ERR_PERMANENT || time(NULL) >= deadline))
			return wk_err(j);
		if (r == 0 && j->order.status == CF_ACME_READY)
			return wk_fail(j, CF_ERR_TRANSIENT, "order %s is ready again after "
				       "finalize", j->order.url);
		cf_err_clear(&j->err);
	}
	return WK_NEXT;
}

wk_rc wk_st_finalize(wk_job *j)
{
	time_t deadline = time(NULL) + WK_VALIDATE_S;
	cf_buf csr = {0};
	wk_rc rc;

	if ((rc = wk_account_ensure(j)) != WK_NEXT || (rc = wk_order_read(j)) != WK_NEXT)
		goto out;
	if (j->order.status == CF_ACME_READY) {
		if ((rc = key_and_csr(j, &csr)) != WK_NEXT)
			goto out;
		if (cf_acme_order_finalize(j->w->client, &j->order, csr.data, csr.len, &j->order,
					   &j->err) != 0) {
			rc = wk_err(j);
			goto out;
		}
	}
	if ((rc = poll_order(j, deadline)) != WK_NEXT)
		goto out;
	if (j->order.status != CF_ACME_VALID || j->order.cert_url == NULL) {
		rc = wk_fail(j, CF_ERR_PERMANENT, "order %s is %s, not valid, after finalize",
			     j->order.url, cf_acme_status_name(j->order.status));
		cf_err_set_problem(&j->err, j->order.problem);
		goto out;
	}
	rc = wk_step_done(j, NULL, "%s key, order valid", cf_key_type_name(j->key_type));
out:
	cf_buf_free(&csr);
	return rc;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The job's names sorted and joined by ' ': the duplicate_sets key. Caller
 * frees; NULL when out of memory. */
char *wk_name_set(const wk_job *j)
{
	const char **v = cf_issue_name_ptrs(j->names, j->nnames);
	size_t len = 1;
	char *out = NULL;

	if (v == NULL)
		return NULL;
	qsort(v, j->nnames, sizeof(char *), cmp_name);
	for (size_t i = 0; i < j->nnames; i++)
		len += strlen(v[i]) + 1;
	if ((out = calloc(1, len)) != NULL)
		for (size_t i = 0; i < j->nnames; i++) {
			if (i > 0)
				strcat(out, " ");
			strcat(out, v[i]);
		}
	free(v);
	return out;
}


/* The version row and the job's completion, in one fenced transaction. */
static wk_rc store(wk_job *j, const cf_acme_cert *cert)
{
	cf_job_change ch = CF_JOB_KEEP;
	cf_issued in = {.master_key = j->w->app->master_key,
			.certificate_id = j->cl.certificate_id, .leaf_pem = cert->leaf,
			.chain_pem = cert->chain ? cert->chain : "", .info = &cert->leaf_info};
	wk_issued_arg hook = {j, &in};
	char *pem = j->cert_key_pem ? NULL : cf_key_to_pem(j->cert_key, &j->err);
	char *set = wk_name_set(j);
	struct tm tm;
	char until[32];
	wk_rc rc;

	if ((pem == NULL && j->cert_key_pem == NULL) || set == NULL) {
		bool no_key = pem == NULL && j->cert_key_pem == NULL;

		free(set);
		cf_secret_free(pem);
		return no_key ? wk_err(j) : wk_oom(j);
	}
	in.key_pem = pem ? pem : j->cert_key_pem;
	in.issuer = j->iss_loaded ? j->iss.name : NULL;
	in.profile = json_string_value(json_object_get(j->data, "profile"));
	in.name_set = set;
	json_object_del(j->data, "key");
	ch.state = CF_JOB_ISSUED;
	ch.step = CF_STEP_DOWNLOAD;
	ch.finished = true;
	ch.hook = wk_issued_hook; /* cf_issued_version_hook + the "issued" webhook event */
	ch.hook_arg = &hook;
	rc = wk_write(j, &ch, "store", false, NULL, "certificate stored as a new version "
		      "(issuer %s)", in.issuer ? in.issuer : "?");
	cf_secret_free(pem);
	free(set);
	if (rc != WK_NEXT)
		return rc;
	gmtime_r(&in.not_after, &tm);
	strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cf_log(CF_LOG_INFO, "job.stored", "certificate %s version %d, serial %s, not after %s",
	       j->cl.certificate_id, in.version, in.serial, until);
	return WK_DONE;
}

wk_rc wk_st_download(wk_job *j)
{
	cf_acme_cert cert = {0};
	wk_rc rc;

	if ((rc = wk_account_ensure(j)) != WK_NEXT ||
	    (j->order.status != CF_ACME_VALID && (rc = wk_order_read(j)) != WK_NEXT))
		goto out;
	if (j->cert_key == NULL && (j->cert_key = key_from_data(j)) == NULL) {
		rc = wk_fail(j, CF_ERR_PERMANENT, "the certificate key is gone: %s", j->err.msg);
		goto out;
	}
	if (j->order.cert_url == NULL) {
		rc = wk_fail(j, CF_ERR_PERMANENT, "order %s has no certificate", j->order.url);
		goto out;
	}
	if (cf_acme_cert_download(j->w->client, j->order.cert_url, NULL, &cert, &j->err) != 0) {
		rc = wk_err(j);
		goto out;
	}
	if (!cf_key_same_public(cert.leaf_key, j->cert_key)) {
		rc = wk_fail(j, CF_ERR_PERMANENT, "the certificate from %s does not match the key",
			     j->order.cert_url);
		goto out;
	}
	if ((rc = wk_note(j, WK_EV(DOWNLOAD), true, "chain issued by %s (%zu alternates)",
			  cert.top_issuer ? cert.top_issuer : "?", cert.nalternates)) == WK_NEXT)
		rc = store(j, &cert);
out:
	cf_acme_cert_free(&cert);
	return rc;
}

void wk_deactivate(wk_job *j)
{
	const json_t *chs = json_object_get(j->data, "challenges"), *e;
	long long t0 = j->t0;
	size_t i, n = 0;
	cf_err e1 = {0};

	j->t0 = cf_clock_mono_ms();
	json_array_foreach(chs, i, e) {
		if (cf_acme_authz_deactivate(j->w->client, chal_str(e, "authz"), &e1) == 0)
			n++;
		cf_err_clear(&e1);
	}
	if (json_array_size(chs) > 0)
		wk_note(j, "deactivate", true, "%zu of %zu authorizations deactivated", n,
			json_array_size(chs)); /* written with the failure */
	j->t0 = t0;
}
