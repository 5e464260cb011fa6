/* SPDX-License-Identifier: MIT */
/* The fault soak: fault-inject.c's three paths under every fault class at once, round after round. */

/*
 * Each round runs the files, pool and streams workloads of tests/fault-inject.c (their
 * ledgers and byte checks included) with every class enabled, drawn by a schedule
 * seeded per round; a class a call does not fit is never drawn for it. CI runs it for
 * a few seconds ($CPORT_SOAK_SECONDS, default 3). Outside CI,
 * CPORT_SOAK_FAULTS=1000000 runs until every class that a path of this backend can
 * meet was injected at least that often (ECONNRESET only fits sockets: io_uring-pool
 * has none to inject into). It prints the count per class and the first seed;
 * CPORT_TEST_SEED reruns a schedule.
 */

#define FAULT_SOAK 1
#include "fault-inject.c"

#ifdef __linux__

static void soak(void **state)
{
	(void)state;
	if (!table_backend(false))
		return;
	bool streams_here = strcmp(t_backend(), "io_uring") != 0;
	const char *sf = getenv("CPORT_SOAK_FAULTS"), *ss = getenv("CPORT_SOAK_SECONDS");
	const char *seed_env = getenv("CPORT_TEST_SEED");
	uint64_t want = sf ? strtoull(sf, NULL, 10) : 0;
	uint64_t secs = ss ? strtoull(ss, NULL, 10) : 3;
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)t_now_ms();
	printf("fault-soak: seed 0x%llx (CPORT_TEST_SEED reruns it)\n", (unsigned long long)seed);
	fault_per_mille = 300;
	rng = seed | 1;
	tf_reset();
	uint64_t t0 = t_now_ms(), rounds = 0;
	for (;; rounds++) {
		uint64_t s = seed + rounds * 0x9e3779b9u;
		run_files(TF_ALL, s);
		run_pool(TF_ALL, s + 1);
		if (streams_here)
			run_streams(TF_ALL, s + 2);
		bool enough = true;
		for (int c = 0; c < TF_CLASSES; c++)
			if (c != TF_ECONNRESET || streams_here)
				enough = enough && tf_count((enum tf_class)c) >= want;
		if (want ? enough : t_now_ms() - t0 >= secs * 1000)
			break;
	}
	printf("fault-soak/%s: %llu rounds in %.1f s; faults injected per class:\n", t_backend(),
	       (unsigned long long)rounds + 1, (double)(t_now_ms() - t0) / 1000);
	for (int c = 0; c < TF_CLASSES; c++) {
		printf("  %-10s %llu\n", tf_name((enum tf_class)c),
		       (unsigned long long)tf_count((enum tf_class)c));
		if (c != TF_ECONNRESET || streams_here)
			assert_true(tf_count((enum tf_class)c) > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(soak, teardown)};
	return T_MAIN("fault-soak", tests);
}

#else

int main(void)
{
	return tf_not_here("fault-soak");
}

#endif
