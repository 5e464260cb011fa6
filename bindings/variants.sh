# SPDX-License-Identifier: MIT
# Sourced by bindings/rust/test.sh and bindings/zig/test.sh: the Linux backend variants
# both run their tests on, as the C suite names them (tests/meson.build).

# The variants, in the order the scripts run them.
cport_variants=(io_uring io_uring-pool epoll poll)

# use_variant NAME: set the environment that forces variant NAME. io_uring-pool is
# io_uring with its file ops sent to the thread pool (CPORT_TEST_URING_POOL=1).
use_variant() {
	export CPORT_BACKEND=${1%-pool}
	if [ "$1" = io_uring-pool ]; then
		export CPORT_TEST_URING_POOL=1
	else
		unset CPORT_TEST_URING_POOL
	fi
}
