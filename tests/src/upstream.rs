//! A scripted HTTP/1.1 server on loopback, for the HTTP tests: every request is
//! logged with the time it arrived, and a script decides the reply (a response, a
//! delay, a dropped connection, a truncated body). Plain threads and sockets, so
//! that faults a well-behaved server library would never produce can be scripted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
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
    tls: bool,
}

/// A certificate authority made for one test, and a server certificate it signed for
/// `127.0.0.1`: what an HTTPS upstream serves, and what a manifest's `http.ca_files`
/// must name for the host to trust it.
pub struct TestCa {
    /// The authority's certificate, PEM.
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// A fresh authority and server certificate.
    pub fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "connector-host test CA");
        let ca = ca.self_signed(&ca_key).expect("a self-signed CA");
        let key = KeyPair::generate().expect("a server key");
        let mut leaf = CertificateParams::new(Vec::<String>::new()).expect("server parameters");
        leaf.subject_alt_names.push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        let leaf = leaf.signed_by(&key, &ca, &ca_key).expect("a server certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), ca.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("a server TLS configuration");
        TestCa { ca_pem: ca.pem(), server: Arc::new(server) }
    }
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}

impl Upstream {
    /// Starts a server on 127.0.0.1 (a free port) that answers with `script`.
    pub fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Upstream {
        Upstream::start_at("127.0.0.1", script)
    }

    /// Starts a server whose every answer is `ok` (status 200) while the returned
    /// switch holds 200, and `{"message": "down"}` with the switch's status otherwise:
    /// an upstream a test fails and recovers at will.
    pub fn switchable(ok: serde_json::Value) -> (Upstream, Arc<std::sync::atomic::AtomicU16>) {
        let switch = Arc::new(std::sync::atomic::AtomicU16::new(200));
        let status = switch.clone();
        let up = Upstream::start(move |_| match status.load(Ordering::SeqCst) {
            200 => Reply::json(200, &ok),
            status => Reply::json(status, &serde_json::json!({"message": "down"})),
        });
        (up, switch)
    }

    /// Starts an HTTPS server on 127.0.0.1 (a free port) with the certificate `ca`
    /// signed, answering with `script`.
    pub fn start_tls(ca: &TestCa, script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Upstream {
        Upstream::listen("127.0.0.1", Some(ca.server.clone()), script)
    }

    /// Starts a server on loopback address `ip` (a free port).
    pub fn start_at(ip: &str, script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Upstream {
        Upstream::listen(ip, None, script)
    }

    fn listen(
        ip: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        script: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        let listener = TcpListener::bind((ip, 0)).expect("binding a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("a bound address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tls_on = tls.is_some();
        let script: Arc<Script> = Arc::new(script);
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (seen, script, tls) = (seen2.clone(), script.clone(), tls.clone());
                        std::thread::spawn(move || {
                            stream.set_nonblocking(false).ok();
                            // As a real server does: a reply's last segment goes out at
                            // once, not after the client's delayed ACK of the one before.
                            stream.set_nodelay(true).ok();
                            match tls {
                                None => serve(stream, &seen, &*script),
                                Some(config) => {
                                    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                                    serve(rustls::StreamOwned::new(conn, stream), &seen, &*script)
                                }
                            }
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(_) => break,
                }
            }
        });
        Upstream { addr, seen, stop, tls: tls_on }
    }

    /// `http://127.0.0.1:PORT` (`https://` for a TLS server).
    pub fn origin(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
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

/// Answers the requests of one connection (plain or TLS) until it closes. Replies go
/// out through the reader's stream: a request is read whole before its reply.
fn serve(stream: impl Read + Write, seen: &Mutex<Vec<Seen>>, script: &Script) {
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
                let mut reply = head.into_bytes();
                reply.extend_from_slice(&body);
                let writer = reader.get_mut();
                if writer.write_all(&reply).and_then(|_| writer.flush()).is_err() {
                    return;
                }
            }
            Reply::Close => return,
            Reply::Truncate { declared, body } => {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {declared}\r\n\r\n");
                let writer = reader.get_mut();
                let _ = writer
                    .write_all(head.as_bytes())
                    .and_then(|_| writer.write_all(&body))
                    .and_then(|_| writer.flush());
                return;
            }
            Reply::Delay(..) => unreachable!("delays are unwrapped above"),
        }
    }
}
