//! Scenario 34 (F. Processes serving the network): an echo server with one process per
//! connection.
//!
//! A TCP server on 127.0.0.1 accepts connections and starts a process for each, which echoes
//! every line back in upper case until the client closes. A client mode reads lines from
//! standard input, sends them and prints the replies.
//!
//! Modes:
//! - default (`--self-test`): the whole scenario in one run — a server process on a free port
//!   (or `--port`), two clients at once from threads of the main process, a check that every
//!   reply is the upper-cased line and that each connection had a process of its own; then
//!   everything stops.
//! - `--serve`: only the server, until `--max-connections` connections have been served
//!   (default: no limit; stop it with Ctrl-C).
//! - `--client ADDR`: only the client.
//!
//! The accepted socket reaches its handler process as an argument ([`FdArg`], Python's
//! `reduction.DupFd`), so the demo works under every start method (`--method`).
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use demos::{Opts, say};
use procpool::{Context, FdArg, Process, Queue, get_context};

const USAGE: &str = "\
echo_server — scenario 34: a TCP echo server with one process per connection

Usage: echo_server [--self-test] [--port P]       server + two clients, checked (default)
       echo_server --serve [--port P] [--max-connections N]
       echo_server --client ADDR                   send stdin lines, print the replies

The server listens on 127.0.0.1:P (0, the default, picks any free port and prints it). Each
connection gets a process of its own, which echoes every line back in upper case until the
client closes. The handler receives the accepted socket as an argument (an FdArg), so the demo
works under every start method (--method fork|spawn|forkserver).

Options:
  --port P              port to listen on (default 0: any free port)
  --max-connections N   --serve: stop after N connections (default 0: serve until killed)
  --client ADDR         client mode: connect to ADDR (host:port)";

/// A connection's handler, run in a process of its own: echoes each line in upper case.
fn handle((socket, peer): (FdArg, String)) -> Result<(), String> {
    let stream = TcpStream::from(socket.into_owned());
    let pid = std::process::id();
    let reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut writer = stream;
    for line in reader.lines() {
        let line = line.map_err(|e| format!("reading from {peer}: {e}"))?;
        say!("[handler {pid}] {peer} sent {line:?}");
        writeln!(writer, "{}", line.to_uppercase())
            .map_err(|e| format!("writing to {peer}: {e}"))?;
    }
    say!("[handler {pid}] {peer} closed the connection");
    Ok(())
}

/// What the server process gets: the listening socket, the connection limit, where to report
/// handler pids, and the start method for handlers.
type ServerArgs = (FdArg, Option<usize>, Option<Queue<u32>>, String);

/// The server process's target.
fn server_main((listener, max, pids, method): ServerArgs) -> Result<(), String> {
    let ctx = get_context(
        method
            .parse()
            .map_err(|_| format!("bad start method {method}"))?,
    );
    serve(&ctx, TcpListener::from(listener.into_owned()), max, pids)
}

/// The server: accepts connections and starts a handler process for each; after `max`
/// connections (if given) it waits for its handlers and returns. Each handler's pid is put
/// into `pids`, when given.
fn serve(
    ctx: &Context,
    listener: TcpListener,
    max: Option<usize>,
    pids: Option<Queue<u32>>,
) -> Result<(), String> {
    let me = std::process::id();
    let mut handlers: Vec<Process> = Vec::new();
    let mut served = 0usize;
    for conn in listener.incoming() {
        let stream = conn.map_err(|e| format!("accept: {e}"))?;
        let peer = stream
            .peer_addr()
            .map_err(|e| format!("peer address: {e}"))?;
        let socket = FdArg::new(stream.as_fd()).map_err(|e| format!("dup: {e}"))?;
        let mut p = ctx
            .process(handle, (socket, peer.to_string()))
            .with_name(format!("echo-{peer}"));
        p.start()
            .map_err(|e| format!("cannot start a handler: {e}"))?;
        let pid = p.pid().unwrap_or(0);
        say!("[server {me}] connection from {peer}: handler process {pid}");
        if let Some(q) = &pids {
            let _ = q.put(pid);
        }
        handlers.push(p);
        // Forget the handlers that have finished (each is reaped either way).
        handlers.retain(Process::is_alive);
        served += 1;
        if max.is_some_and(|m| served >= m) {
            break;
        }
    }
    drop(listener);
    for p in &handlers {
        let _ = p.join();
    }
    say!("[server {me}] served {served} connections; stopping");
    Ok(())
}

fn bind(opts: &Opts) -> TcpListener {
    let port: u16 = opts.number("--port", 0);
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo_server: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        }
    }
}

fn addr_of(l: &TcpListener) -> SocketAddr {
    l.local_addr()
        .expect("a bound listener has a local address")
}

