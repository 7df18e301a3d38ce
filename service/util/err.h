/*
 * err.h: the one error value passed down every call chain.
 *
 * A function that can fail returns 0 on success and -1 on failure, and fills the
 * caller's cf_err with a human-readable message naming what failed (the call, the
 * field, the DNS record) and a class: permanent (retrying cannot help: bad input,
 * unauthorized, missing CNAME) or transient (a timeout, a 5xx, a DNS server error),
 * which the worker uses to decide between failing and retrying. A NULL cf_err is
 * allowed everywhere and means "the caller does not care".
 *
 * Running out of memory is always transient, set through cf_err_oom() alone: memory
 * pressure passes (another job finishes, a cache shrinks), and the worker retries a
 * transient error with backoff up to its attempt limit, so a job is not failed for
 * good by a moment of pressure, and a request can simply be repeated.
 */
#ifndef CERTFLEET_UTIL_ERR_H
#define CERTFLEET_UTIL_ERR_H

#include <stddef.h>

/* Marks a fallible call whose result the caller must look at (the declaration of a
 * function returning an error status). Where ignoring the result is right (best-effort
 * cleanup), the caller says so with `if (f(...) != 0) { best effort: why }` since
 * GCC does not accept a (void) cast for this attribute. */
#define CF_MUST_CHECK __attribute__((warn_unused_result))

typedef enum cf_err_class {
	CF_ERR_NONE = 0,
	CF_ERR_PERMANENT,
	CF_ERR_TRANSIENT,
} cf_err_class;

typedef struct cf_err {
	cf_err_class cls;
	char msg[1024];
	/* Optional machine-readable detail, owned by the cf_err: an ACME problem
	 * document (RFC 8555 section 6.7) kept verbatim as JSON text, or NULL. */
	char *problem;
} cf_err;

/* Sets class and message (printf format). Returns -1, so `return cf_err_set(...)`. */
int cf_err_set(cf_err *e, cf_err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepends "what: " to the current message (keeps the class). Returns -1. */
int cf_err_wrap(cf_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the one out-of-memory error: class transient (see above), message
 * "what: out of memory", or "out of memory" when what is NULL. Returns -1. */
int cf_err_oom(cf_err *e, const char *what);
/* Stores a copy of a problem document (replaces any earlier one). */
void cf_err_set_problem(cf_err *e, const char *json_text);
/* Frees the problem document and clears the error. Safe on a zeroed cf_err. */
void cf_err_clear(cf_err *e);

#endif
