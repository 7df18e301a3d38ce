/*
 * test_fleet_ops.c: the pure parts of fleet operations: the RFC 9773 certificate
 * identifier (the RFC's own example: AKI 69:88:5B:... and serial 0x0087654321
 * give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"), the renewalInfo body and its RFC
 * 3339 times, and the in-process metrics (HTTP counters by route, method and
 * status; the cumulative histogram; label escaping).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "crypto/crypto.h"
#include "metrics.h"

static const char cert_high_bit[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBQjCB6KADAgECAgUAh2VDITAKBggqhkjOPQQDAjAWMRQwEgYDVQQDDAthcmkg\n"
	"dGVzdCBjYTAeFw0yNTAxMDEwMDAwMDBaFw0zNDEyMzAwMDAwMDBaMBYxFDASBgNV\n"
	"BAMMC2FyaS5leGFtcGxlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEguokG7sv\n"
	"Eh2C8lp3nDwASVpjWBYVYkI9MU1mIHsa3mAvBKYJhQ3aoRqRTNaRiV5Xre24TBOX\n"
	"fyf4CJ2rlLYKbaMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4ByNQw\n"
	"CgYIKoZIzj0EAwIDSQAwRgIhAKwDeTnns2jdCcoQrCDsonXqA3ZaIsJ72VbtPKTM\n"
	"ZHAlAiEAhpaytc2PJxfIb13myCcvGguBA89P/0Ye82XCnpE7pbM=\n"
	"-----END CERTIFICATE-----\n";
static const char cert_low[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBPTCB5aADAgECAgISNDAKBggqhkjOPQQDAjAWMRQwEgYDVQQDDAthcmkgdGVz\n"
	"dCBjYTAeFw0yNTAxMDEwMDAwMDBaFw0zNDEyMzAwMDAwMDBaMBYxFDASBgNVBAMM\n"
	"C2FyaS5leGFtcGxlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEguokG7svEh2C\n"
	"8lp3nDwASVpjWBYVYkI9MU1mIHsa3mAvBKYJhQ3aoRqRTNaRiV5Xre24TBOXfyf4\n"
	"CJ2rlLYKbaMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4ByNQwCgYI\n"
	"KoZIzj0EAwIDRwAwRAIgLp1nfTl5A49p8IYS5lpDFmAgG71tBPRplfGnrsmxf6kC\n"
	"IGk3rhySeEgGIhhC+6kxgNEmRISNcWU06b2c+NaYvUft\n"
	"-----END CERTIFICATE-----\n";
static const char cert_no_aki[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBGTCBv6ADAgECAgEFMAoGCCqGSM49BAMCMBYxFDASBgNVBAMMC2FyaSB0ZXN0\n"
	"IGNhMB4XDTI1MDEwMTAwMDAwMFoXDTM0MTIzMDAwMDAwMFowFjEUMBIGA1UEAwwL\n"
	"YXJpLmV4YW1wbGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASC6iQbuy8SHYLy\n"
	"WnecPABJWmNYFhViQj0xTWYgexreYC8EpgmFDdqhGpFM1pGJXlet7bhME5d/J/gI\n"
	"nauUtgptMAoGCCqGSM49BAMCA0kAMEYCIQCXUkxlwiGm1Jrtcl5WZKcwWwCLWbit\n"
	"e8PIyZ5ILgPfTwIhANK8Wstem8LpvyH2BegmL6isGa75F9X71/A9kDm+WL1A\n"
	"-----END CERTIFICATE-----\n";

static void test_ari_cert_id(void **state)
{
	cf_err err = {0};
	char *id;

	id = cf_cert_ari_id(cert_high_bit, strlen(cert_high_bit), &err);
	assert_non_null(id);
	assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"); /* RFC 9773 4.1 */
	free(id);
	id = cf_cert_ari_id(cert_low, strlen(cert_low), &err);
	assert_non_null(id);
	assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.EjQ"); /* no leading zero */
	free(id);
	assert_null(cf_cert_ari_id(cert_no_aki, strlen(cert_no_aki), &err));
	assert_non_null(strstr(err.msg, "Authority Key Identifier"));
	cf_err_clear(&err);
	assert_null(cf_cert_ari_id("nope", 4, &err));
	cf_err_clear(&err);
}

