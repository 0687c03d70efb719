//! A scripted HTTP/1.1 server on loopback, for the HTTP tests: every request is
//! logged with the time it arrived, and a script decides the reply (a response, a
//! delay, a dropped connection, a truncated body). Plain threads and sockets, so
//! that faults a well-behaved server library would never produce can be scripted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// A request the server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    /// When it arrived.
    pub at: Instant,
    /// When it arrived, by the wall clock.
    pub wall: SystemTime,
    /// Its method.
    pub method: String,
    /// Its path and query.
    pub path: String,
    /// Its headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: Vec<u8>,
    /// How many requests came before it.
    pub index: usize,
}

impl Seen {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What the server does with a request.
pub enum Reply {
    /// A response.
    Respond {
        /// The status.
        status: u16,
        /// Headers (Content-Length is added).
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Close,
    /// Announce `declared` bytes of body, send `body`, close.
    Truncate {
        /// The announced length.
        declared: usize,
        /// What is actually sent.
        body: Vec<u8>,
    },
    /// Wait, then reply.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    /// A response with a JSON body.
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply::Respond {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// A response with a text body and headers.
    pub fn text(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        Reply::Respond {
            status,
            headers: headers.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }
}

type Script = dyn Fn(&Seen) -> Reply + Send + Sync;

/// The running server; it stops when dropped.
pub struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    /// Starts a server on 127.0.0.1 (a free port) that answers with `script`.
    pub fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Upstream {
        Upstream::start_at("127.0.0.1", script)
    }

    /// Starts a server on loopback address `ip` (a free port).
    pub fn start_at(ip: &str, script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Upstream {
        let listener = TcpListener::bind((ip, 0)).expect("binding a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("a bound address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (seen, script) = (seen2.clone(), script.clone());
                        std::thread::spawn(move || serve(stream, &seen, &*script));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(_) => break,
                }
            }
        });
        Upstream { addr, seen, stop }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, script: &Script) {
    stream.set_nonblocking(false).ok();
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = {
            let mut all = seen.lock().unwrap();
            let r = Seen { at: Instant::now(), wall: SystemTime::now(), method, path, headers, body, index: all.len() };
            all.push(r.clone());
            r
        };
        let mut reply = script(&request);
        while let Reply::Delay(d, next) = reply {
            std::thread::sleep(d);
            reply = *next;
        }
        match reply {
            Reply::Respond { status, headers, body } => {
                let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (n, v) in headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(&body)).is_err() {
                    return;
                }
            }
            Reply::Close => return,
            Reply::Truncate { declared, body } => {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {declared}\r\n\r\n");
                let _ = writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(&body));
                return;
            }
            Reply::Delay(..) => unreachable!("delays are unwrapped above"),
        }
    }
}
