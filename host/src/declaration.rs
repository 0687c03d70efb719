//! What a connector declares it needs, carried inside its component.
//!
//! A partner writes the needs in a TOML file (`capabilities.toml`): the config keys
//! the connector reads (with a description, whether each is required or secret, a
//! default), the HTTP origins it calls (templated from config, `{base_url}`), the
//! directories it opens and the state it keeps. `host package` writes them into the
//! component as a custom section ([`SECTION`], JSON), which any language's toolchain
//! leaves alone and wasmtime ignores, so the needs travel with the `.wasm`.
//!
//! The host compares them with what the operator granted: a manifest that grants
//! less than declared is refused before any run ([`check`]); grants beyond the
//! declaration are warned about (least privilege); and a new version that declares
//! more than the running one is parked until an operator approves it ([`added`]).
//!
//! The section is the component's own bytes, so it is hostile input: its size and
//! every count and length in it are bounded before it is believed.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::untrusted::Shown;

/// The name of the custom section.
pub const SECTION: &str = "partner-connector-capabilities";
/// The largest section the host reads.
pub const MAX_SECTION: usize = 64 * 1024;
/// The most entries of each kind (config keys, origins, directories).
pub const MAX_ENTRIES: usize = 256;
/// The longest name, origin or path, in bytes.
pub const MAX_NAME: usize = 512;
/// The longest description or default, in bytes.
pub const MAX_TEXT: usize = 2048;

/// What a connector declares it needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// The config keys it reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigKey>,
    /// The HTTP origins it calls: `https://api.example.com`, or a template filled
    /// from config (`{base_url}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
    /// The directories it opens, by the path the guest sees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<DirNeed>,
    /// The most state it keeps, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_bytes: Option<u64>,
}

/// A config key the connector reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigKey {
    /// The key.
    pub name: String,
    /// What it is for, for the operator.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Whether the connector cannot run without it (and has no default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Whether its value is a secret (the operator should set it from the
    /// environment, `${VAR}`, not write it in the manifest).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
    /// The value the connector uses when the key is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A directory the connector opens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirNeed {
    /// The path the guest opens it by (`/feeds`).
    pub path: String,
    /// Whether it writes there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub writable: bool,
}

/// A declaration that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DeclarationError {
    /// The component's bytes could not be parsed far enough to find the section.
    #[error("the component cannot be parsed: {0}")]
    Parse(String),
    /// The section is larger than [`MAX_SECTION`].
    #[error("its `{SECTION}` section is {0} bytes, more than the {MAX_SECTION} the host reads")]
    TooLarge(usize),
    /// The component carries the section twice.
    #[error("it carries the `{SECTION}` section twice")]
    Duplicate,
    /// The section (or a TOML file) is not a declaration.
    #[error("{0}")]
    Invalid(String),
}

impl Declaration {
    /// A declaration from the text of a `capabilities.toml`; `path` names it in errors.
    pub fn from_toml(text: &str, path: &std::path::Path) -> Result<Declaration, DeclarationError> {
        let d: Declaration =
            toml::from_str(text).map_err(|e| DeclarationError::Invalid(format!("{}: {e}", path.display())))?;
        d.validate().map_err(|e| DeclarationError::Invalid(format!("{}: {e}", path.display())))?;
        Ok(d)
    }