/// Client mode: sends each line of standard input and prints the reply.
fn client(addr: &str) -> Result<(), String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut writer = stream;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        writeln!(writer, "{line}").map_err(|e| format!("sending: {e}"))?;
        let mut reply = String::new();
        if reader
            .read_line(&mut reply)
            .map_err(|e| format!("receiving: {e}"))?
            == 0
        {
            return Err("the server closed the connection".into());
        }
        say!("{}", reply.trim_end_matches('\n'));
    }
    let _ = writer.shutdown(Shutdown::Write);
    Ok(())
}

/// One client of the self-test: sends `lines`, checks each reply; returns how many matched.
fn test_client(addr: SocketAddr, id: usize, lines: &[&str]) -> Result<usize, String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("client {id}: cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut writer = stream;
    let mut good = 0;
    for line in lines {
        writeln!(writer, "{line}").map_err(|e| format!("client {id}: sending: {e}"))?;
        let mut reply = String::new();
        reader
            .read_line(&mut reply)
            .map_err(|e| format!("client {id}: receiving: {e}"))?;
        let reply = reply.trim_end_matches('\n');
        let want = line.to_uppercase();
        if reply == want {
            good += 1;
            say!("client {id} sent {line:?}, got {reply:?}");
        } else {
            say!("client {id} sent {line:?}, got {reply:?} (expected {want:?})");
        }
    }
    writer
        .shutdown(Shutdown::Write)
        .map_err(|e| format!("client {id}: shutdown: {e}"))?;
    Ok(good)
}

fn self_test(opts: &Opts) -> Result<bool, String> {
    let listener = bind(opts);
    let addr = addr_of(&listener);
    say!("echo server listening on {addr}");
    let pids: Queue<u32> = Queue::unbounded().map_err(|e| format!("cannot create a queue: {e}"))?;
    let server_pids = pids.clone();
    let method = opts.start_method();
    let socket = FdArg::new(listener.as_fd()).map_err(|e| format!("dup: {e}"))?;
    drop(listener);
    let mut server = get_context(method)
        .process(
            server_main,
            (
                socket,
                Some(2),
                Some(server_pids),
                method.as_str().to_string(),
            ),
        )
        .with_name("echo-server");
    server
        .start()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let server_pid = server.pid().unwrap_or(0);
    say!("server process {server_pid} started");

    let scripts: [&[&str]; 2] = [
        &["hello", "one process per connection", "bye"],
        &[
            "grüße from client 2",
            "ß and ﬁ grow when upper-cased",
            "done",
        ],
    ];
    let results: Vec<Result<usize, String>> = std::thread::scope(|s| {
        let clients: Vec<_> = scripts
            .iter()
            .enumerate()
            .map(|(i, lines)| s.spawn(move || test_client(addr, i + 1, lines)))
            .collect();
        clients
            .into_iter()
            .map(|c| {
                c.join()
                    .unwrap_or_else(|_| Err("a client thread panicked".into()))
            })
            .collect()
    });
    let stopped = match server.join_timeout(Duration::from_secs(20)) {
        Ok(code) => code == 0,
        Err(_) => {
            say!("the server did not stop in time; terminating it");
            let _ = server.terminate();
            let _ = server.join_timeout(Duration::from_secs(5));
            false
        }
    };
    let mut handler_pids = Vec::new();
    while let Ok(pid) = pids.try_get() {
        handler_pids.push(pid);
    }
    let total: usize = scripts.iter().map(|s| s.len()).sum();
    let mut good = 0;
    for r in results {
        match r {
            Ok(n) => good += n,
            Err(e) => say!("{e}"),
        }
    }
    handler_pids.sort_unstable();
    handler_pids.dedup();
    let me = std::process::id();
    let separate = handler_pids.len() == 2
        && !handler_pids.contains(&me)
        && !handler_pids.contains(&server_pid);
    say!(
        "self-test: {good} of {total} lines echoed upper-cased; handler processes {handler_pids:?}; \
         server stopped: {stopped}"
    );
    let ok = good == total && separate && stopped;
    if ok {
        say!("ok: every reply was upper-cased, by one process per connection");
    } else {
        say!("FAILED: the echo server self-test");
    }
    Ok(ok)
}

fn main() {
    let opts = Opts::parse(USAGE);
    let result = if let Some(addr) = opts.value("--client") {
        client(addr).map(|()| true)
    } else if opts.flag("--serve") {
        let listener = bind(&opts);
        say!(
            "echo server listening on {} (one process per connection)",
            addr_of(&listener)
        );
        let max: usize = opts.number("--max-connections", 0);
        let max = (max > 0).then_some(max);
        serve(&get_context(opts.start_method()), listener, max, None).map(|()| true)
    } else {
        self_test(&opts)
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("echo_server: {e}");
            std::process::exit(1)
        }
    }
}
