/*
 * fuzz_config.c: the settings-file parser and the checks of every setting
 * (service/config.c), as `certfleet serve --config FILE` reads them.
 *
 * The input is written to a file in a private temporary folder and loaded with
 * cf_config_load(); the environment's CERTFLEET_* variables are removed first,
 * since they win over the file and would hide it. Each line is also given to
 * cf_parse_hostport() on its own. Invariants: a load that succeeds has every
 * string setting set and a listen address that parses; one that fails says why;
 * the master key (given inline) is read only from a loaded configuration.
 */
#include "fuzz.h"

#include <unistd.h>

#include "config.h"

extern char **environ;

static char dir[64] = "/tmp/certfleet-fuzz-config.XXXXXX";
static char path[4096];

/* The scratch file and folder go when libFuzzer exits. */
static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t i = 0;

	(void)argc;
	(void)argv;
	while (environ[i] != NULL) {
		char name[256];
		const char *eq = strchr(environ[i], '=');
		size_t n = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);

		if (strncmp(environ[i], "CERTFLEET_", 10) == 0 && n < sizeof(name)) {
			memcpy(name, environ[i], n);
			name[n] = '\0';
			unsetenv(name); /* environ shifts down: look at slot i again */
			continue;
		}
		i++;
	}
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/certfleet.conf", dir);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[256], *text, *line, *save = NULL;
	uint8_t key[32];
	unsigned port;
	cf_config cfg;
	cf_err err = { 0 };
	FILE *f;

	f = fopen(path, "w");
	if (f == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if (cf_config_load(&cfg, path, &err) == 0) {
		FZ_CHECK(cfg.database_url != NULL && cfg.listen != NULL && cfg.log_level != NULL);
		FZ_CHECK(cf_parse_hostport(cfg.listen, host, sizeof(host), &port) == 0);
		FZ_CHECK(port >= 1 && port <= 65535);
		/* a key file could be any path, a FIFO or a terminal: only inline keys */
		if (cfg.master_key_file[0] == '\0')
			(void)cf_config_master_key(&cfg, key, &err);
		cf_config_free(&cfg);
	} else {
		FZ_CHECK(err.msg[0] != '\0');
	}
	cf_err_clear(&err);
	text = fz_str(data, size);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		(void)cf_parse_hostport(line, host, sizeof(host), &port);
	free(text);
	return 0;
}