    /// Checks the bounds and the shape of every entry.
    pub fn validate(&self) -> Result<(), String> {
        for (what, n) in
            [("config keys", self.config.len()), ("http origins", self.http.len()), ("dirs", self.dirs.len())]
        {
            if n > MAX_ENTRIES {
                return Err(format!("it declares {n} {what}, more than {MAX_ENTRIES}"));
            }
        }
        let mut names = BTreeSet::new();
        for key in &self.config {
            let ok = (1..=MAX_NAME).contains(&key.name.len())
                && key.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !ok {
                return Err(format!(
                    "config key `{}` is not a key name (1 to {MAX_NAME} letters, digits, `_`, `-` or `.`)",
                    Shown::id(&key.name)
                ));
            }
            if !names.insert(key.name.as_str()) {
                return Err(format!("config key `{}` is declared twice", key.name));
            }
            let texts = [Some(&key.description), key.default.as_ref()];
            if texts.iter().flatten().any(|t| t.len() > MAX_TEXT || t.chars().any(char::is_control)) {
                return Err(format!(
                    "config key `{}`: its description or default is longer than {MAX_TEXT} bytes or holds control characters",
                    key.name
                ));
            }
            if key.required && key.default.is_some() {
                return Err(format!("config key `{}` is required and has a default; it is one or the other", key.name));
            }
        }
        for origin in &self.http {
            if origin.is_empty() || origin.len() > MAX_NAME || origin.chars().any(char::is_control) {
                return Err(format!("http origin `{}` is empty, too long or not text", Shown::id(origin)));
            }
            for key in template_keys(origin)? {
                if !names.contains(key) {
                    return Err(format!("http origin `{origin}` uses `{{{key}}}`, which is not a declared config key"));
                }
            }
        }
        for dir in &self.dirs {
            if !dir.path.starts_with('/') || dir.path.len() > MAX_NAME || dir.path.chars().any(char::is_control) {
                return Err(format!("dir `{}` is not an absolute guest path", Shown::id(&dir.path)));
            }
        }
        Ok(())
    }

    /// The declaration as the section's JSON.
    fn to_section(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a declaration serialises")
    }

    /// The declaration as TOML, for `host inspect --json`'s readers and `host new`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a declaration serialises")
    }
}

/// The `{key}` placeholders of an origin template.
fn template_keys(template: &str) -> Result<Vec<&str>, String> {
    let mut keys = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| format!("http origin `{template}` has a `{{` without its `}}`"))?;
        keys.push(&after[..close]);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("http origin `{template}` has a `}}` without its `{{`"));
    }
    Ok(keys)
}

/// A custom section: its byte range (the whole section, header included) and its
/// contents.
type Section<'a> = (std::ops::Range<usize>, &'a [u8]);

/// The top-level custom sections named [`SECTION`] of a component.
fn sections(bytes: &[u8]) -> Result<Vec<Section<'_>>, DeclarationError> {
    use wasmparser::{Parser, Payload};
    let mut found = Vec::new();
    // Nested modules and components have custom sections of their own (names,
    // producers); only the outermost component's count.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| DeclarationError::Parse(e.to_string()))? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(c) if depth == 0 && c.name() == SECTION => {
                // The section's header (id, size, name) comes before its data.
                let start = section_start(bytes, c.range().start);
                found.push((start..c.range().end, c.data()));
            }
            _ => {}
        }
    }
    Ok(found)
}

/// Where the custom section whose name starts at `name_at` begins: its id byte,
/// found by walking back over the section size's LEB128 bytes.
fn section_start(bytes: &[u8], name_at: usize) -> usize {
    // `c.range()` starts at the section's contents (the name's length); before it
    // are 1 to 5 bytes of LEB128 size (the last without the high bit) and the id 0.
    let mut i = name_at - 1; // the size's last byte
    while i > 0 && bytes[i - 1] & 0x80 != 0 {
        i -= 1;
    }
    i - 1
}

/// The declaration a component carries, if any.
pub fn read(bytes: &[u8]) -> Result<Option<Declaration>, DeclarationError> {
    let found = sections(bytes)?;
    let data = match found.as_slice() {
        [] => return Ok(None),
        [(_, data)] => *data,
        _ => return Err(DeclarationError::Duplicate),
    };
    if data.len() > MAX_SECTION {
        return Err(DeclarationError::TooLarge(data.len()));
    }
    let d: Declaration = serde_json::from_slice(data)
        .map_err(|e| DeclarationError::Invalid(format!("its `{SECTION}` section is not a declaration: {e}")))?;
    d.validate().map_err(|e| DeclarationError::Invalid(format!("its `{SECTION}` section: {e}")))?;
    Ok(Some(d))
}

