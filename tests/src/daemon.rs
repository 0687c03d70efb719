//! A `host serve` process for the tests, and a small HTTP client for its admin API.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `host serve`; killed when dropped.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// The admin API's address.
    pub addr: SocketAddr,
    /// Its stderr, in a file.
    pub log: PathBuf,
    /// The token, if any.
    pub token: Option<String>,
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Daemon {
    /// Starts `host serve --config config` in `dir` (its cache and log live there),
    /// listening on a free loopback port, and waits until `/health` answers.
    pub fn start(dir: &Path, config: &Path) -> Daemon {
        Daemon::start_with(dir, config, &format!("127.0.0.1:{}", free_port()), None, &[])
    }

    /// Starts it with `listen`, `token` and extra environment.
    pub fn start_with(dir: &Path, config: &Path, listen: &str, token: Option<&str>, env: &[(&str, &str)]) -> Daemon {
        Daemon::spawn(dir, config, listen, token, env, None)
    }

    /// Starts it on a free loopback port under an open-file limit set by `sh`'s
    /// `ulimit` with `ulimit` as its arguments (`-n 1024`: soft and hard limit;
    /// `-S -n 1024`: the soft one only).
    pub fn start_ulimit(dir: &Path, config: &Path, ulimit: &str) -> Daemon {
        Daemon::spawn(dir, config, &format!("127.0.0.1:{}", free_port()), None, &[], Some(ulimit))
    }

    fn spawn(
        dir: &Path,
        config: &Path,
        listen: &str,
        token: Option<&str>,
        env: &[(&str, &str)],
        ulimit: Option<&str>,
    ) -> Daemon {
        let log = dir.join(format!("serve-{}.log", free_port()));
        let mut cmd = crate::host(&dir.join("cache"));
        if let Some(ulimit) = ulimit {
            // `exec` keeps the pid: the child is the daemon itself.
            let host = cmd;
            cmd = std::process::Command::new("sh");
            cmd.arg("-c").arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\"")).arg(host.get_program());
            for (k, v) in host.get_envs() {
                match v {
                    Some(v) => cmd.env(k, v),
                    None => cmd.env_remove(k),
                };
            }
        }
        cmd.arg("serve").arg("--config").arg(config).arg("--listen").arg(listen);
        cmd.env("HOST_LOG", "info").env_remove("HOST_ADMIN_TOKEN");
        if let Some(t) = token {
            cmd.arg("--token").arg(t);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("starting host serve");
        let port: u16 = listen.rsplit(':').next().unwrap().parse().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut d = Daemon { child, addr, log, token: token.map(String::from) };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("host serve exited ({status}) before answering:\n{}", d.log_text());
            }
            if d.get("/health").0 == 200 {
                return d;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "host serve did not answer:\n{}", d.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` → (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        request(self.addr, "GET", path, self.token.as_deref())
    }

    /// `POST path` → (status, body).
    pub fn post(&self, path: &str) -> (u16, String) {
        request(self.addr, "POST", path, self.token.as_deref())
    }

    /// `POST path` with a JSON `body` → (status, body).
    pub fn post_json(&self, path: &str, body: &str) -> (u16, String) {
        let text = request_with_body(self.addr, "POST", path, self.token.as_deref(), body);
        let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
    }

    /// `GET path` as JSON.
    pub fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {status} {body} ({e})"))
    }

    /// Waits until `check` holds for `GET path`, or panics after `limit`.
    pub fn wait_for(&self, path: &str, limit: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let v = self.json(path);
            if check(&v) {
                return v;
            }
            assert!(started.elapsed() < limit, "GET {path} never got there: {v}\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's peak resident memory so far, in bytes (`VmHWM`: of this
    /// process image only, not inherited across `exec`).
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/PID/status");
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// How many files the daemon has open.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map(|d| d.count()).unwrap_or(0)
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code and how long it took.
    pub fn terminate(&mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        // SIGTERM by `kill`, not a libc call: the tests need no unsafe code.
        std::process::Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        let status = self.child.wait().unwrap();
        (status.code(), started.elapsed())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `Connection: close`; (status, body).
pub fn request(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let text = request_raw(addr, method, path, token);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    // axum answers with content-length; a chunked body would need decoding.
    (status, body)
}

/// One HTTP/1.1 request with `Connection: close`: the whole answer, status line and
/// headers included (empty if the connection failed).
pub fn request_raw(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> String {
    request_with_body(addr, method, path, token, "")
}

/// [`request_raw`] with a JSON `body`.
pub fn request_with_body(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let kind = if body.is_empty() { "" } else { "content-type: application/json\r\n" };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}{kind}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// One HTTP/1.1 request with `headers` and `body`, `Connection: close`: (status,
/// the response's headers, names in lower case, and its body).
pub fn request_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return (0, Vec::new(), String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, Vec::new(), String::new());
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}
