/*
 * engine.h: one issuance, start to finish, in the foreground: account, preflight,
 * order, present every TXT value, wait for propagation, answer every challenge,
 * poll, finalize with a fresh key, download, clean up.
 *
 * Used by `certfleet issue` (no database). The service's worker drives the same
 * ACME and DNS calls through its persisted state machine; the step names and the
 * order of steps are the same, so timelines read alike.
 *
 * Speed: all TXT values of an order are presented before any propagation check,
 * the propagation of all of them is awaited together, and every challenge is
 * answered before any authorization is polled. A wildcard and its apex therefore
 * validate in one round (their two values sit at one name at the same time). An
 * order that is ready at once, or whose authorizations are all valid already
 * (reused), touches no DNS at all: straight to finalize.
 *
 * Cleanup: every value presented is removed again, and only those, whether the
 * order succeeds, fails or is cancelled (*cancel set by a signal handler, checked
 * between steps); the authorizations of a failed order that this run tried to
 * validate are deactivated when they are pending or valid (the CA refuses the
 * others).
 */
#ifndef CERTFLEET_ISSUE_ENGINE_H
#define CERTFLEET_ISSUE_ENGINE_H

#include <signal.h>
#include <stdbool.h>

#include "acme/acme.h"
#include "crypto/crypto.h"
#include "dns/dns.h"
#include "providers/provider.h"

typedef void (*cf_issue_step_fn)(const char *step, long duration_ms, bool ok,
				 const char *detail, void *arg);

typedef struct cf_issue_params {
	/* the CA */
	const char *directory_url;
	const char *ca_file;          /* trust for the CA's TLS, or NULL */
	const char *const *contacts;  /* e.g. "mailto:ops@example.com" */
	size_t ncontacts;
	const cf_key *account_key;    /* borrowed; never the certificate key */
	const char *eab_kid, *eab_hmac_key; /* optional */
	const char *preferred_chain;  /* issuer CN, or NULL */
	/* an ACME profile (meta.profiles of the directory), or NULL / "" for none:
	 * checked against the directory before the order, then sent in newOrder */
	const char *profile;
	/* what to issue */
	const char *const *names;     /* normalised or not: normalised here */
	size_t nnames;
	const cf_alias_spec *alias;
	/* the provider of each name (parallel to names); names sharing a challenge
	 * record must share it */
	const cf_provider_ops *const *providers;
	const json_t *const *provider_settings;
	cf_key_type key_type;
	const cf_key *reuse_key;      /* borrowed; NULL = a fresh key */
	/* DNS */
	const cf_dns_servers *resolvers;
	cf_propagation propagation;
	long propagation_timeout_ms;  /* 0 = 120 s */
	bool skip_preflight;
	/* control */
	long order_timeout_s;         /* 0 = 300 s: the whole validation + issuance */
	volatile sig_atomic_t *cancel; /* may be NULL */
	cf_issue_step_fn on_step;     /* may be NULL */
	void *step_arg;
	cf_acme_event_fn on_acme_event; /* may be NULL: every HTTP exchange */
	void *acme_event_arg;
} cf_issue_params;

typedef struct cf_issue_result {
	cf_key *key;       /* the certificate's key (owned; a copy when reused) */
	char *key_pem;     /* PKCS#8 PEM of key; wipe with cf_secret_free() */
	cf_acme_cert cert; /* leaf, chain, fullchain */
	char *order_url;
	char *account_url;
	char *profile;     /* the order's profile as the CA echoed it, or NULL */
} cf_issue_result;

/* Runs one issuance. Returns 0 with result filled, or -1 with err (the CA's problem
 * document in err->problem when there was one). */
int cf_issue_run(const cf_issue_params *p, cf_issue_result *result, cf_err *err);
void cf_issue_result_free(cf_issue_result *r);

#endif
