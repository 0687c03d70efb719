//! `get-record` keeps the contract: exactly one draft, of the record asked for; and
//! a connector's source name is checked once a run.

use super::*;

#[test]
fn a_lookup_gives_one_draft_of_the_record_asked_for_or_fails() {
    let cases = [
        ("wrong-id", "get-record broke the contract: asked for `rec-1`, it returned the record `admin`"),
        ("many-drafts", "to-envelopes broke the contract: it returned 3 drafts for the record `rec-1`"),
        ("no-drafts", "to-envelopes broke the contract: it returned 0 drafts for the record `rec-1`"),
    ];
    for (case, says) in cases {
        let h = Hostile::new(&format!("case = \"{case}\""), "");
        let r = timed(&mut h.cmd("get", &["rec-1"]));
        r.ends(4, says);
        assert!(r.m.stderr.contains("a lookup gives exactly one draft, of the record asked for"), "{}", r.m.stderr);
        assert!(r.m.stdout.is_empty(), "{case}: printed {}", String::from_utf8_lossy(&r.m.stdout));
    }
    let h = Hostile::new("case = \"plain\"", "");
    let r = timed(&mut h.cmd("get", &["rec-1"]));
    r.ends(0, "");
    let envelopes = jsonl(&r.m.stdout);
    assert_eq!(envelopes.len(), 1);
    assert_eq!(envelopes[0]["record_id"], "rec-1");
}

#[test]
fn host_run_checks_the_source_name() {
    let h = Hostile::new("case = \"text\"\nat = \"source-name\"\ntext = \"not a name!\"", "");
    let r = h.run(&[]);
    r.ends(
        4,
        "connector `hostile`: source-name broke the contract: it returned `not a name!` (11 bytes), which is not a source name (1 to 128 letters, digits, `.`, `_` or `-`)",
    );
    assert!(r.m.stdout.is_empty());
    assert_eq!(r.report()["published"], 0);
}
