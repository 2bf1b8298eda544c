
// ---------------------------------------------------------------------------------------------
// C. Pipes

#[test]
fn pipes_duplex_prints_both_messages() {
    let out = run(env!("CARGO_BIN_EXE_pipes"), &["duplex"]);
    let p = out.position("Producer Received: Consumer Words");
    let c = out.position("Consumer Received: Producer Words");
    let end = out.position("Main process ended");
    assert!(p.is_some() && c.is_some(), "{}", out.stdout);
    // The producer receives first, then sends; the parent's line comes last.
    assert!(p < c && c < end, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("parent received \"hello through a one-way pipe\"")
    );
}

#[test]
fn pipes_structured_messages() {
    let out = run(env!("CARGO_BIN_EXE_pipes"), &["messages"]);
    assert!(
        out.has("parent got: [\"spam\", 42, \"egg\"]"),
        "{}",
        out.stdout
    );
    assert!(out.has("then end of file: the child closed its end"));
    assert!(
        out.has("parent got: {\"name\": \"Bob\", \"spam\": 42}"),
        "{}",
        out.stdout
    );
    assert!(out.has("child got: {\"egg\", \"spam\"}"), "{}", out.stdout);
    assert_eq!(out.lines().last(), Some(&"parent exit"));
}

#[test]
fn pipes_end_of_file() {
    for method in ["fork", "spawn"] {
        let out = run(env!("CARGO_BIN_EXE_pipes"), &["eof", "--method", method]);
        let right = out.position("--- the right pattern: send, then shutdown_send() ---");
        let wrong = out
            .lines()
            .iter()
            .position(|l| l.starts_with("--- only dropping the sending end"));
        let (right, wrong) = (right.expect("first run"), wrong.expect("second run"));
        let first: Vec<&str> = out.lines()[right + 1..wrong].to_vec();
        for i in 0..10 {
            assert!(
                first.contains(&format!("consumer got {i}").as_str()),
                "{first:?}"
            );
        }
        assert!(
            first.contains(&"consumer: end of file after 10 values"),
            "{first:?}"
        );
        let second = &out.lines()[wrong + 1..];
        if method == "fork" {
            // The forked consumer holds a copy of the sending end: no end of file.
            assert!(
                second
                    .iter()
                    .any(|l| l.contains("inherited a copy of the sending end")),
                "{second:?}"
            );
        } else {
            assert!(
                second.contains(&"consumer: end of file after 3 values"),
                "{second:?}"
            );
        }
    }
}

#[test]
fn pipes_two_consumers_get_every_value_once() {
    for method in ["fork", "spawn"] {
        let out = run(env!("CARGO_BIN_EXE_pipes"), &["shared", "--method", method]);
        let mut got = Vec::new();
        for l in out.stdout.lines() {
            if let Some((who, v)) = l.split_once(" got ") {
                assert!(who.starts_with("consumer-"), "{l}");
                if v != "the end marker" {
                    got.push(v.parse::<u32>().expect("a value"));
                }
            }
        }
        got.sort_unstable();
        assert_eq!(got, (0..10).collect::<Vec<u32>>(), "{}", out.stdout);
        assert!(out.has("consumer-1 got the end marker"));
        assert!(out.has("consumer-2 got the end marker"));
    }
}

#[test]
fn pipes_all_parts() {
    let out = run(env!("CARGO_BIN_EXE_pipes"), &[]);
    assert_eq!(out.starting("=== ").len(), 4, "{}", out.stdout);
}
