//! `host validate`: checks a JSON Lines file of envelopes, line by line, against the
//! envelope schema, and recomputes each `hashes.raw_sha256` from `raw`.

use std::io::BufRead;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::envelope::{canonical, schema};

/// One problem found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The 1-based line number.
    pub line: u64,
    /// What is wrong, naming the field.
    pub message: String,
}

/// The outcome of validating a file.
#[derive(Clone, Debug, Default)]
pub struct Validation {
    /// Envelopes read (non-blank lines).
    pub envelopes: u64,
    /// Envelopes that passed.
    pub valid: u64,
    /// Everything wrong, in line order.
    pub findings: Vec<Finding>,
}

/// Validates every line of `path`.
pub fn validate_file(path: &Path) -> std::io::Result<Validation> {
    let file = std::fs::File::open(path)?;
    validate_reader(std::io::BufReader::new(file))
}

/// Validates every line read from `reader`.
pub fn validate_reader(reader: impl BufRead) -> std::io::Result<Validation> {
    let mut v = Validation::default();
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        let number = i as u64 + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        v.envelopes += 1;
        let problems = check_line(&line);
        if problems.is_empty() {
            v.valid += 1;
        }
        v.findings.extend(problems.into_iter().map(|message| Finding { line: number, message }));
    }
    Ok(v)
}

fn check_line(line: &[u8]) -> Vec<String> {
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return vec![format!("not JSON: {e}")],
    };
    let mut problems = schema::violations(&value);
    if let (Some(raw), Some(Value::String(claimed))) = (value.get("raw"), value.pointer("/hashes/raw_sha256")) {
        let actual = hex::encode(Sha256::digest(canonical::to_vec(raw)));
        if *claimed != actual {
            problems
                .push(format!("/hashes/raw_sha256: {claimed} is not the SHA-256 of raw's canonical JSON ({actual})"));
        }
    }
    problems
}
