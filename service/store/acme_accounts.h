/*
 * acme_accounts.h: the service's ACME accounts, one per (directory URL, contact
 * email), in the acme_accounts table.
 *
 * The account key (P-256) is generated once, by whichever worker first needs it,
 * and stored only sealed: cf_seal(master key, aad "acme_accounts:<directory_url>:
 * <email>", PKCS#8 PEM). Creation is safe under concurrency: every racer inserts
 * its own key with ON CONFLICT DO NOTHING and then reads the row back, so all of
 * them use the key that won. The account URL (the kid) is stored once the CA
 * answered newAccount. The account key is never a certificate key.
 *
 * Registration is serialized per account row across threads and replicas: a
 * CA (Pebble) answers 500 to two simultaneous newAccount requests of one key,
 * which would pause the issuer. The registering worker takes a
 * transaction-level advisory lock (cf_accounts_lock) around newAccount and the
 * store of its URL only; whoever waited finds the URL stored and uses it.
 */
#ifndef CERTFLEET_STORE_ACME_ACCOUNTS_H
#define CERTFLEET_STORE_ACME_ACCOUNTS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/err.h"

typedef struct cf_account_row {
	long long id;
	cf_key *key; /* unsealed account key, owned */
	char *url;   /* the account URL, NULL until registered */
} cf_account_row;

/* The account of (directory, email), created with a new sealed key when there is
 * none. Returns 0 with out filled (release with cf_account_row_free), -1 on error
 * (a blob that does not open with this master key is a permanent error). */
CF_MUST_CHECK int cf_accounts_get_or_create(PGconn *c, const uint8_t master_key[32], const char *directory,
			      const char *email, cf_account_row *out, cf_err *err);
/* Stores the account URL of row id (NULL clears it: the CA forgot the account). */
CF_MUST_CHECK int cf_accounts_set_url(PGconn *c, long long id, const char *url, cf_err *err);
/* Inside a transaction the caller opened: waits at most wait_ms (lock_timeout)
 * for the registration lock of row id, held until that transaction ends, then
 * reads the row's account URL into *url (malloc'd, owned by the caller; NULL
 * while none is stored). 0 with the lock held, 1 when the wait timed out
 * (nothing held), -1 with err on database errors. */
CF_MUST_CHECK int cf_accounts_lock(PGconn *c, long long id, long wait_ms, char **url, cf_err *err);
void cf_account_row_free(cf_account_row *r);

#endif
