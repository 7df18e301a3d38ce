/*
 * alerts.c: alerts for people: rendering and the channels (see alerts.h).
 *
 * One alert body (the JSON of its webhook_deliveries row: {"id", "event":
 * "alert", "alert": kind, "rule", "at", ...the kind's payload}) is rendered as a
 * title and a list of facts, and those as e-mail text, Slack blocks or a Teams
 * card. The channel settings are read, and its secrets unsealed, at every
 * attempt: a rule fixed after a failure (a wrong SMTP password) is used by the
 * next retry; the secrets are wiped after the attempt.
 *
 * Error messages of a failed attempt go to logs and to webhook_deliveries
 * (last_error): they name the channel and the server's answer, never a
 * password, and never a Slack or Teams URL (the URL is the credential there).
 */
#include "worker/alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "providers/api_http.h"
#include "store/alerts.h"
#include "util/buf.h"
#include "util/smtp.h"

#define ALERT_HTTP_TIMEOUT_MS 10000
#define ALERT_SMTP_TIMEOUT_MS 30000
#define ALERT_LINE_MAX 900
#define ALERT_MAX_RCPT 32

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static void fact(json_t *facts, const char *name, const char *value)
{
	if (value != NULL && value[0] != '\0')
		json_array_append_new(facts, json_pack("[s, s]", name, value));
}

/* "a, b, c" of a JSON array of strings; caller frees. */
static char *joined(const json_t *a)
{
	cf_buf b = {0};
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (cf_buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(v) ?
				  json_string_value(v) : "") != 0)
			break;
	if (cf_buf_append(&b, "", 1) != 0) {
		cf_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

char *wk_alert_title(const json_t *a)
{
	const char *kind = str(a, "alert");
	char buf[512];

	if (strcmp(kind, "issuance_failed") == 0)
		snprintf(buf, sizeof(buf), "certfleet: %s of %s failed",
			 strcmp(str(a, "job_kind"), "renew") == 0 ? "renewal" : "issuance",
			 str(a, "certificate"));
	else if (strcmp(kind, "expiring") == 0)
		snprintf(buf, sizeof(buf), "certfleet: %s expires in %lld days with no "
			 "successful renewal", str(a, "certificate"),
			 (long long)json_integer_value(json_object_get(a, "days_left")));
	else if (strcmp(kind, "issuer_paused") == 0)
		snprintf(buf, sizeof(buf), "certfleet: issuer %s paused until %s", str(a, "issuer"),
			 str(a, "paused_until"));
	else if (strcmp(kind, "rollout_paused") == 0)
		snprintf(buf, sizeof(buf), "certfleet: rollout %s paused", str(a, "rollout"));
	else if (strcmp(kind, "digest") == 0)
		snprintf(buf, sizeof(buf), "certfleet: digest of %s: %zu certificates at risk, "
			 "%zu issuers paused", str(a, "day"),
			 json_array_size(json_object_get(a, "at_risk")),
			 json_array_size(json_object_get(a, "paused_issuers")));
	else
		snprintf(buf, sizeof(buf), "certfleet: alert %s", kind);
	/* a title goes into a mail header: no line breaks */
	for (char *p = buf; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	return strdup(buf);
}

/* The facts of a job's problem (jobs.problem): the step, the detail, the name
 * that failed and the alias check's verdict for it, the CA's problem. */
static void problem_facts(json_t *facts, const json_t *p, const char *prefix)
{
	const json_t *ac = json_object_get(p, "alias_check"), *ca = json_object_get(p, "ca_problem");
	char name[64], line[1200];

	if (!json_is_object(p))
		return;
	snprintf(name, sizeof(name), "%sStep", prefix);
	fact(facts, name, str(p, "step"));
	snprintf(name, sizeof(name), "%sProblem", prefix);
	fact(facts, name, str(p, "detail"));
	snprintf(name, sizeof(name), "%sFailing name", prefix);
	fact(facts, name, str(p, "name"));
	if (json_is_object(ac)) {
		snprintf(line, sizeof(line), "%s%s%s", str(ac, "verdict"),
			 str(ac, "detail")[0] ? ": " : "", str(ac, "detail"));
		snprintf(name, sizeof(name), "%sAlias verdict", prefix);
		fact(facts, name, line);
		snprintf(name, sizeof(name), "%sAlias target", prefix);
		fact(facts, name, str(ac, "target"));
	}
	if (json_is_object(ca)) {
		snprintf(line, sizeof(line), "%s %s", str(ca, "type"), str(ca, "detail"));
		snprintf(name, sizeof(name), "%sCA problem", prefix);
		fact(facts, name, line);
	}
}

static void digest_facts(json_t *facts, const json_t *a)
{
	const json_t *v;
	char line[1400];
	size_t i;

	json_array_foreach(json_object_get(a, "at_risk"), i, v) {
		const json_t *lj = json_object_get(v, "last_job");
		const json_t *pr = json_object_get(lj, "problem");
		char *names = joined(json_object_get(v, "names"));

		if (json_is_null(json_object_get(v, "not_after")))
			snprintf(line, sizeof(line), "%s; no certificate yet", str(v, "status"));
		else
			snprintf(line, sizeof(line), "%s; expires %s (%lld days)", str(v, "status"),
				 str(v, "not_after"),
				 (long long)json_integer_value(json_object_get(v, "days_left")));
		if (json_is_object(lj))
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 "; last job %s%s%.600s", str(lj, "state"),
				 str(pr, "detail")[0] ? ": " : "", str(pr, "detail"));
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " [%.300s]",
			 names ? names : "");
		free(names);
		fact(facts, str(v, "certificate"), line);
	}
	json_array_foreach(json_object_get(a, "paused_issuers"), i, v) {
		char name[96];

		snprintf(name, sizeof(name), "Issuer %s", str(v, "issuer"));
		snprintf(line, sizeof(line), "paused until %s: %.1000s", str(v, "paused_until"),
			 str(v, "reason"));
		fact(facts, name, line);
	}
	if (json_array_size(facts) == 0)
		fact(facts, "At risk", "nothing: no certificate is failing or expiring soon");
}

