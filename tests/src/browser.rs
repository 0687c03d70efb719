//! A real headless Chromium for the console's tests, driven over WebDriver.
//!
//! `chromedriver` (Debian's `chromium-driver`) is started on a free loopback port
//! and opens one Chromium with a fresh profile. The client is the handful of W3C
//! WebDriver commands the tests use, as JSON over one HTTP/1.1 request each, on
//! the standard library's sockets: WebDriver is a small protocol, and this keeps
//! the test build free of an async WebDriver crate and its dependency tree.
//!
//! Without Chromium or chromedriver the tests fail, saying how to install them;
//! they never pass by skipping.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where Debian installs them.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C name of an element reference in a WebDriver answer.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A Chromium session; the browser and its driver are stopped when it is dropped.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
    log: PathBuf,
}

/// An element of the page.
#[derive(Clone, Debug)]
pub struct Element(String);

/// A browser or driver binary, if installed: the environment's
/// `CONSOLE_CHROMIUM`/`CONSOLE_CHROMEDRIVER`, else Debian's path, else `PATH`.
fn binary(var: &str, debian: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    if Path::new(debian).is_file() {
        return Some(PathBuf::from(debian));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.is_file())
}

impl Browser {
    /// A headless Chromium of `width`×`height`, with JavaScript on or off.
    pub fn start(width: u32, height: u32, javascript: bool) -> Browser {
        let install = "the console's browser tests need Chromium and its WebDriver: \
             `apt-get install -y chromium chromium-driver` (Debian; .ci/run installs them), \
             or set CONSOLE_CHROMIUM and CONSOLE_CHROMEDRIVER";
        let chromium = binary("CONSOLE_CHROMIUM", CHROMIUM, &["chromium", "chromium-browser", "google-chrome"])
            .unwrap_or_else(|| panic!("no Chromium found: {install}"));
        let chromedriver = binary("CONSOLE_CHROMEDRIVER", CHROMEDRIVER, &["chromedriver"])
            .unwrap_or_else(|| panic!("no chromedriver found: {install}"));
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        let port = crate::daemon::free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {install}", chromedriver.display()));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut browser = Browser { driver, addr, session: String::new(), _profile: profile, log };
        let started = Instant::now();
        while call(addr, "GET", "/status", None).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not answer:\n{}",
                browser.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let data_dir = browser._profile.path().join("profile");
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--no-first-run".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", data_dir.display()),
        ];
        if !javascript {
            args.push("--blink-settings=scriptEnabled=false".into());
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args},
        }}});
        let answer = call(addr, "POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("chromedriver cannot start Chromium ({e}); {install}\n{}", browser.log_text()));
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}\n{}", browser.log_text()))
            .to_string();
        browser
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        call(self.addr, method, &path, body).unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url })));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap_or_default().to_string()
    }

    /// The page's markup as the browser has it now.
    pub fn source(&self) -> String {
        self.cmd("GET", "/source", None).as_str().unwrap_or_default().to_string()
    }

    /// The first element matching `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<Element> {
        let path = format!("/session/{}/element", self.session);
        let found = call(self.addr, "POST", &path, Some(&json!({"using": "css selector", "value": css}))).ok()?;
        found[ELEMENT].as_str().map(|id| Element(id.to_string()))
    }

    /// The first element matching `css`; panics (with the page) if there is none.
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css).unwrap_or_else(|| panic!("no element `{css}` on {}:\n{}", self.url(), self.source()))
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> usize {
        let found = self.cmd("POST", "/elements", Some(&json!({"using": "css selector", "value": css})));
        found.as_array().map_or(0, Vec::len)
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.cmd("GET", &format!("/element/{}/text", e.0), None).as_str().unwrap_or_default().to_string()
    }

    /// Clicks the first element matching `css`, a link or a form's button, and
    /// waits until the page it leads to has loaded (a click can return before the
    /// navigation it starts: the old document is marked, and the wait is for a
    /// document without the mark).
    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.eval("window.__beforeClick = true; return null");
        self.cmd("POST", &format!("/element/{}/click", e.0), Some(&json!({})));
        self.wait_until(&format!("the page after clicking `{css}`"), Duration::from_secs(60), |b| {
            let check = "return window.__beforeClick !== true && document.readyState === 'complete'";
            b.try_eval(check).is_some_and(|v| v == json!(true))
        });
    }

    /// [`Browser::eval`], `None` while the page is being replaced.
    fn try_eval(&self, script: &str) -> Option<Value> {
        let path = format!("/session/{}/execute/sync", self.session);
        call(self.addr, "POST", &path, Some(&json!({"script": script, "args": []}))).ok()
    }

    /// Types `text` into the field matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{}/clear", e.0), Some(&json!({})));
        self.cmd("POST", &format!("/element/{}/value", e.0), Some(&json!({ "text": text })));
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub fn eval(&self, script: &str) -> Value {
        self.cmd("POST", "/execute/sync", Some(&json!({"script": script, "args": []})))
    }

    /// The browser's cookies for the current page.
    pub fn cookies(&self) -> Vec<Value> {
        self.cmd("GET", "/cookie", None).as_array().cloned().unwrap_or_default()
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.cmd("POST", "/window/rect", Some(&json!({"width": width, "height": height})));
    }

    /// Saves what the window shows as a PNG file at `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let data = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or_default()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Waits until `check` holds, or panics after `limit` saying `what`.
    pub fn wait_until(&self, what: &str, limit: Duration, check: impl Fn(&Browser) -> bool) {
        let started = Instant::now();
        while !check(self) {
            assert!(started.elapsed() < limit, "never {what} on {}:\n{}", self.url(), self.source());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = call(self.addr, "DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One WebDriver command: its answer's `value`, or the driver's error.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let kind = if body.is_empty() { "" } else { "content-type: application/json; charset=utf-8\r\n" };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{kind}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open whatever the request says: the answer
    // ends where its Content-Length says (or its last chunk).
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 << 10];
    let (head, body) = loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("the connection closed: {}", String::from_utf8_lossy(&raw)));
        }
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let length =
            head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
        let body = &raw[end + 4..];
        match length {
            Some(len) if body.len() >= len => break (head, String::from_utf8_lossy(&body[..len]).into_owned()),
            None if head.contains("transfer-encoding: chunked") && body.ends_with(b"0\r\n\r\n") => {
                break (head, dechunk(&String::from_utf8_lossy(body)));
            }
            _ => {}
        }
    };
    let status: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let value: Value = serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
    if status != 200 {
        return Err(format!("{status}: {}", value["value"]));
    }
    Ok(value["value"].clone())
}

/// A chunked body put back together.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
