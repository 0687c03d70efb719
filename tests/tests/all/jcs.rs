//! The host's RFC 8785 canonicalisation against the RFC's vectors and an independent
//! implementation, on the vectors, the sample feed and generated documents.

use host::envelope::canonical;
use serde_json::{Map, Value, json};

#[test]
fn canonical_json_matches_the_rfc_8785_vectors() {
    let text = std::fs::read_to_string(tests::root().join("tests/data/jcs_vectors.json")).unwrap();
    let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(vectors.len() >= 20);
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let input: serde_json::Value = serde_json::from_str(v["input"].as_str().unwrap()).unwrap();
        let ours = String::from_utf8(canonical::to_vec(&input).unwrap()).unwrap();
        assert_eq!(ours, v["canonical"].as_str().unwrap(), "vector `{name}`");
        let theirs = serde_json_canonicalizer::to_string(&input).unwrap();
        assert_eq!(ours, theirs, "vector `{name}` against serde_json_canonicalizer");
    }
}

#[test]
fn canonical_json_agrees_with_an_independent_implementation_on_the_sample_feed() {
    let feed = std::fs::read_to_string(tests::root().join("examples/feeds/factchecks.jsonl")).unwrap();
    let mut checked = 0;
    for line in feed.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        assert_eq!(canonical::to_vec(&value).unwrap(), serde_json_canonicalizer::to_vec(&value).unwrap(), "{line}");
        checked += 1;
    }
    assert_eq!(checked, 35);
}

/// A small deterministic generator (xorshift64*): the same documents on every run,
/// so a failure names a seed that reproduces it.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Text from the characters JCS treats specially: controls, quotes, escapes,
    /// non-ASCII on both sides of U+E000, and surrogate pairs (which sort apart in
    /// UTF-16 and UTF-8).
    fn text(&mut self) -> String {
        const CHARS: &[char] = &[
            'a',
            'b',
            'z',
            'A',
            '0',
            ' ',
            '"',
            '\\',
            '/',
            '\n',
            '\t',
            '\u{1}',
            '\u{1f}',
            '\u{7f}',
            'é',
            '€',
            '\u{5d3}',
            '\u{e000}',
            '\u{fb33}',
            '\u{ffff}',
            '\u{10000}',
            '\u{1f600}',
            '\u{10ffff}',
        ];
        (0..self.below(6)).map(|_| CHARS[self.below(CHARS.len() as u64) as usize]).collect()
    }

    fn number(&mut self) -> Value {
        match self.below(6) {
            0 => json!(self.below(1000) as i64 - 500),
            1 => json!(self.next()),
            2 => json!(-((self.next() >> 1) as i64)),
            3 => json!(f64::from_bits(self.next()) % 1e6),
            4 => {
                // Whole doubles, tiny and huge ones: where ECMAScript switches to exponents.
                let exponent = self.below(60) as i32 - 30;
                json!((self.below(2000) as f64 - 1000.0) * 10f64.powi(exponent))
            }
            _ => [json!(0.1), json!(1e21), json!(1e-7), json!(9007199254740993u64), json!(-0.0), json!(5e-324)]
                [self.below(6) as usize]
                .clone(),
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        let leaf = depth >= 6 || self.below(3) == 0;
        match if leaf { self.below(4) } else { 4 + self.below(2) } {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => self.number(),
            3 => Value::String(self.text()),
            4 => Value::Array((0..self.below(5)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let mut map = Map::new();
                for _ in 0..self.below(6) {
                    let key = self.text();
                    let value = self.value(depth + 1);
                    map.insert(key, value);
                }
                Value::Object(map)
            }
        }
    }
}

#[test]
fn canonical_json_agrees_with_an_independent_implementation_on_generated_documents() {
    for seed in 1..=3000u64 {
        let mut g = Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let value = g.value(0);
        let ours = canonical::to_vec(&value).unwrap();
        let theirs = serde_json_canonicalizer::to_vec(&value).unwrap();
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "seed {seed}: {value}");
        // The same document as other text (pretty-printed) has the same form.
        let mut again = Vec::new();
        canonical::canonicalize_str(&serde_json::to_string_pretty(&value).unwrap(), &mut again).unwrap();
        assert_eq!(again, ours, "seed {seed}");
    }
}
