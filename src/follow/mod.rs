//! A replica of a CareHQ account (cargo feature `follow`): `msgdex sync`
//! and `msgdex serve --follow`.
//!
//! The follower reads the upstream's Messages API, signed as the official
//! clients sign, and applies what changed to a [`FollowTarget`]: a
//! [`LiveEngine`](crate::LiveEngine) (durable on a data directory), or a
//! change stream (`msgdex sync --to-stream`). Each batch is applied with the
//! cursor it reaches, in one log record
//! ([`LiveEngine::apply_at`](crate::LiveEngine::apply_at)), so a follower
//! killed at any moment resumes where its store is, and applies each page
//! exactly once.
//!
//! ```text
//! first copy:  pull from the beginning ─▶ the null-modified group ─▶ cursor.copied
//! following:   every interval: pull from the cursor; every reconcile period: reconcile
//! ```
//!
//! - The pull ([`pull`](self) module docs): messages modified at or after
//!   the cursor, in `modified` order, page 1 from a moving cursor, tie
//!   groups of one second read in passes until stable.
//! - Reconciliation: deletes, and messages whose `modified` is null.
//! - Being a good client ([`Upstream`]): paced by the rate-limit headers,
//!   backing off until the reset on 429, retrying 5xx, timeouts and cut
//!   connections with exponential backoff and jitter; a page is applied
//!   whole or not at all.

mod cursor;
mod pull;
mod reconcile;
mod target;
mod upstream;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use cursor::Cursor;
pub use target::FollowTarget;
pub use upstream::{Credentials, RetryPolicy, Upstream, UpstreamError};

use pull::{Pull, Sink};

/// Why a sync stopped.
#[derive(Debug)]
pub enum SyncError {
    /// The upstream could not be read.
    Upstream(UpstreamError),
    /// The store refused a batch (a failed disk, say).
    Store(String),
    /// The store's source position is not a follower's cursor.
    Cursor(String),
    /// A group of messages sharing one `modified` second kept changing
    /// while it was read; the next round tries again.
    Unsettled(String),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Upstream(error) => error.fmt(f),
            SyncError::Store(why) => write!(f, "the store refused a batch: {why}"),
            SyncError::Cursor(why) | SyncError::Unsettled(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for SyncError {}

impl From<UpstreamError> for SyncError {
    fn from(error: UpstreamError) -> SyncError {
        SyncError::Upstream(error)
    }
}

/// How far a sync has come, for a progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncProgress {
    /// Upstream messages read.
    pub seen: u64,
    /// Messages written (created or replaced) locally.
    pub applied: u64,
    /// Messages deleted locally by reconciliation.
    pub deleted: u64,
    /// Upstream messages still to read in this pull, as the last page
    /// counted them.
    pub remaining: Option<u64>,
    /// Time since the sync began.
    pub elapsed: Duration,
}

/// How a follower runs.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// How long behind the upstream's clock a second must be before the
    /// cursor moves past it (the upstream may still stamp changes with it).
    pub settle: Duration,
    /// Reconcile even when the first copy is done.
    pub reconcile: bool,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions { settle: Duration::from_secs(2), reconcile: false }
    }
}

/// Brings `engine` up to date with the upstream: pulls from the stored
/// cursor until caught up (the first copy also reads the messages whose
/// `modified` is null), and reconciles when asked. Returns the progress
/// made.
///
/// A delete upstream is seen only by a reconciliation: the API keeps no
/// record of deletes. A message deleted during the first copy stays in
/// the replica until the next one.
pub fn sync(
    engine: &dyn FollowTarget,
    upstream: &mut Upstream,
    options: &SyncOptions,
    progress: &mut dyn FnMut(&SyncProgress),
) -> Result<SyncProgress, SyncError> {
    sync_round(engine, upstream, options, &mut None, progress)
}