json_t *wk_alert_facts(const json_t *a)
{
	const char *kind = str(a, "alert");
	json_t *facts = json_array();
	char *names = NULL, num[32];

	if (facts == NULL)
		return NULL;
	if (strcmp(kind, "digest") == 0) {
		digest_facts(facts, a);
		return facts;
	}
	names = joined(json_object_get(a, "names"));
	fact(facts, "Certificate", str(a, "certificate"));
	fact(facts, "Names", names);
	free(names);
	if (strcmp(kind, "issuance_failed") == 0) {
		fact(facts, "Job", str(a, "job"));
		problem_facts(facts, json_object_get(a, "problem"), "");
	} else if (strcmp(kind, "expiring") == 0) {
		const json_t *lj = json_object_get(a, "last_job");

		fact(facts, "Not after", str(a, "not_after"));
		snprintf(num, sizeof(num), "%lld",
			 (long long)json_integer_value(json_object_get(a, "days_left")));
		fact(facts, "Days left", num);
		if (json_is_object(lj)) {
			char line[200];

			snprintf(line, sizeof(line), "%s (%s, %s)", str(lj, "state"),
				 str(lj, "kind"), str(lj, "at"));
			fact(facts, "Last job", line);
			problem_facts(facts, json_object_get(lj, "problem"), "Last job: ");
		} else {
			fact(facts, "Last job", "none");
		}
	} else if (strcmp(kind, "issuer_paused") == 0) {
		fact(facts, "Issuer", str(a, "issuer"));
		fact(facts, "Paused until", str(a, "paused_until"));
		fact(facts, "Reason", str(a, "reason"));
	} else if (strcmp(kind, "rollout_paused") == 0) {
		fact(facts, "Rollout", str(a, "rollout"));
		fact(facts, "Reason", str(a, "reason"));
	}
	return facts;
}

