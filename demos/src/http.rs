//! A tiny HTTP/1.0 server and client on `std::net`, for the pool demos that fetch pages
//! (scenarios 30 and 31).
//!
//! The demos take no network access beyond 127.0.0.1: [`PageServer`] serves a fixed set of
//! pages on a free port of the loopback interface, from a thread of the demo's own process,
//! and [`get`] fetches a URL with a plain `GET` over a `TcpStream`. The client speaks plain
//! HTTP only (no TLS, so no `https://`), follows no redirects and reads at most
//! [`MAX_BODY`] bytes: enough for a demo, and no dependency to pull in.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The largest response body [`get`] reads.
pub const MAX_BODY: usize = 4 << 20;

/// A page server on `127.0.0.1`, answering from a background thread until dropped.
#[derive(Debug)]
pub struct PageServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl PageServer {
    /// Serves `pages` (`(path, html)` pairs; other paths get a 404) on a free port of
    /// 127.0.0.1, waiting `delay` before each answer (a slow network, so that fetches visibly
    /// overlap).
    pub fn start(pages: Vec<(String, String)>, delay: Duration) -> io::Result<PageServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let pages = Arc::new(pages);
        let thread = {
            let stop = stop.clone();
            let served = served.clone();
            std::thread::Builder::new()
                .name("page-server".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        let pages = pages.clone();
                        let served = served.clone();
                        // One thread per connection: the point is to let fetches overlap.
                        let _ =
                            std::thread::Builder::new()
                                .name("page-conn".into())
                                .spawn(move || {
                                    if answer(conn, &pages, delay).is_ok() {
                                        served.fetch_add(1, Ordering::Relaxed);
                                    }
                                });
                    }
                })?
        };
        Ok(PageServer {
            addr,
            stop,
            served,
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests were answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(conn: TcpStream, pages: &[(String, String)], delay: Duration) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers, up to the empty line.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    std::thread::sleep(delay);
    let (status, body) = match pages.iter().find(|(p, _)| p == path) {
        Some((_, html)) if method == "GET" => ("200 OK", html.as_str()),
        _ => (
            "404 Not Found",
            "<html><body><h1>404 Not Found</h1></body></html>",
        ),
    };
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.0 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()?;
    let _ = conn.shutdown(Shutdown::Write);
    Ok(())
}

/// A response: its status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code (200, 404, ...).
    pub status: u16,
    /// The body, decoded as UTF-8 (invalid bytes replaced).
    pub body: String,
}

/// Why [`get`] failed.
#[derive(Debug)]
pub enum GetError {
    /// The URL is not `http://host[:port][/path]` (`https://` needs TLS, which this client
    /// does not do).
    BadUrl(String),
    /// Resolving, connecting, sending or receiving failed.
    Io(io::Error),
    /// The answer is not an HTTP response.
    BadResponse,
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::BadUrl(why) => write!(f, "unsupported URL: {why}"),
            GetError::Io(e) => e.fmt(f),
            GetError::BadResponse => f.write_str("the answer is not an HTTP response"),
        }
    }
}

impl std::error::Error for GetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GetError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for GetError {
    fn from(e: io::Error) -> Self {
        GetError::Io(e)
    }
}

/// Splits `http://host[:port][/path]` into host, port and path.
fn parse_url(url: &str) -> Result<(String, u16, String), GetError> {
    let rest = match url.split_once("://") {
        Some(("http", rest)) => rest,
        Some(("https", _)) => {
            return Err(GetError::BadUrl(
                "https needs TLS, which this minimal client does not speak".into(),
            ));
        }
        Some((scheme, _)) => {
            return Err(GetError::BadUrl(format!("scheme {scheme:?}")));
        }
        None => url,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| GetError::BadUrl("unclosed '['".into()))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => 80,
        Some(p) => p
            .parse()
            .map_err(|_| GetError::BadUrl(format!("bad port {p:?}")))?,
    };
    if host.is_empty() {
        return Err(GetError::BadUrl("no host".into()));
    }
    Ok((host.to_string(), port, path.to_string()))
}

/// Fetches `url` with an HTTP/1.0 `GET`, giving up after `timeout` for the connection and
/// for each read.
pub fn get(url: &str, timeout: Duration) -> Result<Response, GetError> {
    let (host, port, path) = parse_url(url)?;
    let mut last = None;
    let mut stream = None;
    for addr in (host.as_str(), port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = match stream {
        Some(s) => s,
        None => {
            return Err(GetError::Io(last.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "the host has no address")
            })));
        }
    };
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let host_header = if port == 80 {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host_header}\r\nUser-Agent: procpool-demo\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    )?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream
        .take(MAX_BODY as u64 + 64 * 1024)
        .read_to_end(&mut raw)?;
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(GetError::BadResponse)?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let status_line = head.lines().next().ok_or(GetError::BadResponse)?;
    let mut parts = status_line.split_whitespace();
    let version = parts.next().ok_or(GetError::BadResponse)?;
    if !version.starts_with("HTTP/") {
        return Err(GetError::BadResponse);
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(GetError::BadResponse)?;
    let body = String::from_utf8_lossy(&raw[head_end + 4..]).into_owned();
    Ok(Response { status, body })
}

/// The address of a port on 127.0.0.1 with nothing listening (a port the kernel just gave
/// out and took back: connecting to it is refused, unless something grabs it in between).
pub fn dead_addr() -> io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    l.local_addr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/a/b").unwrap(),
            ("127.0.0.1".into(), 8080, "/a/b".into())
        );
        assert_eq!(
            parse_url("http://example.com").unwrap(),
            ("example.com".into(), 80, "/".into())
        );
        assert_eq!(
            parse_url("http://[::1]:99/x").unwrap(),
            ("::1".into(), 99, "/x".into())
        );
        assert!(matches!(
            parse_url("https://example.com/"),
            Err(GetError::BadUrl(_))
        ));
        assert!(matches!(
            parse_url("http://h:notaport/"),
            Err(GetError::BadUrl(_))
        ));
    }

    #[test]
    fn serves_and_fetches() {
        let server =
            PageServer::start(vec![("/hello".into(), "<p>hi</p>".into())], Duration::ZERO).unwrap();
        let r = get(&server.url("/hello"), Duration::from_secs(5)).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "<p>hi</p>");
        let r = get(&server.url("/nope"), Duration::from_secs(5)).unwrap();
        assert_eq!(r.status, 404);
        // The server counts a request after its reply is sent, which may be just after the
        // client has read it: wait (with a deadline) rather than race.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while server.served() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(server.served(), 2);
        let dead = dead_addr().unwrap();
        assert!(matches!(
            get(&format!("http://{dead}/"), Duration::from_secs(5)),
            Err(GetError::Io(_))
        ));
    }
}
