//! Scenario 35 (F. Processes serving the network): a command centre.
//!
//! An interactive command line (prompt `$ `) with `help`, `exit`,
//! `server start|stop|status|params` and `client start|send|stop|status`. `server start`
//! launches a TCP server on 127.0.0.1 in a daemon process; it forwards every line it receives
//! into a `Queue`. A monitor thread in the main process drains the queue and prints
//! `Received String: ...`, or, for messages that start with `JSON|`, `Received JSON data:`
//! followed by the pretty-printed JSON. Starting a server twice is an error; an unknown command
//! prints an error and the help. `client start` starts a client process that connects to the
//! server and sends a greeting; `client send TEXT` makes it send a line; `client stop` stops it.
//!
//! The commands come from standard input, so the centre also runs from a script
//! (`command_centre < script.txt`): the prompt is printed only when standard input is a
//! terminal, and otherwise each command is echoed after `$ ` so the output reads as a session.
//! `--demo` runs a built-in script and checks that every message arrived (the tour uses it).
//! Each command that sends something waits until the monitor has printed it, so the output of
//! a script comes out in a stable order.
//!
//! The server and the client are ordinary targets with serialisable arguments (the queue
//! included), so the centre works under every start method (`--method`).
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use demos::{Opts, say};
use procpool::{Process, Queue, StartMethod};
use serde::{Deserialize, Serialize};

const USAGE: &str = "\
command_centre — scenario 35: a command line that runs a TCP server and a client as processes

Usage: command_centre [--port P] [--demo]

Reads commands from standard input (type `help`); with a script on standard input it runs
non-interactively. --demo runs a built-in script and checks the results.

Options:
  --port P    the server's port (default 0: any free port); `server start P` overrides it
  --demo      run the built-in demonstration script instead of reading standard input";

const HELP: &str = "\
Commands:
  help                  this help
  exit                  stop the client and the server, and leave
  server start [PORT]   start the TCP server in a daemon process (PORT 0: any free port)
  server stop           stop the server
  server status         whether the server runs, where, and how many messages it forwarded
  server params [PORT]  show the server's parameters (or set the port of the next start)
  client start          start a client process connected to the server
  client send TEXT      make the client send TEXT (JSON|{...} is shown as JSON)
  client stop           stop the client
  client status         whether the client runs";

const DEMO_SCRIPT: &str = r#"help
server status
server start
server start
server status
client start
client send hello, server
client send JSON|{"name": "procpool", "scenario": 35, "tags": ["network", "queue"]}
client status
client stop
frobnicate
server params
server stop
client start
exit
"#;

/// What the server process tells the main process, through the queue.
#[derive(Debug, Serialize, Deserialize)]
enum ServerMsg {
    /// The server is listening (its pid and port).
    Listening { pid: u32, port: u16 },
    /// The server could not start.
    Failed { pid: u32, error: String },
    /// A client connected.
    Connected { peer: String },
    /// A client went away.
    Disconnected { peer: String },
    /// A line a client sent.
    Text(String),
}

/// What the main process tells the client process.
#[derive(Debug, Serialize, Deserialize)]
enum ClientCmd {
    Send(String),
    Stop,
}

/// The server process: listens on 127.0.0.1:`port` and forwards every line into `queue`.
fn server_main((port, queue): (u16, Queue<ServerMsg>)) -> Result<(), String> {
    let pid = std::process::id();
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            let error = format!("cannot listen on 127.0.0.1:{port}: {e}");
            let _ = queue.put(ServerMsg::Failed {
                pid,
                error: error.clone(),
            });
            return Err(error);
        }
    };
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    queue
        .put(ServerMsg::Listening { pid, port })
        .map_err(|e| e.to_string())?;
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let queue = queue.clone();
        // A daemon process may not have children, but it may have threads.
        std::thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map_or_else(|_| "?".to_string(), |a| a.to_string());
            let _ = queue.put(ServerMsg::Connected { peer: peer.clone() });
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if queue.put(ServerMsg::Text(line)).is_err() {
                    break;
                }
            }
            let _ = queue.put(ServerMsg::Disconnected { peer });
        });
    }
    Ok(())
}

