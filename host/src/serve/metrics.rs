//! `GET /metrics`: the daemon's metrics in the Prometheus text exposition format
//! (version 0.0.4), one family after another.
//!
//! The `host_*` families are totals over the host's connectors, whatever their
//! number. The `connector_*` families have a series per connector (about 3.5 KB of
//! text each): with thousands of connectors a scrape would be megabytes, so they are
//! left out above [`PER_CONNECTOR_AUTO`] connectors unless
//! `serve.metrics_per_connector` asks for them (or `?per_connector=1` does).

use std::fmt::Write;

use super::Daemon;
use super::slot::{BUCKETS, Histogram};
use crate::resilience::breaker::BreakerState;

/// Up to this many connectors, the per-connector families are in `/metrics` unless
/// turned off.
pub const PER_CONNECTOR_AUTO: usize = 1000;

/// The metrics text; with the per-connector families when `per_connector`.
pub fn render(daemon: &Daemon, per_connector: Option<bool>) -> String {
    let slots = daemon.all();
    let mut out = String::with_capacity(4096);
    let data: Vec<_> = slots.iter().map(|s| (s.name.clone(), s.counters(), s.live(), s)).collect();
    totals(&mut out, daemon, &data.iter().map(|(_, c, _, _)| c).collect::<Vec<_>>());
    if !per_connector.unwrap_or(slots.len() <= PER_CONNECTOR_AUTO) {
        return out;
    }

    family(&mut out, "connector_runs_total", "counter", "Runs of a connector, by outcome.");
    for (name, c, _, _) in &data {
        for (outcome, n) in [("ok", c.runs_ok), ("failed", c.runs_failed), ("circuit_open", c.runs_circuit_open)] {
            let _ = writeln!(out, "connector_runs_total{{connector=\"{}\",outcome=\"{outcome}\"}} {n}", esc(name));
        }
    }
    family(&mut out, "connector_records_total", "counter", "Records by what became of them.");
    for (name, c, _, _) in &data {
        for (kind, n) in [
            ("fetched", c.fetched),
            ("published", c.published),
            ("unchanged", c.unchanged),
            ("rejected", c.rejected),
            ("skipped", c.skipped),
            ("repeated", c.repeated),
        ] {
            let _ = writeln!(out, "connector_records_total{{connector=\"{}\",kind=\"{kind}\"}} {n}", esc(name));
        }
    }
    family(&mut out, "connector_run_duration_seconds", "histogram", "Wall time of a run.");
    for (name, c, _, _) in &data {
        histogram(&mut out, "connector_run_duration_seconds", name, &c.run_seconds);
    }
    family(&mut out, "connector_guest_call_duration_seconds", "histogram", "Wall time of a list-drafts call.");
    for (name, c, _, _) in &data {
        histogram(&mut out, "connector_guest_call_duration_seconds", name, &c.call_seconds);
    }
    family(&mut out, "connector_http_requests_total", "counter", "HTTP requests the connector made.");
    for (name, c, _, _) in &data {
        let _ = writeln!(out, "connector_http_requests_total{{connector=\"{}\"}} {}", esc(name), c.http_requests);
    }
    family(&mut out, "connector_http_retries_total", "counter", "HTTP retries after transient failures.");
    for (name, c, _, _) in &data {
        let _ = writeln!(out, "connector_http_retries_total{{connector=\"{}\"}} {}", esc(name), c.http_retries);
    }
    family(
        &mut out,
        "connector_http_rate_limit_wait_seconds_total",
        "counter",
        "Time spent waiting for rate limits and Retry-After.",
    );
    for (name, c, _, _) in &data {
        let _ = writeln!(
            out,
            "connector_http_rate_limit_wait_seconds_total{{connector=\"{}\"}} {}",
            esc(name),
            c.http_rate_limit_wait_ms as f64 / 1000.0
        );
    }
    family(
        &mut out,
        "connector_breaker_state",
        "gauge",
        "Circuit breaker state: 0 closed, 1 half-open, 2 open (upstream=\"run\" is the run breaker).",
    );
    for (name, _, _, slot) in &data {
        let _ = writeln!(
            out,
            "connector_breaker_state{{connector=\"{}\",upstream=\"run\"}} {}",
            esc(name),
            state(slot.breaker_state())
        );
        for (upstream, s) in slot.http_breakers() {
            let _ = writeln!(
                out,
                "connector_breaker_state{{connector=\"{}\",upstream=\"{}\"}} {}",
                esc(name),
                esc(&upstream),
                state(s)
            );
        }
    }
    family(&mut out, "connector_reloads_total", "counter", "Reloads, by outcome.");
    for (name, c, _, _) in &data {
        let _ =
            writeln!(out, "connector_reloads_total{{connector=\"{}\",outcome=\"swapped\"}} {}", esc(name), c.reloads);
        let _ = writeln!(
            out,
            "connector_reloads_total{{connector=\"{}\",outcome=\"refused\"}} {}",
            esc(name),
            c.reload_failures
        );
    }
    family(&mut out, "connector_healthy", "gauge", "1 when the last successful run is within the health window.");
    for (name, _, _, slot) in &data {
        let _ = writeln!(out, "connector_healthy{{connector=\"{}\"}} {}", esc(name), u8::from(slot.healthy()));
    }
    family(
        &mut out,
        "host_compiled_components",
        "gauge",
        "Distinct compiled components loaded (one per digest, shared).",
    );
    let _ = writeln!(out, "host_compiled_components {}", daemon.components.live());
    family(
        &mut out,
        "host_component_loads_total",
        "counter",
        "Components compiled or read from the compile cache, not shared.",
    );
    let _ = writeln!(out, "host_component_loads_total {}", daemon.components.loaded());
    family(
        &mut out,
        "host_sandboxes",
        "gauge",
        "Sandboxes (component instances) live now: runs, lookups and reload checks; at most 128.",
    );
    let _ = writeln!(out, "host_sandboxes {}", daemon.engine.sandboxes());
    family(
        &mut out,
        "connector_evidence_cache_total",
        "counter",
        "Evidence calls (search, fetch) by whether the host's cache answered them; since the version went live.",
    );
    for (name, _, live, _) in &data {
        if let Some(v) = live.as_ref().filter(|v| v.component.contract_exports().evidence) {
            let stats = v.evidence_cache.stats();
            for (result, n) in [("hit", stats.hits), ("miss", stats.misses)] {
                let _ = writeln!(
                    out,
                    "connector_evidence_cache_total{{connector=\"{}\",result=\"{result}\"}} {n}",
                    esc(name)
                );
            }
        }
    }
    family(&mut out, "connector_evidence_cache_entries", "gauge", "Evidence answers the host's cache holds.");
    for (name, _, live, _) in &data {
        if let Some(v) = live.as_ref().filter(|v| v.component.contract_exports().evidence) {
            let _ = writeln!(
                out,
                "connector_evidence_cache_entries{{connector=\"{}\"}} {}",
                esc(name),
                v.evidence_cache.stats().entries
            );
        }
    }
    family(&mut out, "connector_info", "gauge", "The live version of a connector.");
    for (name, _, live, _) in &data {
        if let Some(v) = live {
            let _ = writeln!(
                out,
                "connector_info{{connector=\"{}\",digest=\"{}\",package=\"{}\",world=\"{}\",source=\"{}\"}} 1",
                esc(name),
                v.component.digest,
                v.component.package(),
                v.component.contract_exports().world(),
                esc(&v.manifest.source)
            );
        }
    }
    out
}

