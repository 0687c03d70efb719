//! Plain headers and credentials the host owns (issue 12): `http.headers`, secrets
//! from files, helper commands and chains, OAuth2 client credentials against a
//! loopback token server, and what is redacted where. Every test runs the probe
//! connector's `http` mode through the real binary against real loopback servers.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tests::upstream::{Reply, Upstream};
use tests::*;

/// What one run of the probe left behind.
struct Ran {
    out: Output,
    err: String,
    report: Value,
    report_text: String,
    records: Vec<Value>,
}

impl Ran {
    fn error(&self) -> String {
        self.report["error"]["message"].as_str().unwrap_or_default().to_string()
    }

    /// The body of the `i`th response, as the guest got it.
    fn body(&self, i: usize) -> &str {
        self.records[i]["raw"]["body"].as_str().unwrap_or_default()
    }

    /// Asserts that `values` appear in nothing the host wrote.
    #[track_caller]
    fn leaks_none(&self, values: &[&str], recording: Option<&Path>) {
        let stdout = String::from_utf8_lossy(&self.out.stdout);
        let tape = recording.map(|p| std::fs::read_to_string(p).unwrap()).unwrap_or_default();
        let envelopes = serde_json::to_string(&self.records).unwrap();
        for v in values {
            for (what, text) in [
                ("stderr", self.err.as_str()),
                ("stdout", &stdout),
                ("report", &self.report_text),
                ("envelopes", &envelopes),
                ("recording", &tape),
            ] {
                assert!(!text.contains(v), "`{v}` leaked into {what}:\n{text}");
            }
        }
    }
}

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

/// Runs the probe in `http` mode in `dir` (where the manifest and any secret files
/// are) with `config`, the `[http]` section's body `http`, and `env`.
fn run_in(dir: &Path, http: &str, config: &[(&str, &str)], env: &[(&str, &str)], extra: &[&str]) -> Ran {
    let wasm = place(PROBE_WASM, dir, "probe");
    let mut manifest = String::from("name = \"probe\"\nsource = \"probe\"\n[config]\nmode = \"http\"\n");
    for (k, v) in config {
        manifest.push_str(&format!("{k} = {}\n", quote(v)));
    }
    manifest.push_str("[http]\n");
    manifest.push_str(http);
    std::fs::write(dir.join("probe.toml"), manifest).unwrap();
    let (report, out_file) = (dir.join("report.json"), dir.join("out.jsonl"));
    let _ = std::fs::remove_file(&report);
    let mut cmd = host(&dir.join("cache"));
    cmd.arg("run").arg(&wasm).arg("--report").arg(&report).arg("--out").arg(&out_file).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output(&mut cmd);
    let err = stderr(&out);
    let report_text = std::fs::read_to_string(&report).unwrap_or_default();
    let report: Value = serde_json::from_str(&report_text).unwrap_or(Value::Null);
    let records = jsonl(&std::fs::read(&out_file).unwrap_or_default());
    Ran { out, err, report, report_text, records }
}

fn run(http: &str, config: &[(&str, &str)], env: &[(&str, &str)]) -> Ran {
    run_in(scratch(&[]).path(), http, config, env, &[])
}

fn allow(up: &Upstream) -> String {
    format!("allow = [{}]\n", quote(&up.origin()))
}

/// An upstream that answers every request with the headers it got.
fn echo() -> Upstream {
    Upstream::start(|s| {
        let headers: serde_json::Map<String, Value> =
            s.headers.iter().map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect();
        Reply::json(200, &Value::Object(headers))
    })
}

#[track_caller]
fn assert_failed_with(ran: &Ran, code: i32, message: &str) {
    assert_eq!(ran.out.status.code(), Some(code), "{}", ran.err);
    assert!(ran.error().contains(message), "expected `{message}` in the report's error:\n{}", ran.error());
    assert!(ran.err.contains(message), "expected `{message}` on stderr:\n{}", ran.err);
}

#[track_caller]
fn assert_refused_at_load(ran: &Ran, message: &str) {
    assert_eq!(ran.out.status.code(), Some(3), "{}", ran.err);
    assert!(ran.err.contains(message), "expected `{message}` on stderr:\n{}", ran.err);
}

