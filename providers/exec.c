/*
 * exec.c: the exec provider: an operator's own program writes and removes the
 * TXT values, for DNS hosts that certfleet has no provider for. The calling
 * convention is lego's exec provider:
 *
 *     COMMAND present FQDN. VALUE
 *     COMMAND cleanup FQDN. VALUE
 *
 * with FQDN the alias target, absolute (trailing dot). Exit status 0 is success;
 * 75 (EX_TEMPFAIL) is a transient failure and any other status a permanent one,
 * both carrying the tail of the program's stderr (its stdout when stderr is
 * empty), with the values of secret settings replaced by "***".
 *
 * Settings (a JSON object of strings):
 *   command  absolute path of a regular, executable file (required); run
 *            directly (no shell). With CERTFLEET_EXEC_DIR set it must be a file
 *            directly inside that folder (DIR/NAME), the folder and the file
 *            owned by root or the service's user and writable by no one else;
 *            `serve` requires the setting (without it no exec provider is
 *            accepted or run). Without it (the CLI only) any absolute path of a
 *            file that others cannot write. Every failure of this rule gives one
 *            message, whatever the file's state: no caller learns whether a
 *            file exists.
 *   timeout  seconds, 1-3600 (default 30); on expiry the program's whole process
 *            group is killed (SIGKILL) and the failure is transient
 *   any other KEY ([A-Za-z0-9_.-], 1-64 characters) reaches the program as the
 *            environment variable CERTFLEET_SETTING_<KEY upper-cased, '-' and '.'
 *            as '_'>; that is how it gets its server, zone and credentials.
 * Every setting but command and timeout is secret: sealed by the service,
 * never shown nor audited (only its name), and its value (4 bytes or longer)
 * is scrubbed from the program's output quoted in errors.
 *
 * Running: the folder is opened and checked again, the file opened relative
 * to it with O_NOFOLLOW and checked through that descriptor, and that very
 * file is executed (fexecve), so nothing can be swapped between the check and
 * the exec. The program runs in its own process group, in "/", with stdin from /dev/null,
 * no inherited file descriptor, default signal dispositions and an empty signal
 * mask, and an environment of PATH and its settings only: the service's own
 * environment (master key, database URL) is never passed on. stdout and stderr
 * are read through pipes, keeping the last CF_EXEC_TAIL_MAX bytes of each. When
 * the program exits, anything it left running in its process group is killed
 * too. Copies of setting values made here are wiped before they are freed.
 */
#define _GNU_SOURCE /* pipe2, fexecve, close_range */
#include "providers/provider.h"
#include "providers/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "providers/api_http.h"
#include "util/buf.h"
#include "util/clock.h"

#define WHO "exec"
#define DEFAULT_TIMEOUT_S 30
#define MAX_SETTINGS 64
#define ENV_PREFIX "CERTFLEET_SETTING_"
#define CHILD_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MSG_TAIL 480   /* bytes of output quoted in an error */
#define DRAIN_MS 200   /* reading on after the program exits, for its last output */
#define EX_TEMPFAIL 75

/* The only settings that are not secret (cf_provider_ops.public_keys). */
static const char *const public_keys[] = { "command", "timeout", NULL };

#define BAD_COMMAND                                                                      \
	WHO " setting command: not an executable file directly inside CERTFLEET_EXEC_DIR " \
	    "that only root or the service's user can change"

typedef struct exec_conf {
	const char *command;
	long timeout_s;
	int fd;      /* the command, opened O_PATH|O_CLOEXEC; -1 before conf_load */
	bool script; /* starts with "#!": its fd must stay open across the exec */
} exec_conf;

/* ---- the operator's rule (cf_exec_policy_set) ---- */

static struct {
	bool set, required;
	char dir[1024];
} policy;

void cf_exec_policy_set(const char *dir, bool required)
{
	size_t n;

	snprintf(policy.dir, sizeof(policy.dir), "%s", dir ? dir : "");
	n = strlen(policy.dir);
	while (n > 1 && policy.dir[n - 1] == '/')
		policy.dir[--n] = '\0';
	policy.required = required;
	policy.set = true;
}

static const char *policy_dir(void)
{
	if (!policy.set)
		cf_exec_policy_set(getenv("CERTFLEET_EXEC_DIR"), false);
	return policy.dir;
}