char *wk_alert_text(const json_t *a)
{
	json_t *facts = wk_alert_facts(a), *f;
	char *title = wk_alert_title(a);
	cf_buf b = {0};
	size_t i;
	int rc;

	rc = cf_buf_printf(&b, "%s\n\n", title ? title : "certfleet alert");
	json_array_foreach(facts, i, f)
		if (rc == 0)
			rc = cf_buf_printf(&b, "%s: %s\n", json_string_value(json_array_get(f, 0)),
					   json_string_value(json_array_get(f, 1)));
	if (rc == 0)
		rc = cf_buf_printf(&b, "\n-- \ncertfleet alert %s, rule %s, %s\n", str(a, "id"),
				   str(a, "rule"), str(a, "at"));
	if (rc == 0)
		rc = cf_buf_append(&b, "", 1);
	free(title);
	json_decref(facts);
	if (rc != 0) {
		cf_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

json_t *wk_alert_slack(const json_t *a)
{
	json_t *facts = wk_alert_facts(a), *f, *fields = json_array(), *out = NULL;
	char *title = wk_alert_title(a), *text = NULL;
	cf_buf b = {0};
	size_t i;

	if (facts == NULL || title == NULL || fields == NULL)
		goto out;
	/* Slack blocks hold at most 3000 characters of text each */
	json_array_foreach(facts, i, f)
		cf_buf_printf(&b, "*%s*: %.900s\n", json_string_value(json_array_get(f, 0)),
			      json_string_value(json_array_get(f, 1)));
	if (cf_buf_append(&b, "", 1) != 0)
		goto out;
	text = (char *)b.data;
	if (strlen(text) > 2900)
		strcpy(text + 2890, "\n...");
	out = json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}, {s:s, s:{s:s, s:s}}, {s:s, s:[{s:s, s:s}]}]}",
			"text", title, "blocks",
			"type", "header", "text", "type", "plain_text", "text", title,
			"type", "section", "text", "type", "mrkdwn", "text", text,
			"type", "context", "elements", "type", "mrkdwn", "text", str(a, "rule"));
out:
	free(title);
	cf_buf_free(&b);
	json_decref(fields);
	json_decref(facts);
	return out;
}

json_t *wk_alert_teams(const json_t *a, const char *format)
{
	json_t *facts = wk_alert_facts(a), *f, *list = json_array(), *out = NULL;
	char *title = wk_alert_title(a);
	bool mc = format != NULL && strcmp(format, "messagecard") == 0;
	size_t i;

	if (facts == NULL || title == NULL || list == NULL)
		goto out;
	json_array_foreach(facts, i, f)
		json_array_append_new(list, json_pack(mc ? "{s:O, s:O}" : "{s:O, s:O}",
						      mc ? "name" : "title", json_array_get(f, 0),
						      "value", json_array_get(f, 1)));
	if (mc)
		out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:O}]}", "@type", "MessageCard",
				"@context", "https://schema.org/extensions", "summary", title,
				"themeColor", "D70000", "title", title, "sections",
				"activityTitle", str(a, "rule"), "facts", list);
	else
		out = json_pack("{s:s, s:[{s:s, s:n, s:{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, "
				"s:b}, {s:s, s:O}]}}]}",
				"type", "message", "attachments", "contentType",
				"application/vnd.microsoft.card.adaptive", "contentUrl", "content",
				"$schema", "http://adaptivecards.io/schemas/adaptive-card.json", "type",
				"AdaptiveCard", "version", "1.4", "body", "type", "TextBlock", "text",
				title, "weight", "Bolder", "size", "Medium", "wrap", 1, "type",
				"FactSet", "facts", list);
out:
	free(title);
	json_decref(list);
	json_decref(facts);
	return out;
}

/* Appends s with every line end made CRLF and lines cut at ALERT_LINE_MAX. */
static int append_crlf(cf_buf *b, const char *s)
{
	size_t col = 0;
	int rc = 0;

	for (; *s && rc == 0; s++) {
		if (*s == '\r')
			continue;
		if (*s == '\n' || col >= ALERT_LINE_MAX) {
			rc = cf_buf_append(b, "\r\n", 2);
			col = 0;
			if (*s == '\n')
				continue;
		}
		rc = rc == 0 ? cf_buf_append(b, s, 1) : rc;
		col++;
	}
	return rc;
}

