//! What `GET /metrics` reports, in Prometheus' text format (version 0.0.4):
//! requests by route and status, a latency histogram per route, the open
//! connections, and the gauges of the store served (its messages, its
//! snapshot's sequence, a follower's lag).
//!
//! Counting is lock-free on the request path except for the status table,
//! a mutex over a few dozen entries taken once per request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The route of a request, as metrics and logs group them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Route {
    /// `GET /v1/messages`.
    List,
    /// `GET /v1/messages/<id>`.
    Retrieve,
    /// `PUT /v1/messages/<id>`.
    Put,
    /// `DELETE /v1/messages/<id>`.
    Delete,
    /// `POST /v1/messages`: a batch of writes.
    Batch,
    /// `GET /healthz`.
    Health,
    /// `GET /metrics`.
    Metrics,
    /// Anything else (refused).
    Other,
}

impl Route {
    const ALL: [Route; 8] = [
        Route::List,
        Route::Retrieve,
        Route::Put,
        Route::Delete,
        Route::Batch,
        Route::Health,
        Route::Metrics,
        Route::Other,
    ];

    /// The route of a method and a (still percent-encoded) path.
    pub(crate) fn of(method: &hyper::Method, path: &str) -> Route {
        use hyper::Method;
        let one_message = path.strip_prefix("/v1/messages/").is_some_and(|id| !id.is_empty());
        match (method, path) {
            (&Method::GET, "/healthz") => Route::Health,
            (&Method::GET, "/metrics") => Route::Metrics,
            (&Method::GET, "/v1/messages") => Route::List,
            (&Method::GET, _) if one_message => Route::Retrieve,
            (&Method::PUT, _) => Route::Put,
            (&Method::DELETE, _) => Route::Delete,
            (&Method::POST, _) => Route::Batch,
            _ => Route::Other,
        }
    }

    /// Whether the route changes the store.
    pub(crate) fn writes(self) -> bool {
        matches!(self, Route::Put | Route::Delete | Route::Batch)
    }

    fn label(self) -> &'static str {
        match self {
            Route::List => "list",
            Route::Retrieve => "retrieve",
            Route::Put => "put",
            Route::Delete => "delete",
            Route::Batch => "batch",
            Route::Health => "healthz",
            Route::Metrics => "metrics",
            Route::Other => "other",
        }
    }
}

/// The upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] =
    [0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 10.0];

/// A latency histogram: a count per bucket (not cumulative; the last slot
/// is past every bound), and the sum in microseconds.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Counts one duration.
    pub(crate) fn record(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS.iter().position(|&bound| seconds <= bound).unwrap_or(BUCKETS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Appends the histogram's Prometheus lines under `name`, with `labels`
    /// (`key="value"` pairs, comma-separated, or empty) on each.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let counts: Vec<u64> = self.counts.iter().map(|count| count.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let with = |extra: &str| match (labels.is_empty(), extra.is_empty()) {
            (true, true) => String::new(),
            (true, false) => format!("{{{extra}}}"),
            (false, true) => format!("{{{labels}}}"),
            (false, false) => format!("{{{labels},{extra}}}"),
        };
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&counts) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{} {cumulative}", with(&format!("le=\"{bound}\"")));
        }
        let _ = writeln!(out, "{name}_bucket{} {total}", with("le=\"+Inf\""));
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{} {sum}", with(""));
        let _ = writeln!(out, "{name}_count{} {total}", with(""));
    }

    fn is_empty(&self) -> bool {
        self.counts.iter().all(|count| count.load(Ordering::Relaxed) == 0)
    }
}

/// Gauges the embedding program adds to `/metrics`, set on the [`Gauges`]
/// of each rendering.
pub type ExtraGauges = Arc<dyn Fn(&mut Gauges) + Send + Sync>;

/// The gauges of one `/metrics` rendering, grouped by name so that a gauge
/// set once per account is one family with an `account` label.
#[derive(Default)]
pub struct Gauges {
    families: BTreeMap<&'static str, GaugeFamily>,
    histograms: BTreeMap<&'static str, HistogramFamily>,
    account: Option<String>,
}