/* Owned by root or the effective user, writable by neither group nor others. */
static bool safe_owner_mode(const struct stat *st)
{
	return (st->st_uid == 0 || st->st_uid == geteuid()) &&
	       (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

static int open_dir(const char *dir, cf_err *err)
{
	struct stat st;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0) {
		cf_err_set(err, CF_ERR_PERMANENT, "CERTFLEET_EXEC_DIR: cannot open %s: %s", dir,
			   strerror(errno));
		return -1;
	}
	if (fstat(dfd, &st) != 0 || !safe_owner_mode(&st)) {
		cf_err_set(err, CF_ERR_PERMANENT,
			   "CERTFLEET_EXEC_DIR: %s must be owned by root or uid %ld and writable "
			   "by no one else (it is uid %ld, mode %04o)",
			   dir, (long)geteuid(), (long)st.st_uid, (unsigned)(st.st_mode & 07777));
		close(dfd);
		return -1;
	}
	return dfd;
}

int cf_exec_dir_check(const char *dir, cf_err *err)
{
	int dfd = open_dir(dir, err);

	if (dfd < 0)
		return -1;
	close(dfd);
	return 0;
}

/* Does the file behind fd (O_PATH) start with "#!"? Read through a reopening of
 * that very file (/proc/self/fd), so a program that may be executed but not
 * read (mode 0711) is simply not a script. */
static bool is_script(int fd)
{
	char path[64], magic[2];
	bool script = false;
	int rfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) >= 0) {
		script = pread(rfd, magic, 2, 0) == 2 && magic[0] == '#' && magic[1] == '!';
		close(rfd);
	}
	return script;
}

/* Opens c->command (O_PATH) under the rule; -1 with err (one message for every failure
 * when a dir is set). */
static int open_command(exec_conf *c, cf_err *err)
{
	const char *dir = policy_dir(), *name;
	size_t dl = strlen(dir);
	struct stat st;
	int dfd = -1;

	if (dir[0] == '\0') {
		if (policy.required)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  WHO " setting command: exec providers are not allowed here "
					  "(the operator has not set CERTFLEET_EXEC_DIR)");
		c->fd = open(c->command, O_PATH | O_CLOEXEC);
		if (c->fd < 0 || fstat(c->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
		    (st.st_mode & 0111) == 0)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  WHO " setting command: %.200s is not an executable file",
					  c->command);
		if (st.st_mode & S_IWOTH)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  WHO " setting command: %.200s is writable by any user "
					  "(chmod o-w)", c->command);
	} else {
		name = c->command + dl + 1;
		if (strncmp(c->command, dir, dl) != 0 || c->command[dl] != '/' || name[0] == '\0' ||
		    strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
		    strcmp(name, "..") == 0 || (dfd = open_dir(dir, NULL)) < 0 ||
		    (c->fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
		    fstat(c->fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0 ||
		    !safe_owner_mode(&st)) {
			if (dfd >= 0)
				close(dfd);
			return cf_err_set(err, CF_ERR_PERMANENT, BAD_COMMAND);
		}
		close(dfd);
	}
	c->script = is_script(c->fd);
	return 0;
}

static void conf_close(exec_conf *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* ---- pure parts (exec.h) ---- */

int cf_exec_env_name(const char *key, char *out, size_t outlen)
{
	size_t i, n = strlen(key), p = strlen(ENV_PREFIX);

	if (n == 0 || n > 64 || p + n + 1 > outlen)
		return -1;
	memcpy(out, ENV_PREFIX, p);
	for (i = 0; i < n; i++) {
		char ch = key[i];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		else if (ch == '-' || ch == '.')
			ch = '_';
		else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
			return -1;
		out[p + i] = ch;
	}
	out[p + n] = '\0';
	return 0;
}

void cf_exec_tail_append(cf_exec_tail *t, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (t->len < CF_EXEC_TAIL_MAX) {
			t->buf[(t->start + t->len++) % CF_EXEC_TAIL_MAX] = p[i];
		} else {
			t->buf[t->start] = p[i];
			t->start = (t->start + 1) % CF_EXEC_TAIL_MAX;
			t->dropped++;
		}
	}
}

size_t cf_exec_tail_get(const cf_exec_tail *t, char *out, size_t outlen)
{
	size_t n, skip, i;

	if (outlen == 0)
		return 0;
	n = t->len < outlen - 1 ? t->len : outlen - 1;
	skip = t->len - n;
	for (i = 0; i < n; i++)
		out[i] = t->buf[(t->start + skip + i) % CF_EXEC_TAIL_MAX];
	out[n] = '\0';
	return n;
}

void cf_exec_scrub(char *text, const char *secret)
{
	size_t sl = secret ? strlen(secret) : 0;
	char *p;

	if (sl < 4)
		return;
	while ((p = strstr(text, secret)) != NULL) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + sl, strlen(p + sl) + 1);
	}
}

