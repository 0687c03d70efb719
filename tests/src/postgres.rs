//! A real, throwaway PostgreSQL server for the tests of the PostgreSQL store: no mock
//! and no shared cluster, the same server an operator runs. `initdb` and start take a
//! few seconds, so a test process starts one server ([`shared`]) and gives each test
//! a database of its own ([`Server::database`]); a test that stops and restarts
//! PostgreSQL starts a server of its own ([`Server::start`]).
//!
//! Each server listens on a free loopback port, so that two test processes on one
//! machine do not collide, keeps its data under the system's temporary directory in
//! a directory named after the test process, and dies with the test process: it is a
//! child of a thread that lives as long as the process, with a parent-death signal.
//! Directories left by earlier, killed runs are removed when the next server starts.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// How the data directories of the test servers are named: this, the test process's
/// pid, `-`, a counter.
const DIR_PREFIX: &str = "host-tests-pg-";
/// How long a server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How many ports a start tries, in case another process takes the free port found
/// before the server binds it.
const PORT_ATTEMPTS: usize = 5;

/// A PostgreSQL server of the tests: trust authentication, user `postgres`.
pub struct Server {
    port: u16,
    /// The server's own directory: its data directory `data`, its socket, its log.
    dir: PathBuf,
    bin: PathBuf,
    /// The uid and gid it runs as when the tests run as root (initdb refuses root).
    user: Option<(u32, u32)>,
    /// Whether it runs with `fsync = on` (the tests' servers run with it off).
    durable: bool,
    /// The postmaster while it runs.
    child: Mutex<Option<Child>>,
}

/// The test process's server, started on first use.
pub fn shared() -> &'static Server {
    static SHARED: OnceLock<Server> = OnceLock::new();
    SHARED.get_or_init(Server::start)
}

impl Server {
    /// Makes a new cluster (`initdb`) and starts a server on it, on a free port.
    /// Panics, saying why, when PostgreSQL is not installed or does not come up.
    pub fn start() -> Server {
        Server::start_with(false)
    }

    /// A server of its own with PostgreSQL's durable defaults (`fsync = on`), as an
    /// operator runs it: for benchmarks.
    pub fn start_durable() -> Server {
        Server::start_with(true)
    }