/// The component's bytes with `declaration` as its section, replacing one it had.
pub fn write(bytes: &[u8], declaration: &Declaration) -> Result<Vec<u8>, DeclarationError> {
    declaration.validate().map_err(DeclarationError::Invalid)?;
    let data = declaration.to_section();
    if data.len() > MAX_SECTION {
        return Err(DeclarationError::TooLarge(data.len()));
    }
    let mut out = Vec::with_capacity(bytes.len() + data.len() + 64);
    let mut at = 0;
    for (range, _) in sections(bytes)? {
        out.extend_from_slice(&bytes[at..range.start]);
        at = range.end;
    }
    out.extend_from_slice(&bytes[at..]);
    let section = wasm_encoder::CustomSection { name: SECTION.into(), data: data.into() };
    out.push(0); // the custom section's id
    wasm_encoder::Encode::encode(&section, &mut out);
    Ok(out)
}

/// How a manifest's grants compare with a declaration.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GrantCheck {
    /// What the connector declares and the manifest does not grant.
    pub missing: Vec<String>,
    /// What the manifest grants beyond the declaration.
    pub beyond: Vec<String>,
}

/// A manifest that grants less than its component declares.
#[derive(Debug, thiserror::Error)]
#[error("{manifest} grants less than the component declares it needs: {}", .missing.join("; "))]
pub struct Undergranted {
    /// The manifest, as messages name it.
    pub manifest: String,
    /// What is missing, one entry each.
    pub missing: Vec<String>,
}

/// The value of config key `key` under `manifest`, or its declared default.
fn value<'a>(key: &str, declaration: &'a Declaration, manifest: &'a Manifest) -> Option<&'a str> {
    manifest
        .config
        .get(key)
        .map(String::as_str)
        .or_else(|| declaration.config.iter().find(|k| k.name == key).and_then(|k| k.default.as_deref()))
}