/// The client process: connects, greets, then sends what the main process asks it to.
fn client_main((addr, cmds): (String, Queue<ClientCmd>)) -> Result<(), String> {
    let pid = std::process::id();
    let mut stream =
        TcpStream::connect(&addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let greeting = format!(
        "Hello, server! (client {pid})\nJSON|{{\"client\": {pid}, \"status\": \"connected\"}}\n"
    );
    stream
        .write_all(greeting.as_bytes())
        .map_err(|e| format!("sending: {e}"))?;
    loop {
        match cmds.get() {
            Ok(ClientCmd::Send(text)) => {
                writeln!(stream, "{text}").map_err(|e| format!("sending: {e}"))?;
            }
            Ok(ClientCmd::Stop) => break,
            Err(e) => return Err(format!("client command queue: {e}")),
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// What the monitor thread has seen.
#[derive(Debug, Default)]
struct Seen {
    /// The listening server: (pid, port).
    listening: Option<(u32, u16)>,
    /// A server that failed to start: (pid, error).
    failed: Option<(u32, String)>,
    texts: u64,
    json: u64,
    connects: u64,
    disconnects: u64,
}

type Shared = Arc<(Mutex<Seen>, Condvar)>;

fn seen(shared: &Shared) -> MutexGuard<'_, Seen> {
    shared
        .0
        .lock()
        .expect("the monitor does not panic while holding the lock")
}

/// Waits until `cond` holds (or `timeout` passes); whether it holds.
fn wait_for(shared: &Shared, timeout: Duration, cond: impl Fn(&Seen) -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut s = seen(shared);
    loop {
        if cond(&s) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s = shared
            .1
            .wait_timeout(s, left)
            .expect("the monitor does not panic while holding the lock")
            .0;
    }
}

/// The monitor thread: drains the queue and prints what arrives.
fn monitor(queue: Queue<ServerMsg>, shared: Shared, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        let msg = match queue.get_timeout(Duration::from_millis(50)) {
            Ok(m) => m,
            Err(e) if e.is_empty() => continue,
            Err(e) => {
                say!("monitor: {e}");
                continue;
            }
        };
        let mut s = seen(&shared);
        match msg {
            ServerMsg::Listening { pid, port } => s.listening = Some((pid, port)),
            ServerMsg::Failed { pid, error } => s.failed = Some((pid, error)),
            ServerMsg::Connected { peer } => {
                say!("Server: connection from {peer}");
                s.connects += 1;
            }
            ServerMsg::Disconnected { peer } => {
                say!("Server: {peer} disconnected");
                s.disconnects += 1;
            }
            ServerMsg::Text(text) => {
                if let Some(json) = text.strip_prefix("JSON|") {
                    match serde_json::from_str::<serde_json::Value>(json) {
                        Ok(v) => {
                            let pretty = serde_json::to_string_pretty(&v)
                                .unwrap_or_else(|_| json.to_string());
                            say!("Received JSON data:\n{pretty}");
                            s.json += 1;
                        }
                        Err(e) => say!("Received invalid JSON ({e}): {json}"),
                    }
                } else {
                    say!("Received String: {text}");
                }
                s.texts += 1;
            }
        }
        drop(s);
        shared.1.notify_all();
    }
}

/// How long a command waits for the effect it caused.
const WAIT: Duration = Duration::from_secs(10);

struct Centre {
    method: StartMethod,
    port: u16,
    queue: Queue<ServerMsg>,
    shared: Shared,
    server: Option<(Process, u16)>,
    client: Option<(Process, Queue<ClientCmd>)>,
    /// Lines the client sent (greetings included), to wait for.
    sent: u64,
    errors: usize,
}

impl Centre {
    fn error(&mut self, msg: &str) {
        self.errors += 1;
        say!("Error: {msg}");
    }

    fn server_running(&mut self) -> bool {
        if let Some((p, _)) = &self.server {
            if p.is_alive() {
                return true;
            }
            let code = p.join().unwrap_or(-1);
            say!("(the server process ended, exit code {code})");
            self.server = None;
        }
        false
    }

    fn client_running(&mut self) -> bool {
        if let Some((p, _)) = &self.client {
            if p.is_alive() {
                return true;
            }
            let code = p.join().unwrap_or(-1);
            say!("(the client process ended, exit code {code})");
            self.client = None;
        }
        false
    }

    fn server_start(&mut self, port: Option<&str>) {
        if self.server_running() {
            let (p, port) = self.server.as_ref().expect("running");
            let pid = p.pid().unwrap_or(0);
            self.error(&format!(
                "the server is already running (pid {pid}, 127.0.0.1:{port})"
            ));
            return;
        }
        let port = match port.map(str::parse::<u16>) {
            None => self.port,
            Some(Ok(p)) => p,
            Some(Err(_)) => {
                self.error("the port must be a number from 0 to 65535");
                return;
            }
        };
        {
            let mut s = seen(&self.shared);
            s.listening = None;
            s.failed = None;
        }
        let mut p = Process::new(server_main, (port, self.queue.clone()))
            .with_name("server")
            .with_daemon(true)
            .with_start_method(self.method);
        if let Err(e) = p.start() {
            self.error(&format!("cannot start the server: {e}"));
            return;
        }
        let pid = p.pid().unwrap_or(0);
        let up = wait_for(&self.shared, WAIT, |s| {
            s.listening.is_some_and(|(p, _)| p == pid) || s.failed.is_some()
        });
        let (listening, failed) = {
            let s = seen(&self.shared);
            (s.listening, s.failed.clone())
        };
        match (up, listening, failed) {
            (true, Some((_, port)), _) => {
                say!("Server started (daemon process {pid}) on 127.0.0.1:{port}");
                self.server = Some((p, port));
            }
            (_, _, Some((_, error))) => {
                let _ = p.join_timeout(WAIT);
                self.error(&format!("the server did not start: {error}"));
            }
            _ => {
                let _ = p.terminate();
                let _ = p.join_timeout(WAIT);
                self.error("the server did not report that it listens");
            }
        }
    }

    fn server_stop(&mut self) {
        if !self.server_running() {
            self.error("the server is not running");
            return;
        }
        let (p, _) = self.server.take().expect("running");
        let _ = p.terminate();
        let code = p.join_timeout(WAIT);
        say!(
            "Server stopped (exit code {})",
            code.map_or_else(|e| e.to_string(), |c| c.to_string())
        );
    }

    fn server_status(&mut self) {
        if self.server_running() {
            let (p, port) = self.server.as_ref().expect("running");
            let s = seen(&self.shared);
            say!(
                "Server running: daemon process {}, 127.0.0.1:{port}, {} messages received \
                 ({} JSON), {} connections",
                p.pid().unwrap_or(0),
                s.texts,
                s.json,
                s.connects
            );
        } else {
            say!("Server not running");
        }
    }

    fn server_params(&mut self, port: Option<&str>) {
        if let Some(port) = port {
            match port.parse::<u16>() {
                Ok(p) => {
                    self.port = p;
                    say!("The next `server start` listens on port {p} (0: any free port)");
                }
                Err(_) => self.error("the port must be a number from 0 to 65535"),
            }
            return;
        }
        let actual = if self.server_running() {
            self.server
                .as_ref()
                .map(|(_, port)| format!("listening on 127.0.0.1:{port}"))
                .unwrap_or_default()
        } else {
            "not running".to_string()
        };
        say!(
            "Server params: host 127.0.0.1, port {} (0: any free port), start method {}, \
             daemon process, messages forwarded through a Queue to the monitor thread; {actual}",
            self.port,
            self.method
        );
    }

    fn client_start(&mut self) {
        if self.client_running() {
            let pid = self.client.as_ref().and_then(|(p, _)| p.pid()).unwrap_or(0);
            self.error(&format!("the client is already running (pid {pid})"));
            return;
        }
        if !self.server_running() {
            self.error("the server is not running: `server start` first");
            return;
        }
        let port = self.server.as_ref().map_or(0, |(_, port)| *port);
        let cmds: Queue<ClientCmd> = match Queue::unbounded() {
            Ok(q) => q,
            Err(e) => {
                self.error(&format!("cannot create the client's queue: {e}"));
                return;
            }
        };
        let mut p = Process::new(client_main, (format!("127.0.0.1:{port}"), cmds.clone()))
            .with_name("client")
            .with_daemon(true)
            .with_start_method(self.method);
        if let Err(e) = p.start() {
            self.error(&format!("cannot start the client: {e}"));
            return;
        }
        say!(
            "Client started (daemon process {}), connecting to 127.0.0.1:{port}",
            p.pid().unwrap_or(0)
        );
        self.client = Some((p, cmds));
        self.sent += 2; // the greeting: a text line and a JSON line
        self.wait_received();
    }

    /// Waits until the monitor has printed every line the client sent.
    fn wait_received(&mut self) {
        let want = self.sent;
        if !wait_for(&self.shared, WAIT, |s| s.texts >= want) {
            let got = seen(&self.shared).texts;
            self.error(&format!(
                "only {got} of {want} messages reached the monitor so far"
            ));
        }
    }

    fn client_send(&mut self, text: &str) {
        if !self.client_running() {
            self.error("the client is not running: `client start` first");
            return;
        }
        if text.is_empty() {
            self.error("usage: client send TEXT");
            return;
        }
        let (_, cmds) = self.client.as_ref().expect("running");
        if let Err(e) = cmds.put(ClientCmd::Send(text.to_string())) {
            self.error(&format!("cannot reach the client: {e}"));
            return;
        }
        if self.server_running() {
            self.sent += 1;
            self.wait_received();
        }
    }

    fn client_stop(&mut self) {
        if !self.client_running() {
            self.error("the client is not running");
            return;
        }
        let (p, cmds) = self.client.take().expect("running");
        let gone = seen(&self.shared).disconnects;
        let _ = cmds.put(ClientCmd::Stop);
        let code = match p.join_timeout(WAIT) {
            Ok(c) => c,
            Err(_) => {
                let _ = p.terminate();
                p.join_timeout(WAIT).unwrap_or(-1)
            }
        };
        if self.server_running() {
            // Let the monitor report the disconnection before the next command.
            wait_for(&self.shared, WAIT, |s| s.disconnects > gone);
        }
        say!("Client stopped (exit code {code})");
    }

    fn client_status(&mut self) {
        if self.client_running() {
            let pid = self.client.as_ref().and_then(|(p, _)| p.pid()).unwrap_or(0);
            say!("Client running: daemon process {pid}");
        } else {
            say!("Client not running");
        }
    }

    /// Runs one command line; false for `exit`.
    fn command(&mut self, line: &str) -> bool {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["help"] => say!("{HELP}"),
            ["exit"] | ["quit"] => return false,
            ["server", "start"] => self.server_start(None),
            ["server", "start", port] => self.server_start(Some(port)),
            ["server", "stop"] => self.server_stop(),
            ["server", "status"] => self.server_status(),
            ["server", "params"] => self.server_params(None),
            ["server", "params", port] => self.server_params(Some(port)),
            ["client", "start"] => self.client_start(),
            ["client", "send", ..] => {
                let text = line
                    .trim_start()
                    .strip_prefix("client")
                    .map(str::trim_start)
                    .and_then(|l| l.strip_prefix("send"))
                    .map(str::trim)
                    .unwrap_or("");
                self.client_send(text);
            }
            ["client", "stop"] => self.client_stop(),
            ["client", "status"] => self.client_status(),
            _ => {
                self.error(&format!("unknown command: {}", line.trim()));
                say!("{HELP}");
            }
        }
        true
    }

    fn shut_down(&mut self) {
        if self.client_running() {
            self.client_stop();
        }
        if self.server_running() {
            self.server_stop();
        }
    }
}

fn main() {
    let opts = Opts::parse(USAGE);
    let method = opts.start_method();
    let port: u16 = opts.number("--port", 0);
    let queue: Queue<ServerMsg> = match Queue::unbounded() {
        Ok(q) => q,
        Err(e) => {
            eprintln!("command_centre: cannot create the queue: {e}");
            std::process::exit(1)
        }
    };
    let shared: Shared = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let monitor_thread = {
        let (queue, shared, stop) = (queue.clone(), shared.clone(), stop.clone());
        std::thread::Builder::new()
            .name("monitor".into())
            .spawn(move || monitor(queue, shared, stop))
            .expect("cannot start the monitor thread")
    };
    let mut centre = Centre {
        method,
        port,
        queue,
        shared,
        server: None,
        client: None,
        sent: 0,
        errors: 0,
    };

    let demo = opts.flag("--demo");
    let interactive = !demo && std::io::stdin().is_terminal();
    if interactive {
        say!("Command centre. Type `help` for the commands.");
    }
    let lines: Box<dyn Iterator<Item = String>> = if demo {
        Box::new(DEMO_SCRIPT.lines().map(str::to_string))
    } else {
        Box::new(std::io::stdin().lock().lines().map_while(Result::ok))
    };
    let mut lines = lines;
    loop {
        if interactive {
            print!("$ ");
            let _ = std::io::stdout().flush();
        }
        let Some(line) = lines.next() else {
            if interactive {
                say!();
            }
            break;
        };
        if !interactive {
            say!("$ {line}");
        }
        if line.trim_start().starts_with('#') {
            continue;
        }
        if !centre.command(&line) {
            break;
        }
    }
    centre.shut_down();
    stop.store(true, Ordering::Release);
    let _ = monitor_thread.join();
    let (texts, json) = {
        let s = seen(&centre.shared);
        (s.texts, s.json)
    };
    say!(
        "Bye: {texts} messages received ({json} JSON), {} errors reported",
        centre.errors
    );
    if demo {
        // The script sends 4 lines (2 of them JSON) and makes 3 mistakes on purpose:
        // starting the server twice, an unknown command, a client without a server.
        if texts == 4 && json == 2 && centre.errors == 3 {
            say!("ok: every message reached the monitor, and every mistake was reported");
        } else {
            say!("FAILED: expected 4 messages (2 JSON) and 3 errors");
            std::process::exit(1);
        }
    }
}