/* ---- settings ---- */

static int conf_load(const json_t *s, exec_conf *c, cf_err *err)
{
	char names[MAX_SETTINGS][sizeof(ENV_PREFIX) + 64];
	const char *key;
	const json_t *v;
	size_t n = 0, i;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (s == NULL || !json_is_object(s))
		return cf_err_set(err, CF_ERR_PERMANENT, WHO ": settings must be an object");
	if (cf_api_setting_str(WHO, s, "command", &c->command, err) != 0)
		return -1;
	if ((c->command == NULL || c->command[0] != '/') && policy_dir()[0] != '\0')
		return cf_err_set(err, CF_ERR_PERMANENT, BAD_COMMAND);
	if (c->command == NULL || c->command[0] != '/')
		return cf_err_set(err, CF_ERR_PERMANENT,
				  WHO " setting command: required, an absolute path (got \"%.100s\")",
				  c->command ? c->command : "");
	if (cf_api_setting_long(WHO, s, "timeout", 1, 3600, DEFAULT_TIMEOUT_S, &c->timeout_s,
				err) != 0)
		return -1;
	json_object_foreach((json_t *)s, key, v) {
		if (strcmp(key, "command") == 0 || strcmp(key, "timeout") == 0)
			continue;
		if (n == MAX_SETTINGS)
			return cf_err_set(err, CF_ERR_PERMANENT, WHO ": more than %d settings",
					  MAX_SETTINGS);
		if (cf_exec_env_name(key, names[n], sizeof(names[n])) != 0)
			return cf_err_set(err, CF_ERR_PERMANENT,
					  WHO " setting \"%.64s\": a key must be [A-Za-z0-9_.-], 1-64 "
					  "characters (it becomes an environment variable)",
					  key);
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			return cf_err_set(err, CF_ERR_PERMANENT,
					  WHO " setting %s: must be a string without NUL bytes", key);
		for (i = 0; i < n; i++)
			if (strcmp(names[i], names[n]) == 0)
				return cf_err_set(err, CF_ERR_PERMANENT,
						  WHO " setting %s: another key also becomes %s", key,
						  names[n]);
		n++;
	}
	if (open_command(c, err) != 0) {
		conf_close(c);
		return -1;
	}
	return 0;
}

static int exec_validate(const json_t *settings, cf_err *err)
{
	exec_conf c;
	int rc = conf_load(settings, &c, err);

	conf_close(&c);
	return rc;
}

/* ---- running the program ---- */

/* Every setting but the public ones (what cf_provider_is_secret answers for
 * this provider through public_keys; asked here directly, as the registry
 * depends on this file and not the other way round). */
static bool is_secret(const char *key)
{
	for (size_t i = 0; public_keys[i] != NULL; i++)
		if (strcmp(public_keys[i], key) == 0)
			return false;
	return true;
}

static void env_free(char **env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++) {
		cf_wipe(env[i], strlen(env[i]));
		free(env[i]);
	}
	free(env);
}

/* PATH and CERTFLEET_SETTING_* for every setting but command and timeout. */
static char **env_build(const json_t *s)
{
	char **env = calloc(json_object_size(s) + 2, sizeof(char *));
	char name[sizeof(ENV_PREFIX) + 64];
	const char *key;
	const json_t *v;
	size_t n = 0;

	if (env == NULL || (env[n++] = strdup(CHILD_PATH)) == NULL)
		goto fail;
	json_object_foreach((json_t *)s, key, v) {
		const char *val = json_string_value(v);

		if (strcmp(key, "command") == 0 || strcmp(key, "timeout") == 0)
			continue;
		if (cf_exec_env_name(key, name, sizeof(name)) != 0 || val == NULL)
			goto fail; /* conf_load checked both */
		if ((env[n] = malloc(strlen(name) + strlen(val) + 2)) == NULL)
			goto fail;
		sprintf(env[n++], "%s=%s", name, val);
	}
	return env;
fail:
	env_free(env);
	return NULL;
}