/// An origin template filled from config; `None` when a key it uses has no value.
fn fill(template: &str, declaration: &Declaration, manifest: &Manifest) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        out.push_str(value(&after[..close], declaration, manifest)?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The origins `declaration` names, its templates filled from `manifest`'s config
/// (`scheme://host[:port]`, as `url` serialises an origin).
pub fn origins(declaration: &Declaration, manifest: &Manifest) -> BTreeSet<String> {
    declaration
        .http
        .iter()
        .filter_map(|t| fill(t, declaration, manifest))
        .filter_map(|o| url::Url::parse(&o).ok())
        .map(|u| u.origin().ascii_serialization())
        .collect()
}

/// Compares `manifest`'s grants with `declaration`.
pub fn check(declaration: &Declaration, manifest: &Manifest) -> GrantCheck {
    let mut c = GrantCheck::default();
    for key in &declaration.config {
        if key.required && !manifest.config.contains_key(&key.name) {
            let why = if key.description.is_empty() { String::new() } else { format!(" ({})", key.description) };
            c.missing.push(format!("config key `{}`{why} is required and not set in [config]", key.name));
        }
    }
    let mut allowed_rules = BTreeSet::new();
    for template in &declaration.http {
        let Some(origin) = fill(template, declaration, manifest) else {
            continue; // its config key is missing, said above
        };
        match url::Url::parse(&origin) {
            Ok(url) => match manifest.http.allows(&url) {
                Some(rule) => {
                    allowed_rules.insert(rule.text.clone());
                }
                None => c.missing.push(if origin == *template {
                    format!("http origin `{origin}` is not in http.allow")
                } else {
                    format!("http origin `{origin}` (from `{template}`) is not in http.allow")
                }),
            },
            Err(e) => c.missing.push(format!("http origin `{origin}` (from `{template}`) is not a URL: {e}")),
        }
    }
    for need in &declaration.dirs {
        match manifest.dirs.iter().find(|d| d.guest == need.path) {
            None => c.missing.push(format!("dir `{}` is not granted in [[dirs]]", need.path)),
            Some(d) if need.writable && !d.writable => {
                c.missing.push(format!("dir `{}` is granted read-only, and the connector writes there", need.path))
            }
            Some(_) => {}
        }
    }
    if let Some(bytes) = declaration.state_bytes
        && bytes > manifest.limits.state_bytes as u64
    {
        c.missing.push(format!(
            "it keeps up to {bytes} bytes of state, more than limits.state_bytes ({})",
            manifest.limits.state_bytes
        ));
    }

    for key in manifest.config.keys() {
        if !declaration.config.iter().any(|k| &k.name == key) {
            c.beyond.push(format!("config key `{key}` is set but not declared"));
        }
    }
    for rule in &manifest.http.allow {
        if !allowed_rules.contains(&rule.text) {
            c.beyond.push(format!("http.allow `{}` is not a declared origin", rule.text));
        }
    }
    for d in &manifest.dirs {
        match declaration.dirs.iter().find(|n| n.path == d.guest) {
            None => c.beyond.push(format!("dir `{}` is granted but not declared", d.guest)),
            Some(n) if d.writable && !n.writable => {
                c.beyond.push(format!("dir `{}` is granted read-write; the connector declares it reads only", d.guest))
            }
            Some(_) => {}
        }
    }
    c
}

/// Refuses `manifest` if it grants less than `declaration`.
pub fn require(declaration: Option<&Declaration>, manifest: &Manifest) -> Result<(), Undergranted> {
    let Some(declaration) = declaration else {
        return Ok(());
    };
    let missing = check(declaration, manifest).missing;
    if missing.is_empty() {
        return Ok(());
    }
    let manifest = match &manifest.path {
        Some(path) => format!("manifest {}", path.display()),
        None => format!("connector `{}` has no manifest, so it", manifest.name),
    };
    Err(Undergranted { manifest, missing })
}

/// What `new` declares that `old` does not: a new config key that is required or
/// secret, a new origin, a new directory or write access to one, more state. A
/// component without a declaration declares nothing.
pub fn added(old: Option<&Declaration>, new: Option<&Declaration>) -> Vec<String> {
    let empty = Declaration::default();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let mut added = Vec::new();
    for key in &new.config {
        let before = old.config.iter().find(|k| k.name == key.name);
        if key.secret && !before.is_some_and(|k| k.secret) {
            added.push(format!("secret config key `{}`", key.name));
        } else if key.required && !before.is_some_and(|k| k.required) {
            added.push(format!("required config key `{}`", key.name));
        }
    }
    for origin in &new.http {
        if !old.http.contains(origin) {
            added.push(format!("http origin `{origin}`"));
        }
    }
    for dir in &new.dirs {
        match old.dirs.iter().find(|d| d.path == dir.path) {
            None => added.push(format!("dir `{}`{}", dir.path, if dir.writable { " (read-write)" } else { "" })),
            Some(d) if dir.writable && !d.writable => added.push(format!("write access to dir `{}`", dir.path)),
            Some(_) => {}
        }
    }
    if new.state_bytes.unwrap_or(0) > old.state_bytes.unwrap_or(0) {
        added.push(format!(
            "state up to {} bytes (was {})",
            new.state_bytes.unwrap_or(0),
            old.state_bytes.unwrap_or(0)
        ));
    }
    added
}

impl fmt::Display for Declaration {
    /// The declaration as the lines `host inspect` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for k in &self.config {
            let mut flags = Vec::new();
            if k.required {
                flags.push("required".to_string());
            }
            if k.secret {
                flags.push("secret".to_string());
            }
            if let Some(d) = &k.default {
                flags.push(format!("default `{}`", Shown::text(d)));
            }
            let flags = if flags.is_empty() { String::new() } else { format!(" [{}]", flags.join(", ")) };
            let about =
                if k.description.is_empty() { String::new() } else { format!(": {}", Shown::text(&k.description)) };
            writeln!(f, "  config      {}{flags}{about}", Shown::id(&k.name))?;
        }
        for o in &self.http {
            writeln!(f, "  http        {}", Shown::text(o))?;
        }
        for d in &self.dirs {
            writeln!(f, "  dir         {}{}", Shown::text(&d.path), if d.writable { " (read-write)" } else { "" })?;
        }
        if let Some(b) = self.state_bytes {
            writeln!(f, "  state       up to {b} bytes")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declaration() -> Declaration {
        Declaration {
            config: vec![
                ConfigKey { name: "base_url".into(), required: true, ..ConfigKey::default() },
                ConfigKey { name: "page".into(), default: Some("50".into()), ..ConfigKey::default() },
            ],
            http: vec!["{base_url}".into()],
            dirs: vec![DirNeed { path: "/feeds".into(), writable: false }],
            state_bytes: Some(1024),
        }
    }

    fn manifest(toml: &str) -> Manifest {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("feeds")).unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).unwrap();
        Manifest::load(&path, "c", &|_| None).unwrap()
    }

    /// The smallest component: the header alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn a_declaration_is_written_read_back_and_replaced() {
        assert_eq!(read(EMPTY_COMPONENT).unwrap(), None);
        let d = declaration();
        let once = write(EMPTY_COMPONENT, &d).unwrap();
        assert_eq!(read(&once).unwrap(), Some(d.clone()));
        wasmparser::Validator::new().validate_all(&once).unwrap();
        let other = Declaration { state_bytes: Some(9), ..d };
        let twice = write(&once, &other).unwrap();
        assert_eq!(read(&twice).unwrap(), Some(other), "replaced, not added");
        assert_eq!(sections(&twice).unwrap().len(), 1);
    }

    #[test]
    fn a_hostile_section_is_refused() {
        let mut two = write(EMPTY_COMPONENT, &declaration()).unwrap();
        let tail = two[EMPTY_COMPONENT.len()..].to_vec();
        two.extend_from_slice(&tail);
        assert!(matches!(read(&two), Err(DeclarationError::Duplicate)));

        let mut big = EMPTY_COMPONENT.to_vec();
        let section = wasm_encoder::CustomSection { name: SECTION.into(), data: vec![b' '; MAX_SECTION + 1].into() };
        big.push(0);
        wasm_encoder::Encode::encode(&section, &mut big);
        assert!(matches!(read(&big), Err(DeclarationError::TooLarge(_))));

        let bad = Declaration { http: vec!["{nope}".into()], ..Declaration::default() };
        let e = write(EMPTY_COMPONENT, &bad).unwrap_err().to_string();
        assert!(e.contains("uses `{nope}`, which is not a declared config key"), "{e}");
    }

    #[test]
    fn a_manifest_that_grants_less_is_refused_naming_what_is_missing() {
        let m = manifest("name = \"c\"\n");
        let e = require(Some(&declaration()), &m).unwrap_err().to_string();
        assert!(e.contains("config key `base_url` is required and not set in [config]"), "{e}");
        assert!(e.contains("dir `/feeds` is not granted in [[dirs]]"), "{e}");

        let m = manifest(
            "name = \"c\"\n[config]\nbase_url = \"https://api.example.com\"\n[[dirs]]\nhost = \"feeds\"\nguest = \"/feeds\"\n[limits]\nstate_bytes = 512\n",
        );
        let c = check(&declaration(), &m);
        assert_eq!(
            c.missing,
            [
                "http origin `https://api.example.com` (from `{base_url}`) is not in http.allow",
                "it keeps up to 1024 bytes of state, more than limits.state_bytes (512)"
            ]
        );
    }

    #[test]
    fn grants_beyond_the_declaration_are_named() {
        let m = manifest(
            "name = \"c\"\n[config]\nbase_url = \"https://api.example.com\"\nextra = \"1\"\n[[dirs]]\nhost = \"feeds\"\nguest = \"/feeds\"\nwritable = true\n[http]\nallow = [\"https://api.example.com\", \"https://other.example.com\"]\n",
        );
        let c = check(&declaration(), &m);
        assert!(c.missing.is_empty(), "{:?}", c.missing);
        assert_eq!(
            c.beyond,
            [
                "config key `extra` is set but not declared",
                "http.allow `https://other.example.com` is not a declared origin",
                "dir `/feeds` is granted read-write; the connector declares it reads only"
            ]
        );
    }

    #[test]
    fn what_a_new_version_adds_is_listed() {
        let old = declaration();
        assert!(added(Some(&old), Some(&old)).is_empty());
        assert!(added(Some(&old), None).is_empty(), "declaring less is no escalation");
        let mut new = old.clone();
        new.http.push("https://uploads.example.com".into());
        new.dirs[0].writable = true;
        new.config.push(ConfigKey { name: "token".into(), secret: true, ..ConfigKey::default() });
        new.state_bytes = Some(4096);
        assert_eq!(
            added(Some(&old), Some(&new)),
            [
                "secret config key `token`",
                "http origin `https://uploads.example.com`",
                "write access to dir `/feeds`",
                "state up to 4096 bytes (was 1024)"
            ]
        );
        assert_eq!(added(None, Some(&old)).len(), 4, "everything is new to a version that declared nothing");
    }
}
