/* SPDX-License-Identifier: MIT */
/* The fuzz target's entry points, shared by libFuzzer's driver and the replay driver. */
#ifndef CPORT_FUZZ_H
#define CPORT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Run one input (a sequence of cport calls on one port); aborts on a contract
 * violation. Always returns 0 (libFuzzer's convention). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 0 when the backend named by $CPORT_BACKEND starts here, else the CPORT_E* code of
 * its refusal (the reason is printed). Called once before the first input. */
int fz_setup(void);

#endif /* CPORT_FUZZ_H */
