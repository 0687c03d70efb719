//! docs/tutorial.md, run: each language's block of commands (fenced as
//! `sh tutorial-rust`, `sh tutorial-python`, `sh tutorial-js`) in an empty directory,
//! with only the `host` binary on the path, from `host new` to a passing `host check`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tests::*;

/// The blocks of the tutorial, by language.
fn blocks() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("docs/tutorial.md")).unwrap();
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.strip_prefix("```sh tutorial-") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
            blocks.push((lang.trim().to_string(), body.join("\n")));
        }
    }
    blocks
}

fn run_block(lang: &str) {
    let (_, script) =
        blocks().into_iter().find(|(l, _)| l == lang).unwrap_or_else(|| panic!("no `sh tutorial-{lang}` block"));
    let dir = scratch(&[]);
    let bin = host_bin();
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    // Shared across runs: the compile cache (a Python or JS component takes the debug
    // host half a minute to compile) and, for Rust, cargo's target directory.
    let shared = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tutorial");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOST_CACHE_DIR", shared.join("cache"))
        .env("HOST_KIT_DIR", root().join("guests"))
        .env("CARGO_TARGET_DIR", shared.join(format!("cargo-{lang}")))
        .env("HOST_LOG", "warn")
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the {lang} tutorial failed:\n{text}");
    assert!(text.contains("passed, 0 failed"), "the {lang} tutorial has no passing `host check`:\n{text}");
    assert!(Path::new(&dir.path().join("feed")).is_dir(), "`host new feed` made no ./feed");
}

#[test]
fn the_rust_tutorial_runs() {
    run_block("rust");
}

#[test]
fn the_python_tutorial_runs() {
    run_block("python");
}

#[test]
fn the_js_tutorial_runs() {
    run_block("js");
}