/// The `host_*` families: totals over every connector of the host.
fn totals(out: &mut String, daemon: &Daemon, counters: &[&super::slot::Counters]) {
    let sum = |f: fn(&super::slot::Counters) -> u64| counters.iter().map(|c| f(c)).sum::<u64>();
    family(out, "host_connectors", "gauge", "Connectors in the config.");
    let _ = writeln!(out, "host_connectors {}", counters.len());
    family(out, "host_connectors_loaded", "gauge", "Connectors with a live version.");
    let _ = writeln!(out, "host_connectors_loaded {}", daemon.all().iter().filter(|s| s.live().is_some()).count());
    family(out, "host_runs_total", "counter", "Runs of every connector, by outcome.");
    for (outcome, n) in [
        ("ok", sum(|c| c.runs_ok)),
        ("failed", sum(|c| c.runs_failed)),
        ("circuit_open", sum(|c| c.runs_circuit_open)),
        ("fenced", sum(|c| c.runs_fenced)),
    ] {
        let _ = writeln!(out, "host_runs_total{{outcome=\"{outcome}\"}} {n}");
    }
    family(out, "host_records_total", "counter", "Records of every connector by what became of them.");
    for (kind, n) in [
        ("fetched", sum(|c| c.fetched)),
        ("published", sum(|c| c.published)),
        ("unchanged", sum(|c| c.unchanged)),
        ("rejected", sum(|c| c.rejected)),
    ] {
        let _ = writeln!(out, "host_records_total{{kind=\"{kind}\"}} {n}");
    }
    let merged = |f: fn(&super::slot::Counters) -> &Histogram| {
        let mut h = Histogram::default();
        for c in counters {
            h.merge(f(c));
        }
        h
    };
    family(out, "host_run_duration_seconds", "histogram", "Wall time of a run, every connector.");
    plain_histogram(out, "host_run_duration_seconds", &merged(|c| &c.run_seconds));
    family(
        out,
        "host_schedule_lag_seconds",
        "histogram",
        "How late scheduled runs started after they were due, every connector.",
    );
    plain_histogram(out, "host_schedule_lag_seconds", &merged(|c| &c.lag_seconds));
    family(out, "host_resource_failures_total", "counter", "Runs that failed for want of a resource of the host.");
    let _ = writeln!(out, "host_resource_failures_total {}", sum(|c| c.resource_failures));
    family(
        out,
        "host_evidence_cache_total",
        "counter",
        "Evidence calls of every connector, by whether the cache answered.",
    );
    let (mut hits, mut misses) = (0, 0);
    for v in daemon.all().iter().filter_map(|s| s.live()) {
        let stats = v.evidence_cache.stats();
        (hits, misses) = (hits + stats.hits, misses + stats.misses);
    }
    let _ = writeln!(out, "host_evidence_cache_total{{result=\"hit\"}} {hits}");
    let _ = writeln!(out, "host_evidence_cache_total{{result=\"miss\"}} {misses}");
    if let Some(me) = &daemon.cluster {
        use std::sync::atomic::Ordering::Relaxed;
        family(out, "host_leases_held", "gauge", "Connector leases this host holds.");
        let _ = writeln!(out, "host_leases_held {}", me.held_count());
        family(out, "host_cluster_live_hosts", "gauge", "Hosts with a live heartbeat in the shared store.");
        let _ = writeln!(out, "host_cluster_live_hosts {}", me.live_hosts.load(Relaxed));
        family(out, "host_leases_acquired_total", "counter", "Leases this host took.");
        let _ = writeln!(out, "host_leases_acquired_total {}", me.acquired_total.load(Relaxed));
        family(out, "host_leases_lost_total", "counter", "Leases this host lost (taken over, or not renewed in time).");
        let _ = writeln!(out, "host_leases_lost_total {}", me.lost_total.load(Relaxed));
    }
}

fn plain_histogram(out: &mut String, name: &str, h: &Histogram) {
    let mut cumulative = 0;
    for (i, bound) in BUCKETS.iter().enumerate() {
        cumulative += h.counts.get(i).copied().unwrap_or(0);
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum {}", h.sum);
    let _ = writeln!(out, "{name}_count {}", h.count);
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, connector: &str, h: &Histogram) {
    let c = esc(connector);
    let mut cumulative = 0;
    for (i, bound) in BUCKETS.iter().enumerate() {
        cumulative += h.counts.get(i).copied().unwrap_or(0);
        let _ = writeln!(out, "{name}_bucket{{connector=\"{c}\",le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{connector=\"{c}\",le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{connector=\"{c}\"}} {}", h.sum);
    let _ = writeln!(out, "{name}_count{{connector=\"{c}\"}} {}", h.count);
}

fn state(s: BreakerState) -> u8 {
    match s {
        BreakerState::Closed => 0,
        BreakerState::HalfOpen => 1,
        BreakerState::Open => 2,
    }
}

/// A label value, escaped as the format requires.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