/* Reads what is there; closes and marks *fd -1 at EOF or on error. */
static void drain(int *fd, cf_exec_tail *t)
{
	char buf[4096];
	ssize_t n = read(*fd, buf, sizeof(buf));

	if (n > 0) {
		cf_exec_tail_append(t, buf, (size_t)n);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(*fd);
		*fd = -1;
	}
}

/* In the child, between fork and exec: only async-signal-safe calls. Its own
 * process group, default signal dispositions and an empty mask, stdin from
 * /dev/null, stdout and stderr to the pipes, the command's fd as fd 3 (left
 * open across the exec only for a script, whose interpreter reads it through
 * /dev/fd/3), every other descriptor closed, "/" as the working folder; then
 * the checked file itself is executed. */
static void child(const exec_conf *c, char *const argv[], char *const env[], int out_w,
		  int err_w)
{
	struct sigaction dfl;
	sigset_t none;
	int nul;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* fails harmlessly for KILL, STOP, ... */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setpgid(0, 0) != 0 || (nul = open("/dev/null", O_RDONLY)) < 0 || dup2(nul, 0) < 0 ||
	    dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0 || dup2(c->fd, 3) < 0 ||
	    fcntl(3, F_SETFD, c->script ? 0 : FD_CLOEXEC) != 0 || chdir("/") != 0)
		_exit(127);
	close_range(4, ~0U, 0);
	fexecve(3, argv, env);
	_exit(127);
}

/* Starts the program; returns its pid or -1 with err. Closes the write ends. */
static pid_t spawn(const exec_conf *c, char *const argv[], char *const env[], int out[2],
		   int errp[2], cf_err *err)
{
	pid_t pid = fork();

	if (pid == 0)
		child(c, argv, env, out[1], errp[1]);
	if (pid < 0)
		cf_err_set(err, errno == ENOMEM || errno == EAGAIN ? CF_ERR_TRANSIENT :
								     CF_ERR_PERMANENT,
			   WHO ": cannot run %s: fork: %s", c->command, strerror(errno));
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;
	return pid;
}

/* Waits for the program while reading its output, until it has exited and its
 * pipes are closed (or DRAIN_MS after its exit), or until the deadline. The
 * process group is killed before the program is reaped, so its pid cannot have
 * been reused. *status is the wait status; *timed_out is set on expiry. */
static void supervise(pid_t pid, long deadline, int fds[2], cf_exec_tail tails[2], int *status,
		      bool *timed_out, bool *lost)
{
	long exited_at = -1, now;
	siginfo_t si;
	int i;

	*timed_out = *lost = false;
	for (;;) {
		struct pollfd p[2];
		int which[2], np = 0;
		long left;

		now = (long)cf_clock_mono_ms();
		if (exited_at < 0) {
			memset(&si, 0, sizeof(si));
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 ?
				    si.si_pid == pid :
				    errno == ECHILD) /* reaped by someone else (SIGCHLD ignored) */
				exited_at = now;
		}
		if (exited_at >= 0 && ((fds[0] < 0 && fds[1] < 0) || now - exited_at >= DRAIN_MS))
			break;
		if (exited_at < 0 && now >= deadline) {
			*timed_out = true;
			break;
		}
		for (i = 0; i < 2; i++)
			if (fds[i] >= 0) {
				which[np] = i;
				p[np++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
			}
		left = deadline - now;
		if (poll(p, (nfds_t)np, left > 20 ? 20 : (left > 0 ? (int)left : 1)) > 0)
			for (i = 0; i < np; i++)
				if (p[i].revents != 0)
					drain(&fds[which[i]], &tails[which[i]]);
	}
	kill(-pid, SIGKILL); /* strays, or the whole group on expiry */
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR) {
			*lost = true;
			break;
		}
	for (i = 0; i < 2; i++)
		if (fds[i] >= 0) {
			int fl = fcntl(fds[i], F_GETFL);

			fcntl(fds[i], F_SETFL, fl | O_NONBLOCK);
			drain(&fds[i], &tails[i]); /* what is buffered now, then stop */
			if (fds[i] >= 0)
				close(fds[i]);
			fds[i] = -1;
		}
}

