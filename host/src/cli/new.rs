//! `host new NAME --lang rust|python|js`: a working connector skeleton from the
//! templates embedded in the binary (`host/templates/<lang>/`): source, manifest,
//! declared capabilities, a small recorded upstream, a unit test and a build script,
//! on which `host check --replay recording.jsonl` passes unchanged.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::CliError;

/// Every template file: its path under `templates/` and its bytes.
const TEMPLATES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// Where the partner kits (`guests/`: the SDKs and the kits' build scripts) are,
/// unless `--kit` or `HOST_KIT_DIR` says otherwise: this repository's, where the
/// binary was built.
const BUILT_KIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guests");

/// A connector's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust, with the Rust SDK (`guests/sdk`).
    Rust,
    /// Python, with componentize-py and the Python kit (`guests/python`).
    Python,
    /// JavaScript, with componentize-js and the JS kit (`guests/js`).
    Js,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

/// `host new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The connector's name: a lower-case letter, then letters, digits or `-`. The
    /// skeleton is written to ./NAME/.
    pub name: String,
    /// Its language.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The partner kits: the `guests` directory of the connector-host repository
    /// [default: $HOST_KIT_DIR, else the repository the binary was built from].
    #[arg(long, value_name = "DIR", env = "HOST_KIT_DIR")]
    pub kit: Option<PathBuf>,
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-')
}

/// Writes the skeleton.
pub fn new_cmd(args: NewArgs) -> Result<(), CliError> {
    if !valid_name(&args.name) {
        return Err(CliError::Usage(format!(
            "`{}` is not a connector name: a lower-case letter, then up to 63 lower-case letters, digits or `-` (not at the end)",
            crate::untrusted::Shown::id(&args.name)
        )));
    }
    let kit = args.kit.clone().unwrap_or_else(|| PathBuf::from(BUILT_KIT));
    let kit = kit.canonicalize().ok().filter(|k| k.join("sdk").is_dir()).ok_or_else(|| {
        CliError::Usage(format!(
            "the partner kits are not at {}: pass --kit DIR (the `guests` directory of the connector-host repository)",
            kit.display()
        ))
    })?;
    let target = PathBuf::from(&args.name);
    if target.exists() {
        return Err(CliError::Usage(format!("{} already exists; `host new` writes a new directory", target.display())));
    }
    let prefix = format!("{}/", args.lang.dir());
    let snake = args.name.replace('-', "_");
    let fill = |text: &str| {
        text.replace("{{name_snake}}", &snake)
            .replace("{{name}}", &args.name)
            .replace("{{kit}}", &kit.display().to_string())
    };
    let mut written = Vec::new();
    for (path, bytes) in TEMPLATES.iter().filter(|(p, _)| p.starts_with(&prefix)) {
        let rel = fill(&path[prefix.len()..]);
        let rel = match rel.rsplit_once('/') {
            Some((dir, "_gitignore")) => format!("{dir}/.gitignore"),
            None if rel == "_gitignore" => ".gitignore".to_string(),
            _ => rel,
        };
        let to = target.join(&rel);
        let io = |source| CliError::Io { what: format!("cannot write {}", to.display()), source };
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => std::fs::write(&to, fill(text)).map_err(io)?,
            Err(_) => std::fs::write(&to, bytes).map_err(io)?,
        }
        if rel.ends_with(".sh") {
            make_executable(&to).map_err(io)?;
        }
        written.push(rel);
    }
    eprintln!(
        "wrote {} ({} files, {:?}) with the kits of {}",
        target.display(),
        written.len(),
        args.lang,
        kit.display()
    );
    eprintln!("next: cd {} && ./build.sh && host check {}.wasm --replay recording.jsonl", args.name, args.name);
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["feed", "my-feed2", "a"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "Feed", "2feed", "feed-", "my_feed", "../x", "a b", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn every_language_has_a_template() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let prefix = format!("{}/", lang.dir());
            let files: Vec<&str> = TEMPLATES.iter().map(|(p, _)| *p).filter(|p| p.starts_with(&prefix)).collect();
            for needed in ["capabilities.toml", "{{name}}.toml", "recording.jsonl", "build.sh"] {
                assert!(files.contains(&format!("{prefix}{needed}").as_str()), "{lang:?}: {needed} in {files:?}");
            }
        }
    }
}
