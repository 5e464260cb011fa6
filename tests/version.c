/* SPDX-License-Identifier: MIT */
/* Version and ABI queries: the macros, the library and meson.build agree; struct sizes as built. */

#include "helpers.h"
#include "t-version.h" /* T_MESON_VERSION: meson.build's project version, as text */

#include <stdio.h>
#include <string.h>

static void macros_match_meson(void **state)
{
	(void)state;
	char text[32];
	snprintf(text, sizeof text, "%d.%d.%d", CPORT_VERSION_MAJOR, CPORT_VERSION_MINOR,
		 CPORT_VERSION_PATCH);
	assert_string_equal(text, T_MESON_VERSION);
	assert_int_equal(CPORT_VERSION_HEX, (CPORT_VERSION_MAJOR << 16) |
						    (CPORT_VERSION_MINOR << 8) |
						    CPORT_VERSION_PATCH);
}

static void library_matches_header(void **state)
{
	(void)state;
	assert_int_equal(cport_version(), CPORT_VERSION_HEX);
	const char *s = cport_version_string();
	assert_non_null(s);
	assert_string_equal(s, T_MESON_VERSION);
	assert_ptr_equal(cport_version_string(), s); /* static, the same every call */
}

static void struct_sizes(void **state)
{
	(void)state;
	assert_int_equal(cport_struct_size(CPORT_STRUCT_OP), sizeof(cport_op));
	assert_int_equal(cport_struct_size(CPORT_STRUCT_OPTIONS), sizeof(cport_options));
	assert_int_equal(cport_struct_size(CPORT_STRUCT_STATBUF), sizeof(cport_statbuf));
	assert_int_equal(cport_struct_size(CPORT_STRUCT_ADDR), sizeof(cport_addr));
	assert_int_equal(cport_struct_size(CPORT_STRUCT_IOVEC), sizeof(cport_iovec));
	assert_int_equal(cport_struct_size(CPORT_STRUCT_MSG), sizeof(cport_msg));
	assert_int_equal(cport_struct_size(CPORT_STRUCT_DIO_INFO), sizeof(cport_dio_info));
	assert_int_equal(cport_struct_size(CPORT_STRUCT_SIM_PROFILE), sizeof(cport_sim_profile));
	/* The sizes the header promises in its comments. */
	assert_int_equal(cport_struct_size(CPORT_STRUCT_STATBUF), 256);
	assert_int_equal(cport_struct_size(CPORT_STRUCT_DIO_INFO), 64);
	if (sizeof(void *) == 8) {
		assert_int_equal(cport_struct_size(CPORT_STRUCT_OP), 224);
		assert_int_equal(cport_struct_size(CPORT_STRUCT_ADDR), 136);
	}
}

static void unknown_struct(void **state)
{
	(void)state;
	assert_int_equal(cport_struct_size(0), 0);
	assert_int_equal(cport_struct_size(CPORT_STRUCT_SIM_PROFILE + 1), 0);
	assert_int_equal(cport_struct_size(UINT32_MAX), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(macros_match_meson),
		cmocka_unit_test(library_matches_header),
		cmocka_unit_test(struct_sizes),
		cmocka_unit_test(unknown_struct),
	};
	return T_MAIN("version", tests);
}