static void test_rfc3339(void **state)
{
	static const struct {
		const char *in;
		long long want; /* -1: refused */
	} cases[] = {
		{"2025-01-02T04:00:00Z", 1735790400},
		{"2025-01-02T04:00:00.123456Z", 1735790400},
		{"2025-01-02t04:00:00z", 1735790400},
		{"2025-01-02T05:30:00+01:30", 1735790400},
		{"2025-01-02T02:00:00-02:00", 1735790400},
		{"2025-01-02T04:00:00", -1},
		{"2025-01-02 04:00", -1},
		{"2025-13-02T04:00:00Z", -1},
		{"2025-01-02T04:00:00Zjunk", -1},
		{"", -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = 0;
		int rc = cf_acme_rfc3339_parse(cases[i].in, &t);

		if (cases[i].want < 0) {
			assert_int_equal(rc, -1);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal((long long)t, cases[i].want);
		}
	}
}

static int parse(const char *body, cf_acme_renewal_info *ri, cf_err *err)
{
	return cf_acme_renewal_info_parse(body, strlen(body), ri, err);
}

static void test_renewal_info_parse(void **state)
{
	cf_acme_renewal_info ri = {0};
	cf_err err = {0};

	assert_int_equal(parse("{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
			       "\"end\":\"2025-01-03T04:00:00Z\"},\"explanationURL\":"
			       "\"https://ca.example/why\"}", &ri, &err), 0);
	assert_int_equal((long long)ri.start, 1735790400);
	assert_int_equal((long long)(ri.end - ri.start), 86400);
	assert_string_equal(ri.explanation_url, "https://ca.example/why");
	cf_acme_renewal_info_free(&ri);
	/* an empty or inverted window is invalid (RFC 9773 section 4.2) */
	assert_int_equal(parse("{\"suggestedWindow\":{\"start\":\"2025-01-03T04:00:00Z\","
			       "\"end\":\"2025-01-03T04:00:00Z\"}}", &ri, &err), -1);
	cf_err_clear(&err);
	assert_int_equal(parse("{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\"}}", &ri,
			       &err), -1);
	cf_err_clear(&err);
	assert_int_equal(parse("{\"suggestedWindow\":{\"start\":\"soon\",\"end\":\"later\"}}",
			       &ri, &err), -1);
	cf_err_clear(&err);
	assert_int_equal(parse("[]", &ri, &err), -1);
	cf_err_clear(&err);
	cf_acme_renewal_info_free(&ri);
}

typedef struct seen {
	int route, status;
	char method[8];
	unsigned long long n;
} seen;

static void collect(int route, const char *method, int status, unsigned long long n, void *arg)
{
	seen *s = arg;

	for (; s->n != 0; s++)
		;
	s->route = route;
	s->status = status;
	strcpy(s->method, method);
	s->n = n;
}

static unsigned long long count_of(const seen *s, int route, const char *m, int status)
{
	for (; s->n != 0; s++)
		if (s->route == route && s->status == status && strcmp(s->method, m) == 0)
			return s->n;
	return 0;
}

static void test_http_counters(void **state)
{
	seen s[32] = {{0}};

	for (int i = 0; i < 3; i++)
		cf_metrics_http(2, "GET", 200);
	cf_metrics_http(2, "POST", 201);
	cf_metrics_http(-1, "GET", 404);
	cf_metrics_http(7, "BREW", 418);
	cf_metrics_http(2, "GET", 5000); /* out of range: status 0 */
	cf_metrics_http_foreach(collect, s);
	assert_int_equal(count_of(s, 2, "GET", 200), 3);
	assert_int_equal(count_of(s, 2, "POST", 201), 1);
	assert_int_equal(count_of(s, -1, "GET", 404), 1);
	assert_int_equal(count_of(s, 7, "OTHER", 418), 1);
	assert_int_equal(count_of(s, 2, "GET", 0), 1);
}

static const char *two_routes(int route)
{
	return route == 0 ? "/v1/a" : route == 1 ? "/v1/b/{id}" : NULL;
}

static void test_http_route_names(void **state)
{
	(void)state;
	assert_string_equal(cf_metrics_http_route_name(-1), "unmatched");
	cf_metrics_http_set_route_names(NULL);
	assert_string_equal(cf_metrics_http_route_name(1), "unknown");
	cf_metrics_http_set_route_names(two_routes);
	assert_string_equal(cf_metrics_http_route_name(1), "/v1/b/{id}");
	assert_string_equal(cf_metrics_http_route_name(5), "unknown");
	assert_string_equal(cf_metrics_http_route_name(-1), "unmatched");
	cf_metrics_http_set_route_names(NULL);
}

static void test_histogram_and_escape(void **state)
{
	cf_metrics_hist h;
	cf_buf b = {0};

	cf_metrics_issue_observe(0.5);
	cf_metrics_issue_observe(3);
	cf_metrics_issue_observe(7200);
	cf_metrics_issue_observe(-1); /* a clock step: counted as 0 */
	cf_metrics_issue_read(&h);
	assert_int_equal(h.count, 4);
	assert_int_equal(h.bucket[0], 2);                            /* le 1 */
	assert_int_equal(h.bucket[2], 3);                            /* le 5 */
	assert_int_equal(h.bucket[CF_METRICS_ISSUE_BUCKETS - 1], 3); /* le 3600 */
	assert_true(h.sum > 7203.4 && h.sum < 7203.6);
	cf_metrics_dns_error("lab-bind");
	cf_metrics_dns_error("lab-bind");
	assert_int_equal(cf_metrics_escape(&b, "a\"b\\c\nd"), 0);
	assert_string_equal((char *)b.data, "a\\\"b\\\\c\\nd");
	cf_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ari_cert_id),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_renewal_info_parse),
		cmocka_unit_test(test_http_counters),
		cmocka_unit_test(test_http_route_names),
		cmocka_unit_test(test_histogram_and_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
