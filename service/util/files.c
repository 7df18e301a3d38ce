/*
 * files.c: atomic file replacement and bounded whole-file reads; see files.h.
 */
#include "util/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"

int cf_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int cf_write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
			 mode_t mode, cf_err *err)
{
	char tmp[4096], dst[4096];
	int fd = -1, dfd = -1, rc = -1;

	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%ld", dir, name, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) != 0 || cf_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		cf_err_set(err, CF_ERR_PERMANENT, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) != 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot rename %s to %s: %s", tmp, dst,
			   strerror(errno));
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd); /* make the rename itself durable */
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

char *cf_read_file(const char *path, size_t max, size_t *len, cf_err *err)
{
	FILE *f = fopen(path, "rb");
	cf_buf b = {.max = max};
	char chunk[8192];
	size_t r;

	if (f == NULL) {
		cf_err_set(err, CF_ERR_PERMANENT, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (cf_buf_append(&b, chunk, r) != 0) {
			cf_err_set(err, CF_ERR_PERMANENT, "%s is larger than %zu bytes", path, max);
			fclose(f);
			cf_buf_free_secret(&b);
			return NULL;
		}
	}
	fclose(f);
	if (len)
		*len = b.len;
	return cf_buf_steal(&b);
}
