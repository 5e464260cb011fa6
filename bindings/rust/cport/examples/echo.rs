// SPDX-License-Identifier: MIT
// A TCP echo server and its clients on 127.0.0.1 in one process, one thread, one port.

//! Usage: `echo [CLIENTS [ROUNDS]]` (default 4 clients, 200 round trips each). Each
//! client sends messages of varying size (1 byte to 16 KiB), reads the echo back
//! (it may arrive in pieces) and checks it. Bounded: every wait and every receive has
//! a time limit, and the whole run fails after 60 s. The backend is the default, or
//! the one named by $CPORT_BACKEND.

use cport::{
    sock_local, sock_nodelay, tcp_listen, tcp_socket, Addr, Completion, Family, Fd, Op, OpKind,
    Port,
};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const RECV_SIZE: usize = 8192;
const OP_LIMIT: Duration = Duration::from_secs(10);
const RUN_LIMIT: Duration = Duration::from_secs(60);

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

// `user` tokens: the role in the high half, the connection's index in the low half.
const ACCEPTOR: u64 = 1 << 32;
const SERVER: u64 = 2 << 32;
const CLIENT: u64 = 3 << 32;

/// One client: its socket, the message it waits for, and what came back so far.
struct Client {
    fd: Fd,
    round: usize,
    sent: Vec<u8>,
    echoed: Vec<u8>,
    done: bool,
}

