//! Scenario 31 (D. Pools): `apply_async(get_page, args, callback=parse_page,
//! error_callback=...)`.
//!
//! Worker processes download catalogue pages; the callback, which runs in the parent (on the
//! pool's result thread) as each page arrives, extracts the books with a regular expression and
//! prints them as records. One URL points at a port with nothing listening: its task fails, and
//! the `error_callback` receives the failure instead.
//!
//! In Python a failing task raises an exception; here `get_page` panics, the pool catches the
//! panic in the worker (which goes on) and hands a `TaskError::Panicked` with the message to
//! the error callback. (A task that returns `Result<T, E>` would instead deliver its `Err` to
//! the ordinary callback, as a value.)
#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use demos::http::{self, PageServer};
use demos::{Opts, say};
use procpool::{Pool, TaskError};
use regex::Regex;
use serde::{Deserialize, Serialize};

const USAGE: &str = "\
pool_callbacks — scenario 31: apply_async with a callback and an error_callback

Usage: pool_callbacks [options]

Serves three catalogue pages on 127.0.0.1; a Pool(3) downloads them (plus one URL of a port
where nothing listens) with apply_async. The callback runs in the parent as each page arrives
and prints the books it finds with a regular expression as records; the error_callback gets
the failed download.

Options:
  --processes N     pool size (default 3)";

/// A downloaded page.
#[derive(Debug, Serialize, Deserialize)]
struct Page {
    url: String,
    html: String,
    pid: u32,
}

/// One book found on a page.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    title: String,
    price: String,
    stock: String,
    link: String,
}

/// The task: download a page; a failure panics, like an exception in the tutorial's task.
fn get_page(url: String) -> Page {
    let pid = std::process::id();
    say!("worker {pid} downloads {url}");
    match http::get(&url, Duration::from_secs(10)) {
        Ok(r) if r.status == 200 => Page {
            url,
            html: r.body,
            pid,
        },
        Ok(r) => panic!("{url}: HTTP status {}", r.status),
        Err(e) => panic!("cannot download {url}: {e}"),
    }
}

const BOOKS: [(&str, &str); 12] = [
    ("A Light in the Attic", "£51.77"),
    ("Tipping the Velvet", "£53.74"),
    ("Soumission", "£50.10"),
    ("Sharp Objects", "£47.82"),
    ("Sapiens: A Brief History of Humankind", "£54.23"),
    ("The Requiem Red", "£22.65"),
    (
        "The Dirty Little Secrets of Getting Your Dream Job",
        "£33.34",
    ),
    ("The Coming Woman", "£17.93"),
    ("The Boys in the Boat", "£22.60"),
    ("The Black Maria", "£52.15"),
    ("Starving Hearts", "£13.99"),
    ("Shakespeare's Sonnets", "£20.66"),
];

/// The HTML of catalogue page `n` (1-based): four books each.
fn catalogue_page(n: usize) -> String {
    let mut html = format!(
        "<html><head><title>Catalogue, page {n}</title></head><body>\n<h1>Books</h1>\n<ol>\n"
    );
    for (i, (title, price)) in BOOKS.iter().enumerate().skip((n - 1) * 4).take(4) {
        let stock = if i % 5 == 3 {
            "Out of stock"
        } else {
            "In stock"
        };
        html.push_str(&format!(
            "  <li class=\"book\"><a href=\"/book/{}\">{title}</a> \
             <span class=\"price\">{price}</span> <span class=\"stock\">{stock}</span></li>\n",
            i + 1
        ));
    }
    html.push_str("</ol>\n</body></html>\n");
    html
}

/// The callback's parser: the tutorial's regular expression over the page.
fn parse_page(re: &Regex, page: &Page) -> Vec<Record> {
    re.captures_iter(&page.html)
        .map(|c| Record {
            title: c["title"].to_string(),
            price: c["price"].to_string(),
            stock: c["stock"].to_string(),
            link: c["link"].to_string(),
        })
        .collect()
}

fn main() {
    let opts = Opts::parse(USAGE);
    let processes: usize = opts.number("--processes", 3);
    if processes == 0 {
        demos::usage_error("--processes must be at least 1");
    }
    match run(&opts, processes) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("pool_callbacks: {e}");
            std::process::exit(1)
        }
    }
}

fn run(opts: &Opts, processes: usize) -> Result<bool, Box<dyn std::error::Error>> {
    // The workers start before the page server, so that they do not inherit its socket.
    let pool = Pool::new(processes)?;
    let pages: Vec<(String, String)> = (1..=3)
        .map(|n| (format!("/catalogue/page-{n}.html"), catalogue_page(n)))
        .collect();
    let mut urls: Vec<String> = Vec::new();
    let server = PageServer::start(pages.clone(), opts.dur(1.0))?;
    for (path, _) in &pages {
        urls.push(server.url(path));
    }
    urls.push(format!(
        "http://{}/catalogue/page-4.html",
        http::dead_addr()?
    ));
    say!(
        "serving {} catalogue pages on http://{}/",
        pages.len(),
        server.addr()
    );

    let re = Arc::new(Regex::new(
        r#"<li class="book"><a href="(?P<link>[^"]+)">(?P<title>[^<]+)</a>\s*<span class="price">(?P<price>[^<]+)</span>\s*<span class="stock">(?P<stock>[^<]+)</span></li>"#,
    )?);
    let records: Arc<Mutex<Vec<Record>>> = Arc::default();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut results = Vec::new();
    for url in &urls {
        let (re, records) = (re.clone(), records.clone());
        let errors = errors.clone();
        let callback = move |page: &Page| {
            let found = parse_page(&re, page);
            say!(
                "callback (pid {}): {} from worker {}: {} records",
                std::process::id(),
                page.url,
                page.pid,
                found.len()
            );
            for r in &found {
                say!("  {r:?}");
            }
            records
                .lock()
                .expect("no callback panics while holding the lock")
                .extend(found);
        };
        let error_callback = move |e: &TaskError| {
            let msg = match e {
                TaskError::Panicked { message, .. } => message.clone(),
                other => other.to_string(),
            };
            say!("error_callback (pid {}): {msg}", std::process::id());
            errors
                .lock()
                .expect("no callback panics while holding the lock")
                .push(msg);
        };
        results.push(pool.apply_async_with(
            get_page,
            url.clone(),
            Some(callback),
            Some(error_callback),
        )?);
    }
    say!(
        "main process {}: {} downloads submitted",
        std::process::id(),
        results.len()
    );
    pool.close();
    pool.join()?;
    let failed = results
        .iter()
        .filter(|r| r.successful() == Ok(false))
        .count();
    let records = records.lock().expect("callbacks are done").clone();
    let errors = errors.lock().expect("callbacks are done").len();
    say!(
        "parsed {} records from {} pages; {errors} download failed ({failed} unsuccessful result)",
        records.len(),
        urls.len() - errors
    );
    let ok = records.len() == BOOKS.len() && errors == 1 && failed == 1;
    if ok {
        say!("ok: every book was found once, and the dead URL went to the error_callback");
    } else {
        say!(
            "FAILED: expected {} records and 1 error, got {} and {errors}",
            BOOKS.len(),
            records.len()
        );
    }
    Ok(ok)
}
