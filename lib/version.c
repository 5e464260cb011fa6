/* SPDX-License-Identifier: MIT */
/* Version and ABI queries: the library's version and the sizes of its public structs as built. */

#include "cport.h"

/* "0.2.0" from the three macros, so the text cannot drift from the numbers. */
#define VERSION_STR_(x) #x
#define VERSION_STR(x) VERSION_STR_(x)
#define VERSION_TEXT                                                                 \
	VERSION_STR(CPORT_VERSION_MAJOR)                                                \
	"." VERSION_STR(CPORT_VERSION_MINOR) "." VERSION_STR(CPORT_VERSION_PATCH)

uint32_t cport_version(void)
{
	return (uint32_t)CPORT_VERSION_HEX;
}

const char *cport_version_string(void)
{
	return VERSION_TEXT;
}

size_t cport_struct_size(uint32_t which)
{
	switch (which) {
	case CPORT_STRUCT_OP:
		return sizeof(cport_op);
	case CPORT_STRUCT_OPTIONS:
		return sizeof(cport_options);
	case CPORT_STRUCT_STATBUF:
		return sizeof(cport_statbuf);
	case CPORT_STRUCT_ADDR:
		return sizeof(cport_addr);
	case CPORT_STRUCT_IOVEC:
		return sizeof(cport_iovec);
	case CPORT_STRUCT_MSG:
		return sizeof(cport_msg);
	case CPORT_STRUCT_DIO_INFO:
		return sizeof(cport_dio_info);
	case CPORT_STRUCT_SIM_PROFILE:
		return sizeof(cport_sim_profile);
	default:
		return 0;
	}
}
