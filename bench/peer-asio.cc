// SPDX-License-Identifier: MIT
// The Asio peer of mt-echo and mt-uneven: Boost.Asio's model (standalone Asio, Debian's
// libasio-dev) with several threads running one io_context over epoll, each connection a
// chain of async_read_some -> the work per request -> async_write -> again, as Asio's
// own echo examples do. The connections come accepted (bench/wl-mt.c makes them).

#include "mt.h"

#include <asio.hpp>

#include <memory>
#include <new>
#include <thread>
#include <vector>

namespace {

struct conn : std::enable_shared_from_this<conn> {
	asio::ip::tcp::socket sock;
	unsigned work_iters;
	unsigned carry = 0; // bytes of a request not yet whole
	uint64_t sink = 1;
	char buf[MT_BUF];

	conn(asio::io_context &io, int fd, unsigned iters)
	    : sock(io, asio::ip::tcp::v4(), fd), work_iters(iters)
	{
	}

	void read()
	{
		auto self = shared_from_this();
		sock.async_read_some(asio::buffer(buf), [self](std::error_code ec, size_t n) {
			if (!ec)
				self->answer(n);
		});
	}

	void answer(size_t n)
	{
		unsigned whole = (carry + (unsigned)n) / MT_MSG;
		carry = (carry + (unsigned)n) % MT_MSG;
		for (unsigned i = 0; i < whole; i++)
			sink = mt_work(work_iters, sink);
		auto self = shared_from_this();
		asio::async_write(sock, asio::buffer(buf, n), [self](std::error_code ec, size_t) {
			if (!ec)
				self->read();
		});
	}
};

struct server {
	asio::io_context io;
	asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
	std::vector<std::shared_ptr<conn>> conns;
	std::vector<std::thread> threads;
};

} // namespace

extern "C" void *mt_asio_start(const int *sfd, unsigned n, unsigned threads,
			       unsigned work_iters)
{
	try {
		auto *s = new server;
		for (unsigned i = 0; i < n; i++) {
			s->conns.push_back(std::make_shared<conn>(s->io, sfd[i], work_iters));
			s->conns.back()->read();
		}
		for (unsigned t = 0; t < threads; t++)
			s->threads.emplace_back([s] { s->io.run(); });
		return s;
	} catch (...) {
		return nullptr;
	}
}

// Stops the io_context and joins its threads. The sockets were the caller's
// descriptors: released, not closed (the caller closes them).
extern "C" void mt_asio_stop(void *p)
{
	auto *s = static_cast<server *>(p);
	s->guard.reset();
	s->io.stop();
	for (auto &t : s->threads)
		t.join();
	for (auto &c : s->conns) {
		std::error_code ec;
		c->sock.release(ec);
	}
	delete s;
}