/// The message of one round: its size and bytes depend on the client and the round.
fn message(client: usize, round: usize) -> Vec<u8> {
    let len = 1 + (round * 977 + client * 131) % (16 * 1024);
    (0..len).map(|i| (i + round + client) as u8).collect()
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let clients = args.next().unwrap_or(Ok(4));
    let rounds = args.next().unwrap_or(Ok(200));
    let (Ok(clients), Ok(rounds)) = (clients, rounds) else {
        eprintln!("usage: echo [CLIENTS [ROUNDS]]");
        return ExitCode::from(2);
    };
    match run(clients.max(1), rounds.max(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Echo {
    port: Port,
    listener: Fd,
    clients: Vec<Client>,
    servers: Vec<Fd>,
    accepted: usize,
    rounds: usize,
    bytes: u64,
    /// Ops still to complete before the run is over (closes included).
    busy: usize,
}

fn run(n: usize, rounds: usize) -> AnyResult<()> {
    let start = Instant::now();
    let port = Port::new()?;
    let listener = tcp_listen(&Addr::parse("127.0.0.1:0")?, 128, 0)?;
    let addr = sock_local(listener)?;
    let mut e = Echo {
        port,
        listener,
        clients: Vec::new(),
        servers: Vec::new(),
        accepted: 0,
        rounds,
        bytes: 0,
        busy: 0,
    };
    e.submit(Op::accept(listener).user(ACCEPTOR))?;
    for i in 0..n {
        let fd = tcp_socket(Family::Inet)?;
        // Echoes come back in pieces: without NODELAY, Nagle holds a piece back
        // until the delayed ACK of the one before.
        sock_nodelay(fd, true)?;
        e.clients.push(Client { fd, round: 0, sent: Vec::new(), echoed: Vec::new(), done: false });
        e.submit(Op::connect(fd, &addr).user(CLIENT | i as u64).timeout(OP_LIMIT))?;
    }
    let mut done = Vec::new();
    while e.busy > 0 {
        if start.elapsed() > RUN_LIMIT {
            return Err(format!("not finished after {RUN_LIMIT:?}").into());
        }
        done.clear();
        e.port.wait_into(&mut done, 64, Some(Duration::from_secs(1)))?;
        for c in done.drain(..) {
            e.busy -= 1;
            e.handle(c)?;
        }
    }
    if e.clients.iter().any(|c| !c.done) || e.accepted != n {
        return Err("a client did not finish".into());
    }
    e.port.complete(Op::close(e.listener))?.result()?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "echo: {n} clients x {rounds} round trips, {} bytes echoed, on {} in {ms:.1} ms",
        e.bytes,
        e.port.backend_name()
    );
    Ok(())
}

impl Echo {
    fn submit(&mut self, op: Op) -> AnyResult<()> {
        self.port.submit(op)?;
        self.busy += 1;
        Ok(())
    }

    fn handle(&mut self, c: Completion) -> AnyResult<()> {
        let idx = (c.user() & 0xffff_ffff) as usize;
        match (c.user() & !0xffff_ffff, c.kind()) {
            (ACCEPTOR, _) => self.accepted(c),
            (SERVER, OpKind::Recv) => self.server_received(idx, c),
            (SERVER, OpKind::Send) => {
                // Echoed: reuse the buffer for the next receive.
                c.result()?;
                let mut buf = c.into_buf().unwrap_or_default();
                buf.resize(RECV_SIZE, 0);
                self.submit(Op::recv(self.servers[idx], buf).user(SERVER | idx as u64))
            }
            (CLIENT, OpKind::Connect) => {
                c.result()?;
                self.client_send(idx)
            }
            (CLIENT, OpKind::Send) => c.result().map(drop).map_err(Into::into),
            (CLIENT, OpKind::Recv) => self.client_received(idx, c),
            (_, OpKind::Close) => c.result().map(drop).map_err(Into::into),
            (_, kind) => Err(format!("unexpected completion of {kind:?}").into()),
        }
    }

    /// A new connection: start echoing on it, and accept the next one.
    fn accepted(&mut self, c: Completion) -> AnyResult<()> {
        let fd = c.fd()?;
        sock_nodelay(fd, true)?;
        let idx = self.servers.len();
        self.servers.push(fd);
        self.accepted += 1;
        self.submit(Op::recv(fd, vec![0u8; RECV_SIZE]).user(SERVER | idx as u64))?;
        if self.accepted < self.clients.len() {
            self.submit(Op::accept(self.listener).user(ACCEPTOR))?;
        }
        Ok(())
    }

    /// Bytes from a client go back as they came; end of stream closes the socket.
    fn server_received(&mut self, idx: usize, c: Completion) -> AnyResult<()> {
        let fd = self.servers[idx];
        if c.result()? == 0 {
            return self.submit(Op::close(fd).user(SERVER | idx as u64));
        }
        let buf = c.into_buf().unwrap_or_default(); // cut to the bytes received
        self.bytes += buf.len() as u64;
        self.submit(Op::send(fd, buf).user(SERVER | idx as u64))
    }

    /// Send this round's message and wait for its echo.
    fn client_send(&mut self, idx: usize) -> AnyResult<()> {
        let cl = &mut self.clients[idx];
        cl.sent = message(idx, cl.round);
        cl.echoed.clear();
        let fd = cl.fd;
        let msg = cl.sent.clone();
        self.submit(Op::send(fd, msg).user(CLIENT | idx as u64).timeout(OP_LIMIT))?;
        self.client_recv(idx, vec![0u8; RECV_SIZE])
    }

    fn client_recv(&mut self, idx: usize, buf: Vec<u8>) -> AnyResult<()> {
        let op = Op::recv(self.clients[idx].fd, buf).user(CLIENT | idx as u64).timeout(OP_LIMIT);
        self.submit(op)
    }

    /// A piece of the echo: compare once all of it is back, then the next round or,
    /// after the last, close (the server then sees end of stream).
    fn client_received(&mut self, idx: usize, c: Completion) -> AnyResult<()> {
        if c.result()? == 0 {
            return Err(format!("client {idx}: the server closed early").into());
        }
        let mut buf = c.into_buf().unwrap_or_default();
        let cl = &mut self.clients[idx];
        cl.echoed.extend_from_slice(&buf);
        if cl.echoed.len() < cl.sent.len() {
            buf.resize(RECV_SIZE, 0);
            return self.client_recv(idx, buf);
        }
        if cl.echoed != cl.sent {
            return Err(format!("client {idx}: round {} came back different", cl.round).into());
        }
        cl.round += 1;
        if cl.round < self.rounds {
            return self.client_send(idx);
        }
        cl.done = true;
        let fd = cl.fd;
        self.submit(Op::close(fd).user(CLIENT | idx as u64))
    }
}
