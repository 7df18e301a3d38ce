/*
 * files.h: writing files so that a reader never sees a partial one: a temporary
 * file in the same folder, written, fsync'ed, renamed over the target, and the
 * folder fsync'ed. Used for certificate and key files (`certfleet issue`, the
 * host agent).
 */
#ifndef CERTFLEET_UTIL_FILES_H
#define CERTFLEET_UTIL_FILES_H

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Creates dir/name atomically with the given mode (the mode is set before any
 * byte is written, so a key file is never readable by others, not even briefly). */
CF_MUST_CHECK int cf_write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
			 mode_t mode, cf_err *err);
/* Writes all len bytes of data to fd, retrying short writes and EINTR; -1 with
 * errno set when a write fails. */
CF_MUST_CHECK int cf_write_all(int fd, const void *data, size_t len);
/* Reads a whole file (at most max bytes) into a NUL-terminated malloc'd buffer.
 * Returns NULL with err; *len (may be NULL) gets the size. */
char *cf_read_file(const char *path, size_t max, size_t *len, cf_err *err);

#endif
