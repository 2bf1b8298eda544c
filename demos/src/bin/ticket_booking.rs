//! Scenario 13 (B. Synchronisation): ticket booking with a Lock.
//!
//! A JSON file `db` in a temporary directory holds `{"count": 5}`. 100 buyer processes each
//! first *search* (read the file and print `tickets left: N`, no lock), then *buy* under a
//! [`Lock`]: read the file, wait a random 0–1 s (the network), and if a ticket is left take
//! it, wait again, write the file back and print `bought a ticket` (green); else print
//! `sold out` (red). With the lock exactly 5 tickets are sold and the file ends at 0 (the
//! demo fails otherwise). `--no-lock` shows what the lock prevents: buyers read the same
//! count, each "buys", and more than 5 tickets are sold.
//!
//! The file is replaced atomically (written aside, then renamed over `db`), so a search never
//! reads a half-written file, even without the lock.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use demos::{DemoResult, Opts, Rng, check, green, red, say, scaled, use_colour};
use procpool::{Lock, Process, SharedAtomics};

const USAGE: &str = "\
ticket_booking [--no-lock] [--buyers N] [options]

Scenario 13: ticket booking. A JSON file `db` holds {\"count\": 5}; 100 buyer processes search
(no lock) and then buy under a Lock, with random network delays of 0-1 s. With the lock exactly
5 tickets are sold and the file ends at 0 (checked; exit code 1 otherwise). The demo reports
the final count and the number of tickets sold. At the tutorial's timing the buyers queue for
the lock for about a minute; --fast takes about 3 s.
  --no-lock    buy without the lock: tickets are oversold
  --buyers N   number of buyer processes (default 100)";

const TICKETS: u64 = 5;

/// What a buyer gets.
#[derive(serde::Serialize, serde::Deserialize)]
struct Buyer {
    id: u32,
    db: PathBuf,
    lock: Option<Lock>,
    rng: Rng,
    fast: bool,
    colour: bool,
    /// Word 0: tickets sold (a buyer adds 1 when it writes a decremented count back).
    sold: SharedAtomics,
}

fn read_count(db: &Path) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(db)?;
    parse_count(&text).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} does not hold {{\"count\": N}}: {text:?}", db.display()),
        )
    })
}

/// The `N` of `{"count": N}` (the file is written by this program only).
fn parse_count(text: &str) -> Option<u64> {
    let rest = text
        .split_once("\"count\"")?
        .1
        .trim_start()
        .strip_prefix(':')?;
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Writes `{"count": n}`: aside first, then renamed over the file, so that readers see the old
/// content or the new one, never a part.
fn write_count(db: &Path, n: u64) -> std::io::Result<()> {
    let aside = db.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&aside, format!("{{\"count\": {n}}}\n"))?;
    std::fs::rename(&aside, db)
}

fn search(b: &Buyer) -> std::io::Result<()> {
    let n = read_count(&b.db)?;
    say!("buyer {:>2}: tickets left: {n}", b.id);
    Ok(())
}

fn buy(b: &mut Buyer) -> std::io::Result<()> {
    let n = read_count(&b.db)?;
    std::thread::sleep(scaled(b.rng.f64(), b.fast)); // the network
    if n > 0 {
        std::thread::sleep(scaled(b.rng.f64(), b.fast));
        write_count(&b.db, n - 1)?;
        b.sold[0].fetch_add(1, Ordering::SeqCst);
        say!("buyer {:>2}: {}", b.id, green("bought a ticket", b.colour));
    } else {
        say!("buyer {:>2}: {}", b.id, red("sold out", b.colour));
    }
    Ok(())
}

fn buyer(mut b: Buyer) -> std::io::Result<()> {
    search(&b)?;
    let lock = b.lock.clone();
    let _guard = lock.as_ref().map(Lock::acquire);
    buy(&mut b)
}

fn body(opts: &Opts) -> DemoResult {
    let use_lock = !opts.flag("--no-lock");
    let buyers: u32 = opts.number("--buyers", 100);
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("db");
    write_count(&db, TICKETS)?;
    say!(
        "{} holds {{\"count\": {TICKETS}}}; {buyers} buyers, {} (seed {})",
        db.display(),
        if use_lock {
            "buying under a lock"
        } else {
            "buying WITHOUT a lock"
        },
        opts.seed
    );
    let lock = if use_lock { Some(Lock::new()?) } else { None };
    let sold = SharedAtomics::new(1)?;
    let colour = use_colour();
    let mut children = Vec::new();
    for id in 0..buyers {
        let b = Buyer {
            id,
            db: db.clone(),
            lock: lock.clone(),
            rng: Rng::for_child(opts.seed, u64::from(id)),
            fast: opts.fast,
            colour,
            sold: sold.clone(),
        };
        let mut p = Process::new(buyer, b);
        p.start()?;
        children.push(p);
    }
    let mut failed = 0;
    for p in &children {
        if p.join()? != 0 {
            failed += 1;
        }
    }
    let sold = sold[0].load(Ordering::SeqCst);
    let left = read_count(&db)?;
    say!("----------");
    say!("sold {sold} tickets, {left} left in {}", db.display());
    check(failed == 0, format!("{failed} buyers failed"))?;
    if use_lock {
        check(
            sold == TICKETS && left == 0,
            format!("with the lock exactly {TICKETS} tickets must be sold and 0 left"),
        )
    } else {
        if sold > TICKETS {
            say!(
                "without the lock {} tickets were oversold: buyers read the same count",
                sold - TICKETS
            );
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    demos::run(|| body(&opts))
}

#[cfg(test)]
mod tests {
    use super::parse_count;

    #[test]
    fn parses_the_count() {
        assert_eq!(parse_count("{\"count\": 5}"), Some(5));
        assert_eq!(parse_count("{ \"count\" :12 }\n"), Some(12));
        assert_eq!(parse_count("{}"), None);
    }
}
