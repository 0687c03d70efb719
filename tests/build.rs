//! Builds every guest the tests run (the example connectors in `guests/` and the
//! test connectors in `tests/guests/`) once per test build, for wasm32-wasip2, and
//! hands the tests their paths as `GUEST_<NAME>` environment variables. No built
//! `.wasm` is ever committed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let root = root.canonicalize().unwrap();
    for (workspace, members) in [
        ("guests", &["sdk", "file", "http-json", "github", "mediawiki"][..]),
        ("tests/guests", &["probe", "sockets", "v2-connector", "v1-1-connector", "hostile", "evidence-probe"][..]),
    ] {
        let dir = root.join(workspace);
        build(&dir);
        println!("cargo:rerun-if-changed={}", dir.join("Cargo.toml").display());
        for m in members {
            println!("cargo:rerun-if-changed={}", dir.join(m).join("src").display());
            println!("cargo:rerun-if-changed={}", dir.join(m).join("Cargo.toml").display());
            let wasm = dir.join("target/wasm32-wasip2/release").join(format!("{}.wasm", m.replace('-', "_")));
            if m != &"sdk" {
                println!("cargo:rustc-env=GUEST_{}={}", m.replace('-', "_").to_uppercase(), wasm.display());
            }
        }
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    // The partner kits' examples, built with their own build scripts (pinned
    // componentize-js and componentize-py), once per test build.
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for (kit, watched, examples) in [
        ("js", &["sdk", "examples", "tools", "build.sh", "package-lock.json"][..], &["file", "rest"][..]),
        (
            "python",
            &["connector_sdk", "examples", "build.sh", "requirements.txt", "tools"][..],
            &["file", "rest", "faulty"][..],
        ),
    ] {
        let dir = root.join("guests").join(kit);
        for w in watched {
            println!("cargo:rerun-if-changed={}", dir.join(w).display());
        }
        for example in examples {
            let wasm = out.join(format!("{kit}-{example}.wasm"));
            let status = Command::new(dir.join("build.sh"))
                .arg(example)
                .arg(&wasm)
                .status()
                .unwrap_or_else(|e| panic!("running {}/build.sh: {e}", dir.display()));
            assert!(
                status.success(),
                "building the {kit} example `{example}` failed (see above); the tests need the partner kits' tools: \
                 Node.js 20 with npm for guests/js, and `pip install -r guests/python/requirements.txt` for guests/python"
            );
            let var = format!("GUEST_{}_{}", if kit == "js" { "JS" } else { "PY" }, example.to_uppercase());
            println!("cargo:rustc-env={var}={}", wasm.display());
        }
    }
}

fn build(dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir).args(["build", "--release", "--quiet"]);
    // Flags meant for the host build must not leak into the guests' build.
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTC_WRAPPER"] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo to build the guests");
    assert!(
        status.success(),
        "building the guests in {} failed; is the wasm32-wasip2 target installed? (`rustup target add wasm32-wasip2`)",
        dir.display()
    );
}
