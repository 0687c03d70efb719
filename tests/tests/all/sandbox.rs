//! What a connector must not be able to reach: files outside its grant, the host's
//! environment, the network. The probe tries each and reports what happened.

use std::collections::HashMap;

use tests::*;

#[test]
fn the_probe_is_denied_everything_it_was_not_granted() {
    let granted = scratch(&[("allowed.txt", "fine")]);
    let elsewhere = scratch(&[("secret.txt", "top secret")]);
    let secret = elsewhere.path().join("secret.txt");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, granted.path().join("escape")).unwrap();

    let out = output(
        host(&granted.path().join(".cache"))
            .env("HOME", "/home/should-not-leak")
            .arg("run")
            .arg(PROBE_WASM)
            .arg("--dir")
            .arg(format!("{}::/feeds", granted.path().display()))
            .arg("--set")
            .arg(format!("secret_path={}", secret.display())),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let attempts: HashMap<String, serde_json::Value> = jsonl(&out.stdout)
        .into_iter()
        .map(|e| (e["record_id"].as_str().unwrap().to_string(), e["raw"].clone()))
        .collect();
    let allowed = |name: &str| {
        let a = attempts.get(name).unwrap_or_else(|| panic!("no attempt `{name}`"));
        (a["allowed"].as_bool().unwrap(), a["detail"].as_str().unwrap().to_string())
    };

    for name in ["read-absolute", "read-dotdot", "read-symlink", "list-root", "write-granted", "env-var", "env-count"] {
        let (ok, detail) = allowed(name);
        assert!(!ok, "`{name}` was allowed: {detail}");
        assert!(!detail.contains("top secret"), "`{name}` leaked the secret");
    }
    let (ok, detail) = allowed("http");
    assert!(!ok);
    assert!(detail.contains("Denied") && detail.contains("http://127.0.0.1:9"), "{detail}");
    assert!(detail.contains("not granted"), "{detail}");
    let (ok, detail) = allowed("read-granted");
    assert!(ok, "reading the granted directory failed: {detail}");
    assert!(detail.contains("fine"));

    assert!(!granted.path().join("written-by-guest").exists(), "the read-only grant was written to");
    let err = stderr(&out);
    assert!(err.contains("denied an HTTP request"), "{err}");
    assert!(!err.contains("/home/should-not-leak"));
}

#[test]
fn guest_log_lines_are_rate_limited_and_escaped() {
    let dir = scratch(&[]);
    let report = dir.path().join("report.json");
    let out = output(host(dir.path()).arg("run").arg(PROBE_WASM).args(["--set", "mode=log", "--report"]).arg(&report));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let (lines, dropped) =
        (report["guest_log"]["lines"].as_u64().unwrap(), report["guest_log"]["dropped"].as_u64().unwrap());
    assert_eq!(lines + dropped, 10_001, "every log line and the stdout line are counted");
    assert!(dropped > 9000, "the rate limit let {lines} lines through");
    let err = stderr(&out);
    assert!(!err.contains('\u{1b}'), "a raw escape character reached the host's log");
    assert!(err.contains("line 0 \\u{1b}[31mred"), "{err}");
    assert!(err.contains("guest log lines dropped by the rate limit"), "{err}");
}

/// `wasi:sockets` is linked with every use denied: a component that imports it loads,
/// and each way of reaching the network fails: connect, listen and UDP with access
/// denied, a name lookup as a permanent resolver failure (wasmtime's answer when
/// lookups are not allowed). The address it was told to connect to sees nothing.
#[test]
fn every_socket_is_denied() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let target = listener.local_addr().unwrap();
    let dir = scratch(&[("sockets.toml", &format!("name = \"sockets\"\n[config]\ntarget = \"{target}\"\n"))]);
    let wasm = place(SOCKETS_WASM, dir.path(), "sockets");
    let out = output(host(&dir.path().join("cache")).arg("run").arg(&wasm));
    assert!(out.status.success(), "{}", stderr(&out));
    let records = jsonl(&out.stdout);
    let ops: Vec<&str> = records.iter().map(|r| r["raw"]["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["tcp-connect", "tcp-listen", "udp-bind", "udp-send", "name-lookup"]);
    for r in &records {
        let outcome = r["raw"]["outcome"].as_str().unwrap();
        match r["raw"]["op"].as_str().unwrap() {
            "name-lookup" => assert!(outcome.contains("Non-recoverable error"), "name-lookup: {outcome}"),
            op => assert!(outcome.starts_with("PermissionDenied"), "{op}: {outcome}"),
        }
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the guest reached {target}: {other:?}"),
    }

    let inspect = output(host(&dir.path().join("cache")).arg("inspect").arg(&wasm).arg("--json"));
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert!(v["imports"].as_array().unwrap().iter().any(|i| i.as_str().unwrap().starts_with("wasi:sockets/")));
    assert_eq!(v["grants"]["sockets"], "denied (imported: every use fails with access-denied)");
}