/* The error message tail: stderr, else stdout; one line, secrets scrubbed. */
static void output_tail(const json_t *s, const cf_exec_tail tails[2], char *out, size_t outlen)
{
	char raw[CF_EXEC_TAIL_MAX + 1];
	const char *key;
	const json_t *v;
	size_t i, o = 0, n;

	n = cf_exec_tail_get(&tails[1], raw, sizeof(raw));
	if (n == 0)
		n = cf_exec_tail_get(&tails[0], raw, sizeof(raw));
	json_object_foreach((json_t *)s, key, v)
		if (is_secret(key))
			cf_exec_scrub(raw, json_string_value(v));
	n = strlen(raw);
	while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r' || raw[n - 1] == ' '))
		raw[--n] = '\0';
	i = n > outlen - 1 ? n - (outlen - 1) : 0;
	for (; i < n && o + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)raw[i];

		out[o++] = ch < 0x20 || ch == 0x7f ? (ch == '\n' ? '|' : ' ') : (char)ch;
	}
	out[o] = '\0';
	cf_wipe(raw, sizeof(raw));
}

static int run(const cf_provider_ctx *ctx, const char *action, const char *fqdn,
	       const char *value, cf_err *err)
{
	exec_conf c;
	cf_exec_tail *tails = NULL;
	char name[CF_NAME_MAX + 1], target[CF_NAME_MAX + 2], tail[MSG_TAIL + 1];
	char **env = NULL;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, fds[2], status = 0, rc = -1;
	char *argv[5] = { NULL };
	bool timed_out, lost;
	pid_t pid;

	if (conf_load(ctx->settings, &c, err) != 0)
		return -1;
	if (cf_target_normalize(fqdn, name, err) != 0) {
		cf_err_wrap(err, WHO);
		goto out;
	}
	if (value == NULL || value[0] == '\0' || strlen(value) > 1024) {
		cf_err_set(err, CF_ERR_PERMANENT, WHO ": TXT value empty or over 1024 bytes");
		goto out;
	}
	snprintf(target, sizeof(target), "%s.", name);
	argv[0] = (char *)c.command;
	argv[1] = (char *)action;
	argv[2] = target;
	argv[3] = (char *)value;

	tails = calloc(2, sizeof(*tails));
	env = env_build(ctx->settings);
	if (tails == NULL || env == NULL) {
		cf_err_oom(err, WHO);
		goto out;
	}
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		cf_err_set(err, CF_ERR_TRANSIENT, WHO ": pipe: %s", strerror(errno));
		goto out;
	}
	pid = spawn(&c, argv, env, out, errp, err);
	if (pid < 0)
		goto out;
	fds[0] = out[0];
	fds[1] = errp[0];
	out[0] = errp[0] = -1; /* supervise closes them */
	supervise(pid, (long)cf_clock_mono_ms() + c.timeout_s * 1000, fds, tails, &status,
		  &timed_out, &lost);
	output_tail(ctx->settings, tails, tail, sizeof(tail));
	if (lost)
		cf_err_set(err, CF_ERR_TRANSIENT,
			   WHO ": %s %s %s: its exit status was lost (is SIGCHLD ignored?)",
			   c.command, action, target);
	else if (timed_out)
		cf_err_set(err, CF_ERR_TRANSIENT,
			   WHO ": %s %s %s did not finish within %ld s (timeout setting); its "
			   "process group was killed%s%s",
			   c.command, action, target, c.timeout_s, tail[0] ? ": " : "", tail);
	else if (WIFSIGNALED(status))
		cf_err_set(err, CF_ERR_TRANSIENT, WHO ": %s %s %s was killed by signal %d%s%s",
			   c.command, action, target, WTERMSIG(status), tail[0] ? ": " : "", tail);
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		cf_err_set(err, WEXITSTATUS(status) == EX_TEMPFAIL ? CF_ERR_TRANSIENT :
								    CF_ERR_PERMANENT,
			   WHO ": %s %s %s exited with status %d%s%s", c.command, action, target,
			   WEXITSTATUS(status), tail[0] ? ": " : " (no output)", tail);
	else
		rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (tails != NULL) {
		cf_wipe(tails, 2 * sizeof(*tails));
		free(tails);
	}
	env_free(env);
	conf_close(&c);
	return rc;
}

static int exec_present(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			cf_err *err)
{
	return run(ctx, "present", fqdn, value, err);
}

static int exec_cleanup(const cf_provider_ctx *ctx, const char *fqdn, const char *value,
			cf_err *err)
{
	return run(ctx, "cleanup", fqdn, value, err);
}

const cf_provider_ops cf_provider_exec = {
	.name = "exec",
	.public_keys = public_keys,
	.validate = exec_validate,
	.present = exec_present,
	.cleanup = exec_cleanup,
};