/// One round of [`sync`], its peek starting at `peek` (see the pull) and
/// leaving it where it ended.
fn sync_round(
    engine: &dyn FollowTarget,
    upstream: &mut Upstream,
    options: &SyncOptions,
    peek: &mut Option<crate::model::DateTime>,
    progress: &mut dyn FnMut(&SyncProgress),
) -> Result<SyncProgress, SyncError> {
    let stored = engine.cursor_position();
    let cursor = Cursor::from_position(stored.as_deref()).map_err(SyncError::Cursor)?;
    let sink = Sink {
        engine,
        progress,
        report: SyncProgress::default(),
        started: Instant::now(),
        position: stored.map(|_| cursor.clone()),
    };
    let mut pull = Pull { upstream, settle: options.settle, sink, peek: *peek };
    let cursor = if cursor.is_copied() {
        pull.run(cursor)?
    } else {
        // The first copy: the store grows from little to everything, so
        // compactions wait for the end instead of rebuilding a growing
        // base again and again.
        let _hold = engine.hold_compactions();
        let cursor = pull.run(cursor)?;
        let null_modified = pull.read_null_modified()?;
        let copied = cursor.copied();
        pull.sink.apply(null_modified, &copied)?;
        copied
    };
    if options.reconcile {
        pull.reconcile(&cursor)?;
    }
    *peek = pull.peek;
    Ok(pull.sink.report)
}

/// What a running follower reports, for `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct FollowerStatus {
    /// When the last pull that caught up finished (Unix seconds; 0 never).
    pub last_caught_up: AtomicI64,
    /// Pulls that failed since the follower started.
    pub failures: AtomicU64,
}

impl FollowerStatus {
    /// Seconds since the last pull that caught up (`None` before one).
    pub fn lag_seconds(&self) -> Option<i64> {
        let last = self.last_caught_up.load(Ordering::Acquire);
        (last > 0).then(|| unix_now() - last)
    }
}

fn unix_now() -> i64 {
    crate::sys::unix_now() as i64
}

/// How often a follower pulls and reconciles.
#[derive(Clone, Debug)]
pub struct FollowOptions {
    /// What each round does.
    pub sync: SyncOptions,
    /// The pause between pulls.
    pub interval: Duration,
    /// The time between reconciliations (`None`: only the first copy's).
    pub reconcile_every: Option<Duration>,
}

/// Follows the upstream until `stop` is set: a sync every interval, a
/// reconciliation every reconcile period, failures reported to `events`
/// and retried at the next round.
pub fn follow(
    engine: &dyn FollowTarget,
    upstream: &mut Upstream,
    options: &FollowOptions,
    status: &FollowerStatus,
    stop: &AtomicBool,
    events: &mut dyn FnMut(FollowEvent<'_>),
) {
    let mut last_reconciled = Instant::now();
    let mut first = true;
    let mut peek = None;
    while !stop.load(Ordering::Acquire) {
        let due = options.reconcile_every.is_some_and(|every| last_reconciled.elapsed() >= every);
        let round = SyncOptions { reconcile: due, ..options.sync.clone() };
        match sync_round(engine, upstream, &round, &mut peek, &mut |progress| events(FollowEvent::Progress(progress))) {
            Ok(report) => {
                status.last_caught_up.store(unix_now(), Ordering::Release);
                if due {
                    last_reconciled = Instant::now();
                }
                if first || report.applied + report.deleted > 0 {
                    events(FollowEvent::CaughtUp(&report));
                }
                first = false;
            }
            Err(error) => {
                status.failures.fetch_add(1, Ordering::Relaxed);
                events(FollowEvent::Failed(&error));
            }
        }
        let resume = Instant::now() + options.interval;
        while !stop.load(Ordering::Acquire) && Instant::now() < resume {
            std::thread::sleep(Duration::from_millis(20).min(options.interval));
        }
    }
}

/// What a follower tells its caller.
#[derive(Debug)]
pub enum FollowEvent<'a> {
    /// A page was applied.
    Progress(&'a SyncProgress),
    /// A round caught up (said after the first, and after any that changed
    /// something).
    CaughtUp(&'a SyncProgress),
    /// A round failed; the next one retries.
    Failed(&'a SyncError),
}