#[test]
fn plain_headers_arrive_and_a_guest_header_of_the_same_name_replaces_one() {
    let up = Upstream::start(|s| {
        Reply::json(
            200,
            &json!({"version": "2022-06-28", "prefer": s.header("prefer"), "accept": s.header("accept"),
                    "notion": s.header("notion-version")}),
        )
    });
    let http = allow(&up)
        + "[http.headers]\n\"Notion-Version\" = \"2022-06-28\"\nAccept = \"application/json\"\n"
        + "[http.host_headers.\"127.0.0.1\"]\nPrefer = \"odata.maxpagesize=5\"\n";
    let url = format!("{}/items", up.origin());
    let ran = run(&http, &[("url", &url)], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    let seen = &up.seen()[0];
    assert_eq!(seen.header("notion-version"), Some("2022-06-28"));
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert_eq!(seen.header("prefer"), Some("odata.maxpagesize=5"));
    // A short plain value in the record's data is data, not a secret: left whole.
    let body: Value = serde_json::from_str(ran.body(0)).unwrap();
    assert_eq!(body["version"], "2022-06-28");
    assert_eq!(body["prefer"], "odata.maxpagesize=5");
    assert_eq!(ran.report["http"]["redacted"], 0);

    // The guest's own Accept replaces the manifest's for its request.
    let ran = run(&http, &[("url", &url), ("headers", r#"[["Accept", "text/csv"]]"#)], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(up.seen()[1].header("accept"), Some("text/csv"));
    assert_eq!(up.seen()[1].header("notion-version"), Some("2022-06-28"));
}

#[test]
fn plain_headers_against_the_header_rules_are_refused_when_the_manifest_loads() {
    let base = "allow = [\"http://127.0.0.1:9\"]\n";
    let secret = "[[http.secrets]]\nfrom_env = \"PROBE_TOKEN\"\nhost = \"127.0.0.1\"\n";
    let cases: &[(&str, &str)] = &[
        (
            "[http.headers]\nHost = \"evil.example\"\n",
            "`http.headers.Host` `Host` is set by the host; a manifest may not set it",
        ),
        ("[http.headers]\nConnection = \"close\"\n", "`http.headers.Connection` `Connection` is set by the host"),
        ("[http.headers]\n\"Accept-Encoding\" = \"br\"\n", "`Accept-Encoding` is set by the host"),
        (
            "[http.headers]\nX-A = \"v\\r\\nHost: evil\"\n",
            "`http.headers.X-A` CR, LF or NUL in a header name or value is refused",
        ),
        (
            "[http.headers]\nAuthorization = \"Basic eA==\"\n",
            "`http.headers.Authorization` `Authorization` is injected by http.secrets[0] for 127.0.0.1; a plain header may not replace a secret",
        ),
        (
            "[http.host_headers.\"api.example.com\"]\nAccept = \"x\"\n",
            "`http.host_headers.\"api.example.com\"` is not exactly one of the hosts in http.allow",
        ),
        ("[http.headers]\n\"bad name\" = \"x\"\n", "`bad name` is not a header name"),
    ];
    for (table, message) in cases {
        // The secret's table comes first: TOML would put it under [http.headers] otherwise.
        let ran = run(
            &format!("{base}{secret}{table}"),
            &[("url", "http://127.0.0.1:9/")],
            &[("PROBE_TOKEN", "a-long-enough-token")],
        );
        assert_refused_at_load(&ran, message);
    }
}

const TOKEN: &str = "ghp_ECHOED0123456789abcdefECHOED";

#[test]
fn a_secret_echoed_by_the_upstream_is_redacted_counted_and_warned_about() {
    let up = Upstream::start(|s| {
        let auth = s.header("authorization").unwrap_or("none").to_string();
        Reply::Respond {
            status: 200,
            headers: vec![("x-echo".into(), auth.clone())],
            body: json!({"you_sent": auth, "bare": auth.trim_start_matches("Bearer ")}).to_string().into_bytes(),
        }
    });
    let http = allow(&up) + "[[http.secrets]]\nfrom_env = \"PROBE_TOKEN\"\nhost = \"127.0.0.1\"\n";
    let ran = run(&http, &[("url", &format!("{}/who", up.origin())), ("count", "2")], &[("PROBE_TOKEN", TOKEN)]);
    assert!(ran.out.status.success(), "{}", ran.err);
    let body: Value = serde_json::from_str(ran.body(0)).unwrap();
    assert_eq!(body, json!({"bare": "[REDACTED]", "you_sent": "[REDACTED]"}));
    let headers = ran.records[0]["raw"]["headers"].as_array().unwrap();
    assert!(headers.contains(&json!(["x-echo", "[REDACTED]"])), "{headers:?}");
    // Three per response (the header, the body twice), two responses.
    assert_eq!(ran.report["http"]["redacted"], 6);
    assert!(ran.err.contains("holds a secret this connector sends (the upstream echoed a credential)"), "{}", ran.err);
    ran.leaks_none(&[TOKEN], None);
}

fn header_of(up: &Upstream, i: usize) -> Option<String> {
    up.seen().get(i).and_then(|s| s.header("authorization").map(str::to_string))
}

#[test]
fn a_secret_file_is_read_again_when_it_changes() {
    let dir = scratch(&[("secrets/token", "file-token-one-111\n")]);
    let file = dir.path().join("secrets/token");
    // The upstream rotates the secret while it answers the first request.
    let rotate = file.clone();
    let up = Upstream::start(move |s| {
        if s.index == 0 {
            std::fs::write(&rotate, "file-token-two-22222\n").unwrap();
        }
        Reply::json(200, &json!({"ok": true}))
    });
    let http = allow(&up) + "[[http.secrets]]\nfrom_file = \"secrets/token\"\nhost = \"127.0.0.1\"\n";
    let ran = run_in(dir.path(), &http, &[("url", &format!("{}/a", up.origin())), ("count", "3")], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(header_of(&up, 0).as_deref(), Some("Bearer file-token-one-111"));
    assert_eq!(header_of(&up, 1).as_deref(), Some("Bearer file-token-two-22222"));
    assert_eq!(header_of(&up, 2).as_deref(), Some("Bearer file-token-two-22222"));
    ran.leaks_none(&["file-token-one-111", "file-token-two-22222"], None);

    // A missing file is a load error that names the key.
    std::fs::remove_file(&file).unwrap();
    let ran = run_in(dir.path(), &http, &[("url", &format!("{}/a", up.origin()))], &[], &[]);
    assert_refused_at_load(&ran, "`http.secrets[0].from_file` cannot read ");
}

#[test]
fn a_helper_command_gives_the_value_and_a_slow_or_failing_one_is_named_without_its_output() {
    let up = echo();
    let url = format!("{}/a", up.origin());
    let secret = |argv: &str, extra: &str| {
        allow(&up) + &format!("[[http.secrets]]\nfrom_command = {argv}\nhost = \"127.0.0.1\"\n{extra}")
    };
    let ran = run(&secret(r#"["sh", "-c", "echo helper-token-12345"]"#, ""), &[("url", &url), ("count", "2")], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(header_of(&up, 0).as_deref(), Some("Bearer helper-token-12345"));
    assert_eq!(header_of(&up, 1).as_deref(), Some("Bearer helper-token-12345"));
    ran.leaks_none(&["helper-token-12345"], None);

    let before = up.seen().len();
    let started = std::time::Instant::now();
    let ran = run(&secret(r#"["sleep", "10"]"#, "timeout_ms = 300\n"), &[("url", &url)], &[]);
    assert_failed_with(
        &ran,
        4,
        "`http.secrets[0].from_command`: `sleep` did not finish within 300 ms (timeout_ms); it was killed",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "the helper was waited for");

    let failing = r#"["sh", "-c", "echo stderr-secret-4242 >&2; echo stdout-secret-9999; exit 7"]"#;
    let ran = run(&secret(failing, ""), &[("url", &url)], &[]);
    assert_failed_with(
        &ran,
        4,
        "`http.secrets[0].from_command`: `sh` exited with status 7 (its stderr, 19 bytes, is not shown)",
    );
    assert_eq!(ran.report["error"]["kind"], "connector_error", "{}", ran.report_text);
    ran.leaks_none(&["stderr-secret-4242", "stdout-secret-9999"], None);
    assert_eq!(up.seen().len(), before, "nothing is sent without the credential");
}

#[test]
fn a_chain_takes_the_first_source_that_yields_and_names_every_one_that_did_not() {
    let up = echo();
    let url = format!("{}/a", up.origin());
    let chain = |last: &str| {
        allow(&up)
            + "[[http.secrets]]\nhost = \"127.0.0.1\"\nchain = [\n  { from_env = \"NOT_SET_CHAIN\" },\n  { from_file = \"missing\" },\n"
            + "  { from_command = [\"false\"] },\n"
            + last
            + "]\n"
    };
    let ran =
        run(&chain("  { from_env = \"CHAIN_TOKEN\" },\n"), &[("url", &url)], &[("CHAIN_TOKEN", "chain-token-777")]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(header_of(&up, 0).as_deref(), Some("Bearer chain-token-777"));
    ran.leaks_none(&["chain-token-777"], None);

    let ran = run(&chain(""), &[("url", &url)], &[]);
    assert_failed_with(
        &ran,
        4,
        "`http.secrets[0].chain`: no entry yielded a value: `http.secrets[0].chain[0].from_env` names NOT_SET_CHAIN, \
         but that environment variable is not set; `http.secrets[0].chain[1].from_file`: cannot read ",
    );
    assert!(
        ran.error().contains("`http.secrets[0].chain[2].from_command`: `false` exited with status 1"),
        "{}",
        ran.error()
    );
}

const CLIENT_SECRET: &str = "client-secret-VALUE-0123456789";

/// A token server whose `n`th token is `access-token-n-abcdefgh`, valid for
/// `expires_in` seconds; it checks the form a client-credentials request must send.
fn token_server(expires_in: u64) -> (Upstream, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let n = issued.clone();
    let up = Upstream::start(move |s| {
        let form = String::from_utf8_lossy(&s.body).into_owned();
        let ok = s.method == "POST"
            && s.header("content-type") == Some("application/x-www-form-urlencoded")
            && form.contains("grant_type=client_credentials")
            && form.contains("client_id=sp-client-id")
            && form.contains(&format!("client_secret={CLIENT_SECRET}"))
            && form.contains("scope=https%3A%2F%2Fgraph.example%2F.default");
        if !ok {
            return Reply::json(
                401,
                &json!({"error": "invalid_client", "error_description": format!("bad request: {form}")}),
            );
        }
        let i = n.fetch_add(1, Ordering::SeqCst);
        Reply::json(
            200,
            &json!({"access_token": format!("access-token-{i}-abcdefgh"), "token_type": "Bearer", "expires_in": expires_in}),
        )
    });
    (up, issued)
}

/// An API that accepts the tokens `accept` allows, and answers 401 otherwise.
fn api(accept: impl Fn(&str, usize) -> bool + Send + Sync + 'static) -> Upstream {
    Upstream::start(move |s| {
        let auth = s.header("authorization").unwrap_or("").to_string();
        if accept(&auth, s.index) {
            Reply::json(200, &json!({"items": [1, 2]}))
        } else {
            Reply::json(401, &json!({"error": "token rejected"}))
        }
    })
}

fn oauth2_http(api: &Upstream, tokens: &Upstream) -> String {
    format!(
        "{}[[http.secrets]]\nhost = \"127.0.0.1\"\noauth2 = {{ token_url = {}, client_id = \"${{SP_CLIENT_ID}}\", \
         client_secret = {{ from_env = \"SP_CLIENT_SECRET\" }}, scope = \"https://graph.example/.default\" }}\n",
        allow(api),
        quote(&format!("{}/tenant-1/oauth2/v2.0/token", tokens.origin())),
    )
}

const OAUTH_ENV: &[(&str, &str)] = &[("SP_CLIENT_ID", "sp-client-id"), ("SP_CLIENT_SECRET", CLIENT_SECRET)];

#[test]
fn an_oauth2_token_is_fetched_once_for_many_requests_and_never_shown() {
    let (tokens, issued) = token_server(3600);
    let up = api(|auth, _| auth == "Bearer access-token-0-abcdefgh");
    let dir = scratch(&[]);
    let tape = dir.path().join("tape.jsonl");
    let mut env = OAUTH_ENV.to_vec();
    env.push(("HOST_LOG", "info,host=trace,guest=trace,reqwest=trace,hyper=trace,hyper_util=trace"));
    let ran = run_in(
        dir.path(),
        &oauth2_http(&up, &tokens),
        &[("url", &format!("{}/items", up.origin())), ("count", "5")],
        &env,
        &["--record", tape.to_str().unwrap()],
    );
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    assert_eq!(up.seen().len(), 5);
    assert_eq!(ran.report["http"]["token_requests"], 1);
    assert_eq!(tokens.seen()[0].path, "/tenant-1/oauth2/v2.0/token");
    ran.leaks_none(&[CLIENT_SECRET, "access-token-0-abcdefgh"], Some(&tape));

    // The token endpoint is the host's, not the guest's: the guest may not call it.
    let ran = run(
        &oauth2_http(&up, &tokens),
        &[("url", &format!("{}/tenant-1/oauth2/v2.0/token", tokens.origin()))],
        OAUTH_ENV,
    );
    assert_failed_with(&ran, 4, "is not granted");
}

#[test]
fn an_oauth2_token_is_fetched_again_after_it_expires() {
    let (tokens, issued) = token_server(1);
    let up = api(|auth, _| auth.starts_with("Bearer access-token-"));
    let ran = run(
        &oauth2_http(&up, &tokens),
        &[("url", &format!("{}/items", up.origin())), ("count", "3"), ("gaps", "[0, 0, 1100]")],
        OAUTH_ENV,
    );
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    let auths: Vec<_> = (0..3).map(|i| header_of(&up, i).unwrap()).collect();
    assert_eq!(
        auths,
        ["Bearer access-token-0-abcdefgh", "Bearer access-token-0-abcdefgh", "Bearer access-token-1-abcdefgh"]
    );
}

#[test]
fn a_401_fetches_a_new_token_once_and_sends_the_request_once_more() {
    // The first token is revoked upstream before it expires.
    let (tokens, issued) = token_server(3600);
    let up = api(|auth, _| auth == "Bearer access-token-1-abcdefgh");
    let ran = run(&oauth2_http(&up, &tokens), &[("url", &format!("{}/items", up.origin())), ("count", "2")], OAUTH_ENV);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    assert_eq!(up.seen().len(), 3, "one 401, then both requests with the new token");
    assert_eq!(ran.report["http"]["auth_refreshes"], 1);

    // An upstream that refuses every token gets one more try, not a loop.
    let (tokens, issued) = token_server(3600);
    let up = api(|_, _| false);
    let ran = run(&oauth2_http(&up, &tokens), &[("url", &format!("{}/items", up.origin()))], OAUTH_ENV);
    assert_failed_with(&ran, 4, "401");
    assert_eq!(ran.report["error"]["kind"], "connector_error");
    assert_eq!((issued.load(Ordering::SeqCst), up.seen().len()), (2, 2));
}

#[test]
fn a_token_endpoint_that_refuses_is_named_without_the_client_secret() {
    let (tokens, issued) = token_server(3600);
    let up = api(|_, _| true);
    // A wrong client secret: the endpoint says so (and echoes the form, secret and all).
    let env = [("SP_CLIENT_ID", "sp-client-id"), ("SP_CLIENT_SECRET", "the-wrong-client-secret")];
    let ran = run(&oauth2_http(&up, &tokens), &[("url", &format!("{}/items", up.origin()))], &env);
    assert_failed_with(
        &ran,
        4,
        &format!(
            "`http.secrets[0].oauth2.token_url`: {} refused the token request: 401 Unauthorized (invalid_client: bad request: ",
            tokens.origin()
        ),
    );
    assert_eq!(issued.load(Ordering::SeqCst), 0);
    assert!(up.seen().is_empty());
    ran.leaks_none(&["the-wrong-client-secret"], None);

    // A token URL in plain HTTP to a name, and a missing client secret, fail at load.
    let http = "allow = [\"https://graph.example\"]\n[[http.secrets]]\nhost = \"graph.example\"\n\
                oauth2 = { token_url = \"http://login.example/t\", client_id = \"x\", client_secret = { from_env = \"SP_CLIENT_SECRET\" } }\n";
    let ran = run(http, &[("url", "https://graph.example/")], OAUTH_ENV);
    assert_refused_at_load(&ran, "`http.secrets[0].oauth2.token_url` must be https");
    let ran = run(&oauth2_http(&up, &tokens), &[("url", "https://graph.example/")], &[("SP_CLIENT_ID", "x")]);
    assert_refused_at_load(
        &ran,
        "`http.secrets[0].oauth2.client_secret.from_env` names SP_CLIENT_SECRET, but that environment variable is not set",
    );
}

#[test]
fn sources_are_exclusive_and_named() {
    let ran = run(
        "allow = [\"https://a.example\"]\n[[http.secrets]]\nhost = \"a.example\"\nfrom_env = \"X\"\nfrom_file = \"f\"\n",
        &[("url", "https://a.example/")],
        &[],
    );
    assert_refused_at_load(
        &ran,
        "`http.secrets[0]` needs exactly one of from_env, from_file, from_command, chain (found: from_env, from_file)",
    );
}