    fn start_with(durable: bool) -> Server {
        let started = Instant::now();
        remove_stale_dirs();
        let bin = binaries();
        let user = run_as();
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let name = format!("{DIR_PREFIX}{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("handing {} to the postgres user: {e}", dir.display()));
        }
        initdb(&bin, &dir, user);

        let mut server = Server { port: 0, dir, bin, user, durable, child: Mutex::new(None) };
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.launch() {
                Ok(child) => {
                    *server.child.get_mut().unwrap() = Some(child);
                    eprintln!(
                        "postgres for tests on 127.0.0.1:{} (data in {}; initdb and start took {:.1} s)",
                        server.port,
                        server.dir.display(),
                        started.elapsed().as_secs_f64()
                    );
                    return server;
                }
                Err(Failure::PortTaken(why)) => failures.push(format!("port {}: {why}", server.port)),
                Err(Failure::Other(why)) => panic!("{why}"),
            }
        }
        panic!("PostgreSQL could not get a free port in {PORT_ATTEMPTS} attempts:\n{}", failures.join("\n"))
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` on this server.
    pub fn url_of(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database `t_<random hex>` and returns its URL.
    pub fn database(&self) -> String {
        let name = format!("t_{}", random_hex());
        let options = self.options("postgres");
        let create = format!("CREATE DATABASE {name}");
        block_on(async move {
            let mut conn = PgConnection::connect_with(&options).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut conn).await?;
            conn.close().await
        })
        .unwrap_or_else(|e| {
            panic!("creating database {name} on {}: {e}\n{}", self.url_of("postgres"), self.log_tail())
        });
        self.url_of(&name)
    }

    /// Stops the server (fast shutdown: open connections are closed) and returns
    /// once its port refuses connections. Does nothing when it is stopped.
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut postmaster) = child.take() else {
            return;
        };
        // SIGINT, PostgreSQL's fast shutdown, by `kill`: the tests need no unsafe code.
        let _ = Command::new("kill").arg("-INT").arg(postmaster.id().to_string()).status();
        let _ = postmaster.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, self.port).into(), Duration::from_secs(1)).is_ok() {
            assert!(Instant::now() < deadline, "port {} still accepts connections after PostgreSQL stopped", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again after [`Server::stop`], on the same data directory
    /// and port. Does nothing when it runs.
    pub fn start_again(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if child.is_some() {
            return;
        }
        match self.launch() {
            Ok(postmaster) => *child = Some(postmaster),
            Err(Failure::PortTaken(why)) => {
                panic!("PostgreSQL could not start again: port {} was taken while it was stopped: {why}", self.port)
            }
            Err(Failure::Other(why)) => panic!("PostgreSQL could not start again: {why}"),
        }
    }

    /// Stops the server and starts it again.
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// Starts the postmaster on `self.port` and waits until it accepts connections.
    fn launch(&self) -> Result<Child, Failure> {
        let log = self.dir.join("log");
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            // Several hosts, each with a pool, connect at once.
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c"])
            .arg(if self.durable { "fsync=on" } else { "fsync=off" })
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        die_with_parent(&mut cmd);
        let mut child = spawn_tied(cmd)
            .map_err(|e| Failure::Other(format!("starting {}: {e}", self.bin.join("postgres").display())))?;

        let options = self.options("postgres");
        let data = std::fs::canonicalize(self.dir.join("data")).unwrap();
        let deadline = Instant::now() + READY_WITHIN;
        let failure = loop {
            if let Ok(Some(status)) = child.try_wait() {
                let tail = self.log_tail();
                let why = format!("postgres exited ({status}) while starting; the end of its log:\n{tail}");
                break if tail.contains("could not bind") || tail.contains("already in use") {
                    Failure::PortTaken(why)
                } else {
                    Failure::Other(why)
                };
            }
            if Instant::now() > deadline {
                break Failure::Other(format!(
                    "postgres did not accept connections within {} s; the end of its log:\n{}",
                    READY_WITHIN.as_secs(),
                    self.log_tail()
                ));
            }
            let options = options.clone();
            let answered = block_on(async move {
                let mut conn = tokio::time::timeout(Duration::from_secs(2), PgConnection::connect_with(&options))
                    .await
                    .ok()?
                    .ok()?;
                let dir: Option<String> = sqlx::query_scalar("SHOW data_directory").fetch_one(&mut conn).await.ok();
                let _ = conn.close().await;
                dir
            });
            match answered {
                Some(dir) if std::fs::canonicalize(&dir).ok().as_deref() == Some(data.as_path()) => return Ok(child),
                // Another server took the port before ours bound it.
                Some(dir) => break Failure::PortTaken(format!("another PostgreSQL (data in {dir}) answers on it")),
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        Err(failure)
    }

    fn options(&self, db: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .host("127.0.0.1")
            .port(self.port)
            .username("postgres")
            .database(db)
            .application_name("host-tests")
    }

    /// The last lines of the server's log, for failure messages.
    fn log_tail(&self) -> String {
        tail(&self.dir.join("log"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why a start failed.
enum Failure {
    /// The port was taken by someone else: worth trying another.
    PortTaken(String),
    Other(String),
}

/// The directory holding `initdb` and `postgres`: the first one on PATH, else the
/// newest `/usr/lib/postgresql/<version>/bin` (Debian's layout).
fn binaries() -> PathBuf {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let initdb = dir.join("initdb");
        if !initdb.is_file() {
            continue;
        }
        // `initdb` may be a link to the installation's own bin directory, the one
        // that also holds `postgres`.
        let real = std::fs::canonicalize(&initdb).ok().and_then(|p| p.parent().map(Path::to_path_buf));
        if let Some(found) = [Some(dir), real].into_iter().flatten().find(|d| has_both(d)) {
            return found;
        }
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version =
                entry.file_name().to_str()?.split('.').map(|n| n.parse().ok()).collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is needed by these tests and was not found (initdb): install it (Debian: apt-get install -y \
             postgresql) or put its bin directory on PATH"
        ),
    }
}

/// The uid and gid of the `postgres` system user when the tests run as root, since
/// `initdb` and `postgres` refuse root; `None` otherwise (the current user).
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        return None;
    }
    // By `id`, not getpwnam: the tests need no unsafe code, and getpwnam is not thread-safe.
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").arg(flag).arg("postgres").output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => Some((uid, gid)),
        _ => panic!(
            "these tests run as root, and initdb refuses root: they run PostgreSQL as the `postgres` user, which \
             does not exist (Debian's postgresql package creates it; or run the tests as another user)"
        ),
    }
}

/// Makes the cluster in `dir/data`: trust authentication, superuser `postgres`,
/// UTF-8 whatever the machine's locale.
fn initdb(bin: &Path, dir: &Path, user: Option<(u32, u32)>) {
    let log = dir.join("initdb.log");
    let log_file = File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
    let mut cmd = Command::new(bin.join("initdb"));
    cmd.arg("-D")
        .arg(dir.join("data"))
        .args(["-A", "trust", "-U", "postgres", "--encoding=UTF8", "--locale=C", "--no-sync"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("running {}: {e}", bin.join("initdb").display()));
    assert!(status.success(), "initdb failed ({status}); the end of its output:\n{}", tail(&log));
}

/// Makes `cmd`'s process get SIGINT (PostgreSQL's fast shutdown) when the thread
/// that spawned it ends, so that a server never outlives its test process.
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called: prctl is a plain system call, and
    // the closure neither allocates nor takes a lock (an OS error is a bare code).
    // std runs it after setting the uid and gid, which would clear the signal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Spawns `cmd` from a thread that lives as long as the process: the parent-death
/// signal fires when the spawning *thread* ends, and a test's thread ends with it.
fn spawn_tied(cmd: Command) -> io::Result<Child> {
    type Request = (Command, mpsc::Sender<io::Result<Child>>);
    static SPAWNER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("postgres-spawner".into())
            // The sender lives in the static, so this loop never ends.
            .spawn(move || {
                for (mut cmd, reply) in incoming {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("starting the thread that spawns PostgreSQL");
        requests
    });
    let (reply, answer) = mpsc::channel();
    spawner.send((cmd, reply)).expect("the PostgreSQL spawner thread is gone");
    answer.recv().expect("the PostgreSQL spawner thread is gone")
}

/// Removes the directories of servers whose test process is gone (killed runs never
/// clean up after themselves), unless their postmaster still runs.
fn remove_stale_dirs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let alive = |pid: &str| Path::new("/proc").join(pid).exists();
        for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)).and_then(|n| n.split('-').next())
            else {
                continue;
            };
            if pid.parse::<u32>().is_err() || alive(pid) {
                continue;
            }
            let postmaster = std::fs::read_to_string(entry.path().join("data/postmaster.pid")).unwrap_or_default();
            if postmaster.lines().next().is_some_and(|pid| alive(pid.trim())) {
                continue;
            }
            // Another user's directory may not be ours to remove: leave it.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    });
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("binding a loopback port").port()
}

/// 16 random hex digits, for database names.
fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).expect("reading /dev/urandom");
    hex::encode(bytes)
}

/// The last lines of the file at `path`.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({} unreadable: {e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Runs `f` to completion on a runtime of its own, on a thread of its own, so that
/// the blocking helpers of the tests work from plain and `#[tokio::test]` tests alike
/// (a runtime cannot be blocked on from inside another).
pub fn block_on<F: Future + Send>(f: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