char *wk_alert_email(const json_t *a, const char *from, const char *to, const char *id,
		     long long now)
{
	char *title = wk_alert_title(a), *text = wk_alert_text(a), date[64];
	time_t t = (time_t)now;
	cf_buf b = {0};
	struct tm tm;
	int rc = -1;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (title != NULL && text != NULL &&
	    cf_buf_printf(&b, "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: %.300s\r\n"
			  "Message-ID: <%s@certfleet>\r\nMIME-Version: 1.0\r\n"
			  "Content-Type: text/plain; charset=utf-8\r\n"
			  "Content-Transfer-Encoding: 8bit\r\nX-Certfleet-Alert: %s\r\n\r\n",
			  date, from, to, title, id, str(a, "alert")) == 0 &&
	    append_crlf(&b, text) == 0 && cf_buf_append(&b, "", 1) == 0)
		rc = 0;
	free(title);
	free(text);
	if (rc != 0) {
		cf_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

/* ---- channels ---- */

static void send_email(const json_t *s, const json_t *alert, const cf_webhook_delivery *d,
		       int *status, cf_err *err)
{
	const json_t *to = json_object_get(s, "to"), *v;
	const char *rcpt[ALERT_MAX_RCPT];
	cf_smtp_msg m = {0};
	char *msg = NULL, *tolist = joined(to);
	long reply = 0;
	size_t i, n = 0;
	cf_err e = {0};

	json_array_foreach(to, i, v)
		if (n < ALERT_MAX_RCPT && json_is_string(v))
			rcpt[n++] = json_string_value(v);
	if (tolist == NULL ||
	    (msg = wk_alert_email(alert, str(s, "from"), tolist, d->event_id,
				  (long long)time(NULL))) == NULL) {
		cf_err_oom(err, "alert e-mail");
		goto out;
	}
	m.url = str(s, "smtp_url");
	m.username = str(s, "username");
	m.password = str(s, "password");
	m.ca_pem = str(s, "ca_file");
	m.from = str(s, "from");
	m.to = rcpt;
	m.nto = n;
	m.data = msg;
	m.len = strlen(msg);
	m.timeout_ms = ALERT_SMTP_TIMEOUT_MS;
	if (cf_smtp_send(&m, &reply, &e) != 0)
		cf_err_set(err, CF_ERR_TRANSIENT, "email to %.200s: %s", tolist, e.msg);
	*status = (int)reply;
	cf_err_clear(&e);
out:
	free(tolist);
	free(msg);
}

/* POSTs body to the secret URL of a Slack/Teams channel; the URL never reaches a
 * message (cf_api_http names it in its errors, so they are rewritten). */
static void send_chat(const char *type, const char *url, json_t *body, int *status,
		      cf_err *err)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	cf_api_req req = {.method = "POST", .url = url, .body = text,
			  .timeout_ms = ALERT_HTTP_TIMEOUT_MS, .max_body = 65536, .who = type};
	cf_api_resp resp = {0};
	cf_err e = {0};

	if (text == NULL) {
		cf_err_oom(err, type);
		return;
	}
	if (cf_api_http(&req, &resp, &e) != 0) {
		cf_err_set(err, CF_ERR_TRANSIENT, "%s webhook: no answer (connection, TLS or "
			   "timeout)", type);
	} else {
		char why[200];

		*status = (int)resp.status;
		cf_api_error_text(&resp, why, sizeof(why));
		if (resp.status < 200 || resp.status > 299)
			cf_err_set(err, CF_ERR_TRANSIENT, "%s webhook: HTTP %ld%s%s", type,
				   resp.status, why[0] ? ": " : "", why);
	}
	cf_err_clear(&e);
	cf_api_resp_free(&resp);
	free(text);
}

void wk_alert_send(cf_app *app, PGconn *db, const cf_webhook_delivery *d,
		   wk_signed_post_fn post, int *status, cf_err *err)
{
	cf_alert_channel ch = {0};
	json_t *alert = NULL;
	int r;

	*status = 0;
	if ((r = cf_alert_channel_load(db, app->master_key, d->alert_event, &ch, err)) <= 0) {
		if (r == 0)
			cf_err_set(err, CF_ERR_PERMANENT, "the alert's rule is gone");
		return;
	}
	if ((alert = json_loads(d->body, 0, NULL)) == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "alert body is not JSON");
		goto out;
	}
	if (strcmp(ch.type, "email") == 0) {
		send_email(ch.settings, alert, d, status, err);
	} else if (strcmp(ch.type, "slack") == 0) {
		json_t *body = wk_alert_slack(alert);

		send_chat("slack", str(ch.settings, "url"), body, status, err);
		json_decref(body);
	} else if (strcmp(ch.type, "teams") == 0) {
		json_t *body = wk_alert_teams(alert, str(ch.settings, "format"));

		send_chat("teams", str(ch.settings, "url"), body, status, err);
		json_decref(body);
	} else {
		const char *secret = str(ch.settings, "secret");

		post((const uint8_t *)secret, strlen(secret), str(ch.settings, "url"), d, status,
		     err);
	}
out:
	json_decref(alert);
	cf_alert_channel_free(&ch);
}

void wk_alert_sweep(PGconn *db)
{
	cf_err err = {0};
	int n = cf_alert_sweep(db, &err);

	if (n < 0)
		cf_log(CF_LOG_WARN, "alerts.pass", "%s", err.msg);
	else if (n > 0)
		cf_log(CF_LOG_INFO, "alerts.pass", "%d alerts fired (expiring, digest)", n);
	else
		cf_log(CF_LOG_DEBUG, "alerts.pass", "nothing new");
	cf_err_clear(&err);
}
