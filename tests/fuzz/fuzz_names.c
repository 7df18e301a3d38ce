/*
 * fuzz_names.c: DNS name and alias normalisation (service/dns/names.c) and the
 * alias plan of an order (service/dns/alias.c, the modes that need no network).
 *
 * Input: a first byte that picks the alias mode (none, one target, a map), then
 * lines. In "none" and "one" every line is a name of the order, and in "one" the
 * last line is the target; in "map" a line "name=target" gives a name and its
 * alias. Each line also goes through the name functions alone. Invariants:
 * normalising is idempotent and keeps the name equal (cf_name_equal) to its input;
 * a valid host name is a valid DNS target with the same form; the challenge
 * record of a valid name is itself a valid target; and every record of a plan
 * groups one or two names, with a normalised target.
 */
#include "fuzz.h"

#include "dns/dns.h"

#define MAX_LINES 24

static void one_name(const char *in, const char *other)
{
	char out[CF_NAME_MAX + 1], again[CF_NAME_MAX + 1], tgt[CF_NAME_MAX + 1];
	char rec[CF_NAME_MAX + 1], rec2[CF_NAME_MAX + 1];
	cf_err err = { 0 };
	bool wild;

	if (cf_name_normalize(in, true, out, &err) == 0) {
		FZ_CHECK(cf_name_normalize(out, true, again, &err) == 0);
		FZ_CHECK(strcmp(out, again) == 0);
		FZ_CHECK(cf_name_equal(in, out));
		wild = cf_name_is_wildcard(out);
		FZ_CHECK((cf_name_normalize(in, false, again, &err) == 0) == !wild);
		if (!wild) {
			FZ_CHECK(cf_target_normalize(in, tgt, &err) == 0);
			FZ_CHECK(strcmp(out, tgt) == 0);
		}
		if (cf_challenge_record(out, rec, &err) == 0) {
			FZ_CHECK(cf_target_normalize(rec, rec2, &err) == 0);
			FZ_CHECK(strcmp(rec, rec2) == 0);
			FZ_CHECK(cf_name_is_under(rec, wild ? out + 2 : out));
		}
	}
	if (cf_target_normalize(in, tgt, &err) == 0) {
		FZ_CHECK(cf_target_normalize(tgt, again, &err) == 0);
		FZ_CHECK(strcmp(tgt, again) == 0);
	}
	(void)cf_name_equal(in, other);
	(void)cf_name_is_under(in, other);
	cf_err_clear(&err);
}

static void plan(const char *const *names, size_t n, const cf_alias_spec *spec)
{
	char chk[CF_NAME_MAX + 1];
	cf_alias_plan p = { 0 };
	cf_err err = { 0 };
	size_t i, total = 0;

	if (cf_alias_plan_build(names, n, spec, NULL, &p, &err) == 0) {
		FZ_CHECK(p.n >= 1 && p.n <= n);
		for (i = 0; i < p.n; i++) {
			FZ_CHECK(p.t[i].nnames >= 1 && p.t[i].nnames <= 2);
			FZ_CHECK(p.t[i].names[0] < n);
			FZ_CHECK(cf_target_normalize(p.t[i].target, chk, &err) == 0);
			FZ_CHECK(strcmp(chk, p.t[i].target) == 0);
			total += p.t[i].nnames;
		}
		FZ_CHECK(total == n);
	}
	cf_alias_plan_free(&p);
	cf_err_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *line, *save = NULL, *eq;
	const char *lines[MAX_LINES], *names[MAX_LINES];
	char *targets[MAX_LINES], *keys[MAX_LINES];
	cf_alias_spec spec = { 0 };
	size_t n = 0, i, nnames = 0;

	if (size < 1)
		return 0;
	text = fz_str(data + 1, size - 1);
	for (line = strtok_r(text, "\n", &save); line != NULL && n < MAX_LINES;
	     line = strtok_r(NULL, "\n", &save))
		lines[n++] = line;
	for (i = 0; i < n; i++)
		one_name(lines[i], lines[(i + 1) % n]);
	switch (data[0] % 3) {
	case 0:
		spec.mode = CF_ALIAS_NONE;
		for (i = 0; i < n; i++)
			names[nnames++] = lines[i];
		break;
	case 1:
		if (n < 2)
			goto out;
		spec.mode = CF_ALIAS_ONE;
		spec.one = (char *)lines[n - 1];
		for (i = 0; i + 1 < n; i++)
			names[nnames++] = lines[i];
		break;
	default:
		spec.mode = CF_ALIAS_MAP;
		spec.map_names = keys;
		spec.map_targets = targets;
		for (i = 0; i < n; i++) {
			eq = strchr(lines[i], '=');
			if (eq == NULL) {
				names[nnames++] = lines[i];
				continue;
			}
			*eq = '\0';
			names[nnames++] = lines[i];
			keys[spec.nmap] = (char *)lines[i];
			targets[spec.nmap++] = eq + 1;
		}
		break;
	}
	plan(names, nnames, &spec);
out:
	free(text);
	return 0;
}
