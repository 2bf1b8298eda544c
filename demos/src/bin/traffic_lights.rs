//! Scenario 16 (B. Synchronisation): an Event as a traffic light.
//!
//! One [`Event`] is the light: set means green. A lights process toggles it every
//! `--interval` seconds and prints the new state. 10 car processes: while the light is red,
//! print `red light, car N waits` and wait for the event; then print
//! `car N sees the green light` and drive a random 3–6 s; if the light has turned red
//! meanwhile, start over, else print `car N drove away`. 5 police cars: at a red light they
//! wait at most 0.1 s and then go first anyway. The demo ends when every car has driven away;
//! the lights process is then stopped.

use std::process::ExitCode;
use std::time::Duration;

use demos::{DemoResult, Opts, Rng, check, say, scaled};
use procpool::{Event, Process};

const USAGE: &str = "\
traffic_lights [--interval SECS] [--cars N] [--police N] [options]

Scenario 16: an Event is a traffic light (set = green). A lights process toggles it every
interval; 10 cars wait for green, drive 3-6 s and drive away if the light is still green;
5 police cars wait at most 0.1 s at a red light and then go first. Ends when every car has
driven away; the lights process is stopped then.
  --interval SECS   seconds between changes of the light (default 2; the tutorial's 10)
  --cars N          number of cars (default 10)
  --police N        number of police cars (default 5)";

/// Toggles the light for ever (the parent stops it).
fn lights((light, interval): (Event, Duration)) -> std::convert::Infallible {
    loop {
        std::thread::sleep(interval);
        if light.is_set() {
            light.clear();
            say!("*** the light turns red ***");
        } else {
            light.set();
            say!("*** the light turns green ***");
        }
    }
}

fn car((n, light, mut rng, fast): (u32, Event, Rng, bool)) {
    loop {
        while !light.is_set() {
            say!("red light, car {n} waits");
            light.wait();
        }
        say!("car {n} sees the green light");
        std::thread::sleep(scaled(rng.range_f64(3.0, 6.0), fast));
        if light.is_set() {
            say!("car {n} drove away");
            return;
        }
        // The light turned red while the car was on its way: wait again.
    }
}

fn police((n, light, patience): (u32, Event, Duration)) {
    if !light.is_set() {
        say!("red light, police car {n} waits");
        if !light.wait_timeout(patience) {
            say!("red light, police car {n} goes first");
            return;
        }
    }
    say!("green light, police car {n} goes");
}

fn body(opts: &Opts) -> DemoResult {
    let interval: f64 = opts.number("--interval", 2.0);
    let cars: u32 = opts.number("--cars", 10);
    let police_cars: u32 = opts.number("--police", 5);
    let light = Event::new()?;
    say!(
        "the light is red; it changes every {interval} s (seed {})",
        opts.seed
    );

    let mut lamp = Process::new(lights, (light.clone(), opts.dur(interval)))
        .with_name("lights")
        .with_daemon(true);
    lamp.start()?;
    let mut children = Vec::new();
    for n in 0..cars {
        let rng = Rng::for_child(opts.seed, u64::from(n));
        let mut p =
            Process::new(car, (n, light.clone(), rng, opts.fast)).with_name(format!("car-{n}"));
        p.start()?;
        children.push(p);
    }
    for n in 0..police_cars {
        let mut p = Process::new(police, (n, light.clone(), opts.dur(0.1)))
            .with_name(format!("police-{n}"));
        p.start()?;
        children.push(p);
    }
    let mut failed = Vec::new();
    for p in &children {
        if p.join()? != 0 {
            failed.push(p.name().to_owned());
        }
    }
    lamp.terminate()?;
    lamp.join()?;
    say!("----------");
    say!("all {cars} cars drove away and {police_cars} police cars went; lights stopped: {lamp}");
    check(failed.is_empty(), format!("these failed: {failed:?}"))
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    demos::run(|| body(&opts))
}
