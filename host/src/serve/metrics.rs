//! `GET /metrics`: the daemon's metrics in the Prometheus text exposition format
//! (version 0.0.4), one family after another, every sample labelled by connector.

use std::fmt::Write;

use super::Daemon;
use super::slot::{BUCKETS, Histogram};
use crate::resilience::breaker::BreakerState;

/// The metrics text.
pub fn render(daemon: &Daemon) -> String {
    let slots = daemon.all();
    let mut out = String::with_capacity(4096);
    let data: Vec<_> = slots.iter().map(|s| (s.name.clone(), s.counters(), s.live(), s)).collect();

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
    family(&mut out, "connector_info", "gauge", "The live version of a connector.");
    for (name, _, live, _) in &data {
        if let Some(v) = live {
            let _ = writeln!(
                out,
                "connector_info{{connector=\"{}\",digest=\"{}\",package=\"{}\",source=\"{}\"}} 1",
                esc(name),
                v.component.digest,
                v.component.package(),
                esc(&v.manifest.source)
            );
        }
    }
    out
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
