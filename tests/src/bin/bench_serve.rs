//! `just bench-serve`: one `host serve` (release build) with N file connectors on
//! small feeds, each its own config entry and directory grant, polled every 10 s
//! with jitter off, for a while; on SQLite and on PostgreSQL. Prints how soon the
//! admin API answered and every connector was loaded, runs per second, how late
//! runs started after they were due (`host_schedule_lag_seconds`), failed runs,
//! and the host's peak RSS, CPU and open descriptors. Then three hosts sharing the
//! connectors on PostgreSQL: the same figures per host, and how long the survivors
//! take to hold every lease after one is killed.
//!
//! `--connectors N` (default 1000), `--seconds S` of measurement after every
//! connector is loaded (default 120), `--only sqlite|postgres|cluster`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tests::daemon::{free_port, request};

struct Args {
    connectors: usize,
    seconds: u64,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args { connectors: 1000, seconds: 120, only: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--connectors" => a.connectors = value().parse().expect("--connectors N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds S"),
            "--only" => a.only = Some(value()),
            other => {
                panic!("unknown flag {other}; expected --connectors N, --seconds S, --only sqlite|postgres|cluster")
            }
        }
    }
    a
}

/// Writes N feeds of five records and a config with one entry per connector.
fn setup(dir: &Path, n: usize, store: &str, host_id: Option<&str>) -> PathBuf {
    let root = tests::root();
    let wasm = root.join("guests/file.wasm");
    assert!(wasm.is_file(), "{} is missing: run `just build-guests`", wasm.display());
    let mut cfg = format!("[serve]\nstore = {}\nmax_parallel_runs = 8\n", toml::Value::String(store.to_string()));
    if let Some(id) = host_id {
        cfg.push_str(&format!("host_id = \"{id}\"\n"));
    }
    for i in 0..n {
        let feed = dir.join("feeds").join(format!("c{i}"));
        if !feed.join("feed.jsonl").is_file() {
            std::fs::create_dir_all(&feed).unwrap();
            let mut f = std::fs::File::create(feed.join("feed.jsonl")).unwrap();
            for j in 0..5 {
                writeln!(f, r#"{{"id":"c{i}-{j}","title":"record {j} of feed {i}"}}"#).unwrap();
            }
        }
        cfg.push_str(&format!(
            "[[connectors]]\nname = \"c{i}\"\ncomponent = {}\npoll_interval = \"10s\"\njitter = 0.0\n\
             [connectors.manifest]\nsource = \"bench-c{i}\"\n[connectors.manifest.config]\npath = \"/feed/feed.jsonl\"\n\
             [[connectors.manifest.dirs]]\nhost = {}\nguest = \"/feed\"\n",
            toml::Value::String(wasm.display().to_string()),
            toml::Value::String(feed.display().to_string()),
        ));
    }
    let path = dir.join(format!("serve-{}.toml", host_id.unwrap_or("one")));
    std::fs::write(&path, cfg).unwrap();
    path
}

struct Host {
    child: Child,
    addr: std::net::SocketAddr,
    spawned: Instant,
}

fn start(dir: &Path, config: &Path) -> Host {
    let bin = tests::root().join("target/release/host");
    assert!(bin.is_file(), "{} is missing: cargo build --release -p host", bin.display());
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = std::fs::File::create(dir.join(format!("serve-{port}.log"))).unwrap();
    let spawned = Instant::now();
    let child = Command::new(bin)
        .env("HOST_CACHE_DIR", dir.join("cache"))
        .env("HOST_LOG", "warn")
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting host serve");
    Host { child, addr, spawned }
}

impl Host {
    fn get(&self, path: &str) -> Option<String> {
        let (code, body) = request(self.addr, "GET", path, None);
        (code == 200).then_some(body)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// VmRSS in bytes, CPU seconds so far, open descriptors.
fn sample(pid: u32) -> (u64, f64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    (rss, ticks / 100.0, fds)
}

/// A metric's value (the sum of its samples matching `labels`).
fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(k, _)| *k == format!("{name}{labels}"))
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

/// The lag histogram's count within `le` seconds.
fn lag_within(text: &str, le: &str) -> f64 {
    metric(text, "host_schedule_lag_seconds_bucket", &format!("{{le=\"{le}\"}}"))
}

/// Figures of one host over the measurement.
struct Figures {
    api_up: Duration,
    loaded: Duration,
    runs_per_s: f64,
    failed: f64,
    resource_failures: f64,
    lag_mean_ms: f64,
    lag_within_10ms: f64,
    lag_within_100ms: f64,
    peak_rss: u64,
    cpu_percent: f64,
    peak_fds: usize,
    metrics_bytes: usize,
}

fn print_figures(label: &str, f: &Figures) {
    println!(
        "{label:<28} API up {:>6.2} s, all loaded {:>6.1} s, {:>7.1} runs/s, {:>4} failed ({} resource), lag mean {:>6.1} ms, \
         within 10 ms {:>5.1} %, within 100 ms {:>5.1} %, peak RSS {:>6.0} MiB, CPU {:>5.0} %, peak fds {:>6}, /metrics {} KB",
        f.api_up.as_secs_f64(),
        f.loaded.as_secs_f64(),
        f.runs_per_s,
        f.failed,
        f.resource_failures,
        f.lag_mean_ms,
        f.lag_within_10ms * 100.0,
        f.lag_within_100ms * 100.0,
        f.peak_rss as f64 / (1024.0 * 1024.0),
        f.cpu_percent,
        f.peak_fds,
        f.metrics_bytes / 1024
    );
}

/// Waits for the API, then for every connector to be loaded, then measures for
/// `seconds`.
fn measure(hosts: &[&Host], connectors_each: &[usize], seconds: u64) -> Vec<Figures> {
    let mut api_up = vec![Duration::ZERO; hosts.len()];
    let mut loaded = vec![Duration::ZERO; hosts.len()];
    for (i, h) in hosts.iter().enumerate() {
        while h.get("/health").is_none() {
            assert!(
                h.spawned.elapsed() < Duration::from_secs(120),
                "host serve did not answer (see its log in the bench's directory)"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        api_up[i] = h.spawned.elapsed();
    }
    for (i, h) in hosts.iter().enumerate() {
        loop {
            let m = h.get("/metrics").unwrap_or_default();
            if metric(&m, "host_connectors_loaded", "") >= connectors_each[i] as f64 {
                break;
            }
            assert!(h.spawned.elapsed() < Duration::from_secs(600), "the connectors did not load");
            std::thread::sleep(Duration::from_millis(200));
        }
        loaded[i] = h.spawned.elapsed();
    }
    let before: Vec<(String, (u64, f64, usize))> =
        hosts.iter().map(|h| (h.get("/metrics").unwrap_or_default(), sample(h.pid()))).collect();
    let started = Instant::now();
    let mut peaks: Vec<(u64, usize)> = vec![(0, 0); hosts.len()];
    while started.elapsed() < Duration::from_secs(seconds) {
        for (i, h) in hosts.iter().enumerate() {
            let (rss, _, fds) = sample(h.pid());
            peaks[i] = (peaks[i].0.max(rss), peaks[i].1.max(fds));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let took = started.elapsed().as_secs_f64();
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let after = h.get("/metrics").unwrap_or_default();
            let (_, cpu_after, _) = sample(h.pid());
            let (m0, (_, cpu0, _)) = &before[i];
            let delta = |name: &str, labels: &str| metric(&after, name, labels) - metric(m0, name, labels);
            let runs = delta("host_runs_total", "{outcome=\"ok\"}") + delta("host_runs_total", "{outcome=\"failed\"}");
            let lags = delta("host_schedule_lag_seconds_count", "");
            let lag_sum = delta("host_schedule_lag_seconds_sum", "");
            let within = |le: &str| (lag_within(&after, le) - lag_within(m0, le)) / lags.max(1.0);
            Figures {
                api_up: api_up[i],
                loaded: loaded[i],
                runs_per_s: runs / took,
                failed: delta("host_runs_total", "{outcome=\"failed\"}"),
                resource_failures: delta("host_resource_failures_total", ""),
                lag_mean_ms: lag_sum / lags.max(1.0) * 1000.0,
                lag_within_10ms: within("0.01"),
                lag_within_100ms: within("0.1"),
                peak_rss: peaks[i].0,
                cpu_percent: (cpu_after - cpu0) / took * 100.0,
                peak_fds: peaks[i].1,
                metrics_bytes: after.len(),
            }
        })
        .collect()
}

fn stop(mut h: Host) {
    let _ = Command::new("kill").arg("-TERM").arg(h.pid().to_string()).status();
    let _ = h.child.wait();
}

fn main() {
    let a = args();
    let wanted = |what: &str| a.only.as_deref().is_none_or(|o| o == what);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "bench-serve: {} file connectors, each polled every 10 s (jitter off), measured for {} s after loading; load average before: {}",
        a.connectors,
        a.seconds,
        load.trim()
    );
    let dir = tempfile::tempdir().unwrap();
    if wanted("sqlite") {
        let cfg = setup(dir.path(), a.connectors, &format!("sqlite:{}", dir.path().join("state.db").display()), None);
        let h = start(dir.path(), &cfg);
        let f = measure(&[&h], &[a.connectors], a.seconds);
        print_figures("one host, SQLite", &f[0]);
        stop(h);
    }
    let server = (wanted("postgres") || wanted("cluster")).then(tests::postgres::Server::start_durable);
    if let Some(server) = &server
        && wanted("postgres")
    {
        let cfg = setup(dir.path(), a.connectors, &server.database(), None);
        let h = start(dir.path(), &cfg);
        let f = measure(&[&h], &[a.connectors], a.seconds);
        print_figures("one host, PostgreSQL", &f[0]);
        stop(h);
    }
    if let Some(server) = &server
        && wanted("cluster")
    {
        let db = server.database();
        let hosts: Vec<Host> = ["h1", "h2", "h3"]
            .iter()
            .map(|id| {
                let cfg = setup(dir.path(), a.connectors, &db, Some(id));
                start(dir.path(), &cfg)
            })
            .collect();
        let refs: Vec<&Host> = hosts.iter().collect();
        // Each loads every connector of the config and runs its third.
        let f = measure(&refs, &[a.connectors; 3], a.seconds);
        for (i, f) in f.iter().enumerate() {
            print_figures(&format!("3 hosts on PostgreSQL: h{}", i + 1), f);
        }
        // Kill h3; time until h1 and h2 hold every lease.
        let mut hosts = hosts;
        let mut h3 = hosts.pop().unwrap();
        let killed = Instant::now();
        let _ = h3.child.kill();
        let _ = h3.child.wait();
        let held = |h: &Host| metric(&h.get("/metrics").unwrap_or_default(), "host_leases_held", "") as usize;
        loop {
            let total: usize = hosts.iter().map(held).sum();
            if total >= a.connectors {
                break;
            }
            if killed.elapsed() > Duration::from_secs(120) {
                println!("the survivors held {total} of {} leases 120 s after the kill", a.connectors);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!(
            "takeover: the two survivors held all {} leases {:.1} s after h3 was killed (lease TTL 15 s)",
            a.connectors,
            killed.elapsed().as_secs_f64()
        );
        for h in hosts {
            stop(h);
        }
    }
}
