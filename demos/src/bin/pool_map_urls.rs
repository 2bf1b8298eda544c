//! Scenario 30 (D. Pools): `Pool(3).map(scrape, urls)`.
//!
//! A `scrape` function fetches a URL and prints `URL u Scraped`, or `URL u not Scraped` when
//! the fetch fails; `map` runs it over a list of URLs, 3 at a time, and returns the results in
//! the order of the list. The demo serves its own pages on 127.0.0.1 (with a delay, like a slow
//! site, so the overlap shows), and one URL points at a port with nothing listening, so the
//! error path shows too. URLs given on the command line are fetched instead.
//!
//! The fetch is a minimal HTTP/1.0 `GET` over a `TcpStream` ([`demos::http::get`]): plain
//! `http://` only, no TLS.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use demos::http::{self, PageServer};
use demos::{Opts, say};
use procpool::Pool;

const USAGE: &str = "\
pool_map_urls — scenario 30: Pool(3).map(scrape, urls)

Usage: pool_map_urls [options] [URL...]

Fetches each URL in a pool of 3 worker processes and prints `URL u Scraped` or
`URL u not Scraped`. Without URLs, the demo serves 4 pages of its own on 127.0.0.1 (each
answered after 1 s, 0.05 s with --fast) and adds a URL of a port where nothing listens.
Fetching is a minimal HTTP/1.0 GET over std::net::TcpStream: plain http:// only — no TLS,
so https:// URLs are reported as not scraped.

Options:
  --processes N     pool size (default 3)
  --timeout SECS    connect/read timeout per URL (default 10)";

/// What one scrape found: the worker's pid, and the status and size of the page or why not.
type Scraped = (u32, Result<(u16, usize), String>);

/// The task: fetch one URL (`(url, timeout in seconds)`).
fn scrape((url, timeout): (String, f64)) -> Scraped {
    let pid = std::process::id();
    match http::get(&url, Duration::from_secs_f64(timeout)) {
        Ok(r) => {
            say!("URL {url} Scraped");
            (pid, Ok((r.status, r.body.len())))
        }
        Err(e) => {
            say!("URL {url} not Scraped");
            (pid, Err(e.to_string()))
        }
    }
}

fn page(title: &str) -> String {
    format!(
        "<html><head><title>{title}</title></head><body><h1>{title}</h1>\
         <p>A page served by the demo itself on 127.0.0.1.</p></body></html>"
    )
}

fn main() {
    let opts = Opts::parse(USAGE);
    let processes: usize = opts.number("--processes", 3);
    let timeout: f64 = opts.number("--timeout", 10.0);
    if processes == 0 || timeout <= 0.0 {
        demos::usage_error("--processes and --timeout must be positive");
    }
    let mut skip_next = false;
    let given: Vec<String> = opts
        .rest
        .iter()
        .filter(|a| {
            let skip = skip_next;
            skip_next = *a == "--processes" || *a == "--timeout";
            !skip && !a.starts_with("--")
        })
        .cloned()
        .collect();
    if let Err(e) = run(&opts, processes, timeout, given) {
        eprintln!("pool_map_urls: {e}");
        std::process::exit(1);
    }
}

fn run(
    opts: &Opts,
    processes: usize,
    timeout: f64,
    given: Vec<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    // Start the workers first, so that they do not inherit the page server's socket.
    let pool = Pool::new(processes)?;
    let own_pages = given.is_empty();
    let mut server = None;
    let (urls, dead_url) = if own_pages {
        let paths = ["/", "/about", "/blog", "/contact"];
        let pages = paths
            .iter()
            .map(|p| (p.to_string(), page(&format!("procpool demo {p}"))))
            .collect();
        let s = PageServer::start(pages, opts.dur(1.0))?;
        let mut urls: Vec<String> = paths.iter().map(|p| s.url(p)).collect();
        let dead = format!("http://{}/", http::dead_addr()?);
        urls.insert(2, dead.clone());
        say!("serving {} pages on http://{}/", paths.len(), s.addr());
        server = Some(s);
        (urls, Some(dead))
    } else {
        (given, None)
    };
    let t0 = Instant::now();
    let args: Vec<(String, f64)> = urls.iter().map(|u| (u.clone(), timeout)).collect();
    let results = pool.map(scrape, args)?;
    let elapsed = t0.elapsed().as_secs_f64();
    pool.close();
    pool.join()?;
    drop(server);

    say!(
        "map returned {} results, in the order of the list:",
        results.len()
    );
    let mut pids = BTreeSet::new();
    let mut scraped = 0;
    for (url, (pid, r)) in urls.iter().zip(&results) {
        pids.insert(*pid);
        match r {
            Ok((status, len)) => {
                scraped += 1;
                say!("  {url}: status {status}, {len} bytes (worker {pid})");
            }
            Err(e) => say!("  {url}: {e} (worker {pid})"),
        }
    }
    say!(
        "scraped {scraped} of {} URLs in {elapsed:.2} s with Pool({processes})",
        urls.len()
    );
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    say!("worker pids seen: {} ({})", pids.len(), list.join(", "));
    if own_pages {
        let dead_failed = urls
            .iter()
            .zip(&results)
            .any(|(u, (_, r))| Some(u) == dead_url.as_ref() && r.is_err());
        let ok = scraped == urls.len() - 1 && dead_failed;
        if ok {
            say!("ok: every served page was scraped and the dead port was not");
        } else {
            say!(
                "FAILED: expected {} pages scraped and the dead port not",
                urls.len() - 1
            );
            std::process::exit(1);
        }
    }
    Ok(())
}
