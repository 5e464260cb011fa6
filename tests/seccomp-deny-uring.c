/* SPDX-License-Identifier: MIT */
/* Test wrapper: run a command with io_uring's system calls denied (EPERM) by a seccomp filter, as Docker's default profile does. */

/*
 * Usage: seccomp-deny-uring COMMAND [ARG...]
 *
 * Installs a seccomp filter that makes io_uring_setup, io_uring_enter and
 * io_uring_register fail with EPERM and allows everything else, checks that
 * io_uring_setup is now refused, then execs COMMAND. The filter is inherited by every
 * child and survives exec. PR_SET_NO_NEW_PRIVS lets an unprivileged process install
 * it. .ci/seccomp.sh runs the test suite under it (meson test --wrapper): the io_uring
 * variants must skip, everything else pass. Not a test itself; Linux only.
 */

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The io_uring system calls have the same numbers on every architecture (Linux 5.1,
 * from the unified table); older C libraries may not name them. */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

/* The audit architecture of this build: the filter only judges calls made with this
 * architecture's numbers and lets others through (a compat-mode call numbers its
 * system calls differently). */
#if defined(__x86_64__) && defined(__ILP32__)
#define DENY_ARCH AUDIT_ARCH_X86_64 /* x32: x86-64 numbers plus a flag bit */
#define DENY_NR_BIAS 0x40000000u    /* __X32_SYSCALL_BIT */
#elif defined(__x86_64__)
#define DENY_ARCH AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define DENY_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__)
#define DENY_ARCH AUDIT_ARCH_AARCH64
#elif defined(__arm__)
#define DENY_ARCH AUDIT_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#define DENY_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DENY_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define DENY_ARCH AUDIT_ARCH_S390X
#endif
#ifndef DENY_NR_BIAS
#define DENY_NR_BIAS 0u
#endif

#ifdef DENY_ARCH
static int deny_uring(void)
{
	struct sock_filter prog[] = {
		/* Another architecture's numbering: allow. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DENY_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* io_uring_setup, io_uring_enter, io_uring_register: EPERM. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DENY_NR_BIAS + __NR_io_uring_setup, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DENY_NR_BIAS + __NR_io_uring_enter, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DENY_NR_BIAS + __NR_io_uring_register, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
	struct sock_fprog fprog = {
		.len = (unsigned short)(sizeof prog / sizeof prog[0]),
		.filter = prog,
	};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "seccomp-deny-uring: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0) {
		fprintf(stderr, "seccomp-deny-uring: PR_SET_SECCOMP: %s\n", strerror(errno));
		return -1;
	}
	/* Prove it: the call must now fail with EPERM before it looks at its arguments
	 * (a bad pointer would be EFAULT from the kernel itself). */
	long r = syscall(__NR_io_uring_setup, 1u, NULL);
	if (r != -1 || errno != EPERM) {
		fprintf(stderr, "seccomp-deny-uring: io_uring_setup not refused (%ld, %s)\n", r,
			strerror(errno));
		return -1;
	}
	return 0;
}
#else
static int deny_uring(void)
{
	fprintf(stderr, "seccomp-deny-uring: no audit architecture known for this build\n");
	return -1;
}
#endif

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: seccomp-deny-uring COMMAND [ARG...]\n");
		return 2;
	}
	if (deny_uring() < 0)
		return 1;
	execvp(argv[1], argv + 1);
	fprintf(stderr, "seccomp-deny-uring: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
