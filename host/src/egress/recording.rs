//! Record and replay of host-mediated HTTP exchanges (`host run --record FILE`,
//! `--replay FILE`).
//!
//! A recording is JSON Lines, one exchange per line: what the guest asked for and
//! what it was answered (a response, or the error the host returned), after every
//! redirect, retry and secret injection the host did. Secrets are redacted before a
//! line is written. Replaying answers each request with the next unused recorded
//! answer for the same method, URL and body, so a connector can be tested offline
//! and a test is deterministic; a request with no answer left is an error that says
//! so.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::contract::{ConnectorError, ErrorCase};

/// One recorded exchange.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// The method, upper case.
    pub method: String,
    /// The URL the guest asked for.
    pub url: String,
    /// The guest's headers (never the host's secrets).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// What the guest was answered.
    pub answer: Recorded,
}

/// A body: text when it is UTF-8, base64 otherwise.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Body {
    /// UTF-8 text.
    Text(String),
    /// Anything else.
    Base64(String),
}

impl Body {
    /// `bytes` as a body.
    pub fn of(bytes: &[u8]) -> Body {
        match std::str::from_utf8(bytes) {
            Ok(t) => Body::Text(t.to_string()),
            Err(_) => Body::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    /// The bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match self {
            Body::Text(t) => Ok(t.as_bytes().to_vec()),
            Body::Base64(b) => {
                base64::engine::general_purpose::STANDARD.decode(b).map_err(|e| format!("bad base64 body: {e}"))
            }
        }
    }
}

/// A recorded answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Recorded {
    /// A response.
    Response {
        /// Its status.
        status: u16,
        /// Its headers.
        headers: Vec<(String, String)>,
        /// Its body.
        body: Body,
    },
    /// An error returned to the guest.
    Error {
        /// The `connector-error` case (`timeout`, `api`, …); a case this host does
        /// not know is read as `other`.
        kind: ErrorCase,
        /// Its message.
        message: String,
        /// For `api`, the status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// For `rate-limited` and `circuit-open`, the wait.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

impl Recorded {
    /// The recorded form of an error.
    pub fn error(e: &ConnectorError) -> Recorded {
        Recorded::Error { kind: e.case, message: e.message.clone(), status: e.status, retry_after_ms: e.retry_after_ms }
    }
}

/// A recording or replay file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TapeError {
    /// The file could not be opened, read or written.
    #[error("HTTP recording {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a recorded exchange.
    #[error("HTTP recording {path}, line {line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Appends exchanges to a file as they happen.
pub struct Recorder {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Recorder {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Recorder, TapeError> {
        let file = std::fs::File::create(path).map_err(|source| TapeError::Io { path: path.to_path_buf(), source })?;
        Ok(Recorder { path: path.to_path_buf(), file: Mutex::new(file) })
    }

    /// Writes one exchange, secrets redacted; each line is written whole, so a crash
    /// leaves every exchange before it readable.
    pub fn write(&self, exchange: &Exchange) -> Result<(), TapeError> {
        let line = serde_json::to_string(exchange).expect("an exchange serializes");
        let mut line = crate::secrets::redact(&line).into_owned();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes()).map_err(|source| TapeError::Io { path: self.path.clone(), source })
    }
}

type Key = (String, String, Option<Vec<u8>>);

/// Answers requests from a recording.
pub struct Replay {
    path: PathBuf,
    answers: Mutex<HashMap<Key, (usize, VecDeque<Recorded>)>>,
}

/// What a replay answered.
pub enum Replayed {
    /// A response.
    Response {
        /// Its status.
        status: u16,
        /// Its headers.
        headers: Vec<(String, String)>,
        /// Its body.
        body: Vec<u8>,
    },
    /// An error.
    Error(ConnectorError),
}

impl Replay {
    /// Loads the recording at `path`.
    pub fn open(path: &Path) -> Result<Replay, TapeError> {
        let io = |source| TapeError::Io { path: path.to_path_buf(), source };
        let bytes = crate::files::read_bounded(path, crate::files::MAX_TAPE, "an HTTP recording").map_err(io)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error())))?;
        let mut answers: HashMap<Key, (usize, VecDeque<Recorded>)> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let malformed = |message: String| TapeError::Malformed { path: path.to_path_buf(), line: i + 1, message };
            let ex: Exchange = serde_json::from_str(line).map_err(|e| malformed(e.to_string()))?;
            let body = ex.body.as_ref().map(Body::bytes).transpose().map_err(malformed)?;
            if let Recorded::Response { body, .. } = &ex.answer {
                body.bytes().map_err(malformed)?;
            }
            let entry = answers.entry((ex.method.to_ascii_uppercase(), ex.url, body)).or_default();
            entry.0 += 1;
            entry.1.push_back(ex.answer);
        }
        Ok(Replay { path: path.to_path_buf(), answers: Mutex::new(answers) })
    }

    /// The recorded requests no one asked for (yet): `METHOD URL`, with how many
    /// answers are left when more than one.
    pub fn unused(&self) -> Vec<String> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let mut left: Vec<String> = answers
            .iter()
            .filter(|(_, (_, queue))| !queue.is_empty())
            .map(|((method, url, _), (_, queue))| match queue.len() {
                1 => format!("{method} {url}"),
                n => format!("{method} {url} ({n} answers)"),
            })
            .collect();
        left.sort();
        left
    }

    /// The next recorded answer to `method url` with `body`, or an error saying there
    /// is none.
    pub fn answer(&self, method: &str, url: &str, body: Option<&[u8]>) -> Result<Replayed, String> {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let key = (method.to_string(), url.to_string(), body.map(<[u8]>::to_vec));
        let Some((recorded, queue)) = answers.get_mut(&key) else {
            return Err(format!("replay: {} has no recorded answer for {method} {url}", self.path.display()));
        };
        let Some(next) = queue.pop_front() else {
            return Err(format!(
                "replay: {} has {recorded} recorded answer(s) for {method} {url}, all used already",
                self.path.display()
            ));
        };
        Ok(match next {
            Recorded::Response { status, headers, body } => {
                Replayed::Response { status, headers, body: body.bytes().expect("checked when loaded") }
            }
            Recorded::Error { kind, message, status, retry_after_ms } => {
                // An `api` error always has a status; a hand-written recording may omit it.
                let status = (kind == ErrorCase::Api).then(|| status.unwrap_or(0));
                let retry_after_ms = retry_after_ms.filter(|_| kind.has_retry_after());
                Replayed::Error(ConnectorError { case: kind, message, status, retry_after_ms })
            }
        })
    }
}