struct HistogramFamily {
    help: &'static str,
    samples: Vec<(Option<String>, Arc<Histogram>)>,
}

struct GaugeFamily {
    help: &'static str,
    /// Each sample's `account` label (none on a single-account server).
    samples: Vec<(Option<String>, f64)>,
}

impl Gauges {
    /// Sets the gauge `name` (for the account being rendered, if any).
    pub fn set(&mut self, name: &'static str, help: &'static str, value: f64) {
        let family = self.families.entry(name).or_insert_with(|| GaugeFamily { help, samples: Vec::new() });
        family.samples.push((self.account.clone(), value));
    }

    /// Adds the histogram `name` (for the account being rendered, if any).
    pub(crate) fn histogram(&mut self, name: &'static str, help: &'static str, histogram: Arc<Histogram>) {
        let family = self.histograms.entry(name).or_insert_with(|| HistogramFamily { help, samples: Vec::new() });
        family.samples.push((self.account.clone(), histogram));
    }

    /// Runs `set_gauges` with every gauge it sets labelled by `account`.
    pub(crate) fn for_account(&mut self, account: &str, set_gauges: impl FnOnce(&mut Gauges)) {
        let outer = self.account.replace(account.to_owned());
        set_gauges(self);
        self.account = outer;
    }

    fn render(&self, out: &mut String) {
        for (name, family) in &self.families {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} gauge", family.help);
            for (account, value) in &family.samples {
                match account {
                    None => {
                        let _ = writeln!(out, "{name} {value}");
                    }
                    Some(account) => {
                        let _ = writeln!(out, "{name}{{{}}} {value}", account_label(account));
                    }
                }
            }
        }
        for (name, family) in &self.histograms {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", family.help);
            for (account, histogram) in &family.samples {
                histogram.render(out, name, &account.as_deref().map(account_label).unwrap_or_default());
            }
        }
    }
}

/// `account="…"`, escaped as Prometheus' text format asks.
fn account_label(account: &str) -> String {
    let escaped = account.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!("account=\"{escaped}\"")
}

/// The server's counters.
#[derive(Default)]
pub(crate) struct Metrics {
    statuses: Mutex<BTreeMap<(Route, u16), u64>>,
    latency: [Histogram; Route::ALL.len()],
    open_connections: AtomicUsize,
}

