/*
 * fetch_dir.h: the host agent's output folder, handled through one directory
 * file descriptor so that no name in it can redirect a write or a read
 * elsewhere (fetch_dir.c). The folder must belong to the user running the
 * agent and be writable by no one else; every file in it is opened relative to
 * the folder's fd with O_NOFOLLOW, new contents go to a temporary file created
 * O_CREAT|O_EXCL|O_NOFOLLOW under a random name, owned and moded before it is
 * renamed over the target.
 */
#ifndef CERTFLEET_CMD_FETCH_DIR_H
#define CERTFLEET_CMD_FETCH_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Creates path (0755) when missing, opens it and checks that it is a folder
 * owned by the effective user and not writable by its group or by others.
 * Returns the folder's fd (O_CLOEXEC; the caller closes it) or -1 with err. */
CF_MUST_CHECK int cf_fdir_open(const char *path, cf_err *err);

/* Takes an exclusive, non-blocking flock on the file name in the folder
 * (created 0600, never through a symlink). 0 with the lock held until the
 * process ends (the fd is kept open on purpose), or -1 with err. */
CF_MUST_CHECK int cf_fdir_lock(int dfd, const char *label, const char *name, cf_err *err);

/* Removes the temporary files ".<name>.tmp-*" of every name in names[0..n)
 * that a killed run left behind (the caller holds the lock). */
void cf_fdir_remove_leftovers(int dfd, const char *const *names, size_t n);

/* The contents of the regular file name in the folder (at most max bytes),
 * NUL-terminated, for cf_secret_free; NULL when it is missing, a symlink, not a
 * regular file or too large. *len (may be NULL) gets its size. */
char *cf_fdir_read(int dfd, const char *name, size_t max, size_t *len);

/* Replaces name in the folder with data, atomically: a temporary file
 * ".<name>.tmp-<random>" created O_CREAT|O_EXCL|O_NOFOLLOW mode 0600, then
 * fchown'ed to uid:gid (when chown_to is true) and fchmod'ed to mode, written
 * and fsync'ed, then renamed over name (a symlink there is replaced, never
 * followed) and the folder fsync'ed. label names the folder in errors. */
CF_MUST_CHECK int cf_fdir_write(int dfd, const char *label, const char *name, const void *data,
				size_t len, mode_t mode, bool chown_to, uid_t uid, gid_t gid,
				cf_err *err);

#endif
