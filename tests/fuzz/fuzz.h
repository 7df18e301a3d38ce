/*
 * fuzz.h: what every libFuzzer harness of tests/fuzz shares: the entry points'
 * prototypes (declared before they are defined, for -Wmissing-prototypes), a
 * NUL-terminated copy of the input (most parsers take C strings), and FZ_CHECK,
 * which aborts on a broken invariant so that libFuzzer records the input as a
 * crash like any sanitizer report.
 *
 * Each fuzz_<target>.c is one fuzzer (built by CMake with -DFUZZ=ON, run by
 * scripts/fuzz); its seeds are in corpus/<target>/.
 */
#ifndef CERTFLEET_FUZZ_H
#define CERTFLEET_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A malloc'd NUL-terminated copy of data (NULL bytes inside are kept, so the
 * parser sees the string up to the first one, as it would from a C API). The
 * caller frees; aborts when memory runs out. */
static inline char *fz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#define FZ_CHECK(cond)                                                                   \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                  \
			abort();                                                         \
		}                                                                        \
	} while (0)

#endif