/// An open connection, counted until dropped.
pub(crate) struct OpenConnection<'a>(&'a Metrics);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a connection as open until the guard drops.
    pub(crate) fn connection_opened(&self) -> OpenConnection<'_> {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self)
    }

    /// Counts one answered request.
    pub(crate) fn record(&self, route: Route, status: u16, elapsed: Duration) {
        *self.statuses.lock().unwrap_or_else(PoisonError::into_inner).entry((route, status)).or_insert(0) += 1;
        self.latency[route as usize].record(elapsed);
    }

    /// The text of `/metrics`, with the store's message count and the
    /// embedder's gauges.
    pub(crate) fn render(&self, messages: u64, set_gauges: impl FnOnce(&mut Gauges)) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP msgdex_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE msgdex_requests_total counter\n");
        for ((route, status), count) in self.statuses.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "msgdex_requests_total{{route=\"{}\",status=\"{status}\"}} {count}", route.label());
        }
        out.push_str("# HELP msgdex_request_duration_seconds Time from a request's head to its answer.\n");
        out.push_str("# TYPE msgdex_request_duration_seconds histogram\n");
        for route in Route::ALL {
            let histogram = &self.latency[route as usize];
            if !histogram.is_empty() {
                histogram.render(&mut out, "msgdex_request_duration_seconds", &format!("route=\"{}\"", route.label()));
            }
        }
        let mut gauges = Gauges::default();
        gauges.set(
            "msgdex_open_connections",
            "Connections open now.",
            self.open_connections.load(Ordering::Relaxed) as f64,
        );
        gauges.set("msgdex_messages", "Messages in the stores served.", messages as f64);
        set_gauges(&mut gauges);
        gauges.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_and_status_with_cumulative_buckets() {
        let metrics = Metrics::default();
        let connection = metrics.connection_opened();
        metrics.record(Route::List, 200, Duration::from_micros(80));
        metrics.record(Route::List, 200, Duration::from_millis(3));
        metrics.record(Route::List, 400, Duration::from_secs(20));
        metrics.record(Route::Put, 201, Duration::from_micros(10));
        let extra: ExtraGauges = Arc::new(|gauges: &mut Gauges| gauges.set("msgdex_follower_lag_seconds", "Lag.", 1.5));
        let text = metrics.render(42, |gauges| {
            extra(gauges);
            gauges.for_account("a\"b", |gauges| gauges.set("msgdex_stream_applied_sequence", "Applied.", 7.0));
            gauges.for_account("c", |gauges| {
                gauges.set("msgdex_stream_applied_sequence", "Applied.", 9.0);
                let lag = Arc::new(Histogram::default());
                lag.record(Duration::from_millis(30));
                lag.record(Duration::from_millis(300));
                gauges.histogram("msgdex_stream_lag_seconds", "Lag.", lag);
            });
        });
        for line in [
            "msgdex_requests_total{route=\"list\",status=\"200\"} 2",
            "msgdex_requests_total{route=\"list\",status=\"400\"} 1",
            "msgdex_requests_total{route=\"put\",status=\"201\"} 1",
            "msgdex_request_duration_seconds_bucket{route=\"list\",le=\"0.00005\"} 0",
            "msgdex_request_duration_seconds_bucket{route=\"list\",le=\"0.0001\"} 1",
            "msgdex_request_duration_seconds_bucket{route=\"list\",le=\"0.005\"} 2",
            "msgdex_request_duration_seconds_bucket{route=\"list\",le=\"10\"} 2",
            "msgdex_request_duration_seconds_bucket{route=\"list\",le=\"+Inf\"} 3",
            "msgdex_request_duration_seconds_count{route=\"list\"} 3",
            "msgdex_request_duration_seconds_sum{route=\"list\"} 20.00308",
            "msgdex_open_connections 1",
            "msgdex_messages 42",
            "msgdex_follower_lag_seconds 1.5",
            "msgdex_stream_applied_sequence{account=\"a\\\"b\"} 7",
            "msgdex_stream_applied_sequence{account=\"c\"} 9",
            "# TYPE msgdex_stream_lag_seconds histogram",
            "msgdex_stream_lag_seconds_bucket{account=\"c\",le=\"0.025\"} 0",
            "msgdex_stream_lag_seconds_bucket{account=\"c\",le=\"0.1\"} 1",
            "msgdex_stream_lag_seconds_bucket{account=\"c\",le=\"+Inf\"} 2",
            "msgdex_stream_lag_seconds_count{account=\"c\"} 2",
            "msgdex_stream_lag_seconds_sum{account=\"c\"} 0.33",
        ] {
            assert!(text.lines().any(|candidate| candidate == line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("route=\"batch\""), "routes never used are left out");
        drop(connection);
        assert_eq!(text.matches("# TYPE msgdex_stream_applied_sequence gauge").count(), 1, "one family");
        assert!(metrics.render(0, |_| {}).contains("msgdex_open_connections 0\n"));
    }

    #[test]
    fn routes_are_told_apart_by_method_and_path() {
        use hyper::Method;
        assert_eq!(Route::of(&Method::GET, "/v1/messages"), Route::List);
        assert_eq!(Route::of(&Method::GET, "/v1/messages/a"), Route::Retrieve);
        assert_eq!(Route::of(&Method::GET, "/v1/messages/"), Route::Other);
        assert_eq!(Route::of(&Method::GET, "/healthz"), Route::Health);
        assert_eq!(Route::of(&Method::PUT, "/v1/messages/a"), Route::Put);
        assert_eq!(Route::of(&Method::POST, "/v1/messages"), Route::Batch);
        assert_eq!(Route::of(&Method::PATCH, "/v1/messages/a"), Route::Other);
        assert!(Route::Delete.writes() && !Route::List.writes());
    }
}
