/*
 * fetch_dir.c: the host agent's output folder through a directory fd; see
 * fetch_dir.h.
 *
 * The agent often runs as root and writes a private key, so a name in its
 * folder must never lead it elsewhere: a symlink planted at privkey.pem, at a
 * temporary name, at the lock or at the state file would otherwise make it
 * write (or chown, or read back and compare) a file outside the folder. Hence:
 * the folder itself is refused when another user could change its entries
 * (owned by someone else, or group/world-writable); every open is relative to
 * the folder's fd, with O_NOFOLLOW, and reads also O_NONBLOCK (a FIFO planted at
 * a name cannot stall the agent) and only of regular files; temporary files get
 * unpredictable names and O_EXCL, and their owner and mode are set before a byte
 * of the key is written and before renameat() makes them visible.
 */
#define _GNU_SOURCE /* O_NOFOLLOW, O_DIRECTORY, fdopendir */
#include "cmd/fetch_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/files.h"

int cf_fdir_open(const char *path, cf_err *err)
{
	struct stat st;
	int dfd;

	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return cf_err_set(err, CF_ERR_PERMANENT, "--out: cannot create %s: %s", path,
				  strerror(errno));
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "--out: cannot open the folder %s: %s",
				  path, strerror(errno));
	if (fstat(dfd, &st) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "--out: %s: %s", path, strerror(errno));
	} else if (st.st_uid != geteuid()) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "--out: %s belongs to uid %ld, not to the user running the agent "
			   "(uid %ld): another user could plant links in it",
			   path, (long)st.st_uid, (long)geteuid());
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "--out: %s is writable by its group or by every user (mode %04o): "
			   "chmod go-w it",
			   path, (unsigned)(st.st_mode & 07777));
	} else {
		return dfd;
	}
	close(dfd);
	return -1;
}

int cf_fdir_lock(int dfd, const char *label, const char *name, cf_err *err)
{
	int fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "cannot open %s/%s: %s%s", label, name,
				  strerror(errno), errno == ELOOP ? " (a symlink: remove it)" : "");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cf_err_set(err, CF_ERR_PERMANENT, "%s/%s is not a regular file", label,
				  name);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return cf_err_set(err, CF_ERR_PERMANENT,
				  "another certfleet fetch is writing to %s (%s/%s is locked)",
				  label, label, name);
	}
	return 0; /* fd stays open: the lock lives as long as the process */
}

void cf_fdir_remove_leftovers(int dfd, const char *const *names, size_t n)
{
	int dup_fd = dup(dfd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *e;
	char prefix[300];

	if (d == NULL && dup_fd >= 0)
		close(dup_fd);
	while (d != NULL && (e = readdir(d)) != NULL)
		for (size_t i = 0; i < n; i++) {
			snprintf(prefix, sizeof(prefix), ".%s.tmp-", names[i]);
			if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
				unlinkat(dfd, e->d_name, 0); /* a link is removed, not followed */
		}
	if (d != NULL)
		closedir(d);
}

char *cf_fdir_read(int dfd, const char *name, size_t max, size_t *len)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	cf_buf b = { .max = max };
	char chunk[8192];
	struct stat st;
	char *out = NULL;
	ssize_t r;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || cf_buf_append(&b, chunk, (size_t)r) != 0)
			goto out;
	}
	if (len != NULL)
		*len = b.len;
	out = cf_buf_steal(&b);
out:
	cf_wipe(chunk, sizeof(chunk));
	cf_buf_free_secret(&b);
	close(fd);
	return out;
}

int cf_fdir_write(int dfd, const char *label, const char *name, const void *data, size_t len,
		  mode_t mode, bool chown_to, uid_t uid, gid_t gid, cf_err *err)
{
	uint8_t rnd[8];
	char tmp[300];
	int fd = -1, rc = -1;
	bool created = false;

	if (cf_random_bytes(rnd, sizeof(rnd)) != 0)
		return cf_err_set(err, CF_ERR_PERMANENT, "no random bytes for a temporary name");
	snprintf(tmp, sizeof(tmp), ".%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", name, rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot create %s/%s: %s", label, tmp,
			   strerror(errno));
		goto out;
	}
	created = true;
	if (chown_to && fchown(fd, uid, gid) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "--owner: chown %s/%s: %s", label, name,
			   strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) != 0 || cf_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot write %s/%s: %s", label, tmp,
			   strerror(errno));
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot write %s/%s: %s", label, tmp,
			   strerror(errno));
		goto out;
	}
	rc = -1;
	if (renameat(dfd, tmp, dfd, name) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot rename %s/%s to %s: %s", label, tmp,
			   name, strerror(errno));
		goto out;
	}
	created = false;
	fsync(dfd); /* make the rename itself durable */
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (created)
		unlinkat(dfd, tmp, 0);
	return rc;
}
