//! The report of a `latchkey bench` run: percentiles per phase, printed as a table for
//! people or as JSON for programs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{BenchArgs, ErrorKind, PhaseResult, Target};

/// How many distinct error kinds are printed; the rest are only counted.
const MAX_ERROR_KINDS_SHOWN: usize = 10;

/// The whole run, as printed or as JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Report {
    /// The servers' base URLs, separated by spaces.
    target: String,
    /// How many servers took the requests in turn.
    servers: usize,
    in_process: bool,
    release_build: bool,
    cores: usize,
    concurrency: u16,
    warmup_secs: f64,
    /// Set when each phase ran for a fixed time.
    duration_secs: Option<f64>,
    /// Set when each phase ran a fixed number of requests.
    requests_per_phase: Option<u64>,
    pub(super) phases: Vec<PhaseReport>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PhaseReport {
    phase: &'static str,
    pub(super) requests: u64,
    pub(super) errors: u64,
    elapsed_secs: f64,
    requests_per_sec: f64,
    latency_ms: Latency,
    error_kinds: BTreeMap<String, ErrorKind>,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Report {
    pub(super) fn new(args: &BenchArgs, target: &Target, results: Vec<PhaseResult>) -> Report {
        Report {
            target: target.base_urls.join(" "),
            servers: target.base_urls.len(),
            in_process: target.in_process,
            release_build: !cfg!(debug_assertions),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            concurrency: args.concurrency,
            warmup_secs: args.warmup.as_secs_f64(),
            duration_secs: args
                .requests
                .is_none()
                .then_some(args.duration.as_secs_f64()),
            requests_per_phase: args.requests,
            phases: results.into_iter().map(PhaseReport::new).collect(),
        }
    }

    pub(super) fn print_table(&self) {
        let amount = match (self.duration_secs, self.requests_per_phase) {
            (_, Some(requests)) => format!("{requests} requests"),
            (Some(secs), None) => format!("{secs} s"),
            (None, None) => String::new(),
        };
        println!(
            "latchkey bench: {} ({}), concurrency {}, {amount} per phase after {} s warmup",
            self.target,
            match (self.in_process, self.servers) {
                (true, _) => "in-process server".to_owned(),
                (false, 1) => "external server".to_owned(),
                (false, n) => format!("{n} external servers, round robin"),
            },
            self.concurrency,
            self.warmup_secs,
        );
        println!("{} cores available to this process.", self.cores);
        if self.in_process {
            println!(
                "Client and server share this machine and its cores, so these figures \
                 understate a server with the machine to itself."
            );
        }
        println!();
        println!(
            "{:<7} {:>9} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8}",
            "phase", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for phase in &self.phases {
            let l = &phase.latency_ms;
            println!(
                "{:<7} {:>9} {:>7} {:>10.0} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
                phase.phase,
                phase.requests,
                phase.errors,
                phase.requests_per_sec,
                l.p50,
                l.p90,
                l.p99,
                l.max
            );
        }
        self.print_errors();
    }

    fn print_errors(&self) {
        for phase in self.phases.iter().filter(|p| p.errors > 0) {
            eprintln!("\nErrors in phase `{}`:", phase.phase);
            for (kind, error) in phase.error_kinds.iter().take(MAX_ERROR_KINDS_SHOWN) {
                eprintln!("  {kind} × {}: {}", error.count, error.sample);
            }
            let hidden = phase
                .error_kinds
                .len()
                .saturating_sub(MAX_ERROR_KINDS_SHOWN);
            if hidden > 0 {
                eprintln!("  … and {hidden} more kinds (see --output json)");
            }
        }
    }
}

impl PhaseReport {
    fn new(result: PhaseResult) -> PhaseReport {
        let PhaseResult { name, elapsed, log } = result;
        let errors = log.error_count();
        let mut latencies = log.latencies;
        latencies.sort_unstable();
        let requests = latencies.len() as u64;
        let elapsed_secs = elapsed.as_secs_f64();
        PhaseReport {
            phase: name,
            requests,
            errors,
            elapsed_secs,
            requests_per_sec: if elapsed_secs > 0.0 {
                requests as f64 / elapsed_secs
            } else {
                0.0
            },
            latency_ms: Latency {
                p50: percentile_ms(&latencies, 50.0),
                p90: percentile_ms(&latencies, 90.0),
                p99: percentile_ms(&latencies, 99.0),
                max: latencies.last().map_or(0.0, millis),
            },
            error_kinds: log.errors,
        }
    }
}

/// The nearest-rank percentile of sorted latencies, in milliseconds (0 when empty).
fn percentile_ms(sorted: &[Duration], percent: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    millis(&sorted[rank.clamp(1, sorted.len()) - 1])
}

fn millis(duration: &Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&sorted, 50.0), 50.0);
        assert_eq!(percentile_ms(&sorted, 99.0), 99.0);
        assert_eq!(percentile_ms(&sorted, 100.0), 100.0);
        assert_eq!(percentile_ms(&sorted[..1], 50.0), 1.0);
        assert_eq!(percentile_ms(&[], 50.0), 0.0);
    }
}
