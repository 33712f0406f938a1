//! The incremental pull: every upstream message modified at or after the
//! cursor, in `modified` order, applied page by page, each page in one
//! batch with the cursor it reaches.
//!
//! `filters-modified_after` is strict and dates have whole seconds, so the
//! pull reads from the cursor's second *inclusive* (after the second
//! before), and re-reading a message it holds is harmless: a message is
//! written only when the upstream's version differs from the local one.
//!
//! Paging by page number is unsafe while the upstream changes (a changed
//! message leaves its place, and the next page skips one), so the pull
//! reads page 1 only, each time from a new cursor. One page is one
//! consistent answer. Every message modified before the page's last
//! `modified` second is in it, so the cursor can move to that second.
//!
//! A page whose 100 messages share one second is a *tie group* that needs
//! more pages. It is read on its own (`modified_after` and
//! `modified_before` around the second), from its last page to its first
//! (see [`Pull::read_tie_group`]): the group can lose members (a member
//! modified again moves to a later second) but gain none once the second
//! is past. A second is trusted as past only `settle` behind the
//! upstream's clock (its `Date` header), so the cursor never moves into a
//! second that may still gain messages.

use std::time::{Duration, Instant};

use super::cursor::Cursor;
use super::upstream::{Upstream, UpstreamPage};
use super::FollowTarget;
use super::{SyncError, SyncProgress};
use crate::model::{DateTime, Field, Message};
use crate::write::Write;

/// Items per upstream page: the API's largest.
pub(crate) const PER_PAGE: usize = 100;

/// Pages of one group (a tie, the null-modified messages) read at most:
/// ten million messages, against an upstream that never ends its pages.
const MAX_GROUP_PAGES: u64 = 100_000;

/// Pages one peek reads at most (the rest waits for the next round).
const MAX_PEEK_PAGES: usize = 50;

/// Passes over the null-modified group before the pull gives up for this round (the
/// group kept changing under it).
const MAX_NULL_PASSES: usize = 8;

/// The parameters every pull request shares: all fields, in `modified`
/// order, 100 a page.
fn list_parameters(extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut parameters: Vec<(String, String)> =
        Field::ALL.iter().map(|field| ("attributes".to_owned(), field.name().to_owned())).collect();
    parameters.push(("per_page".into(), PER_PAGE.to_string()));
    parameters.push(("sort_by".into(), "modified".into()));
    parameters.extend(extra.iter().map(|(name, value)| ((*name).to_owned(), value.clone())));
    parameters
}

/// The date/time `seconds` from `time`, kept within the years 0000–9999.
fn shifted(time: DateTime, seconds: i64) -> DateTime {
    DateTime::from_seconds(time.seconds() + seconds).unwrap_or(time)
}

/// The latest second the pull may treat as past: the upstream's clock (or
/// ours, if earlier or unknown) less `settle`.
fn settled_before(page: &UpstreamPage, settle: Duration) -> Option<DateTime> {
    let local = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    let now = page.upstream_now.map_or(local, |upstream| upstream.min(local));
    let epoch = DateTime::from_parts(1970, 1, 1, 0, 0, 0)?;
    let settle = settle.as_secs_f64().ceil().max(1.0) as i64;
    DateTime::from_seconds(epoch.seconds() + now - settle)
}

/// The first page of what changed from `cursor` on.
fn changes_from(upstream: &mut Upstream, cursor: &Cursor) -> Result<UpstreamPage, SyncError> {
    let after = match cursor.from() {
        Some(from) => shifted(from, -1),
        // Year 1: some backends' date types start there.
        None => DateTime::from_parts(1, 1, 1, 0, 0, 0).expect("0001-01-01 00:00:00"),
    };
    let parameters = list_parameters(&[("filters-modified_after", after.to_string()), ("page", "1".into())]);
    Ok(upstream.list(&parameters)?)
}

/// The state a pull works on: the upstream it reads, and where it applies
/// what it read.
pub(crate) struct Pull<'a> {
    pub(crate) upstream: &'a mut Upstream,
    pub(crate) settle: Duration,
    pub(crate) sink: Sink<'a>,
    /// The last `modified` second a peek (or a pull to the end) applied:
    /// the next peek starts there. Kept in memory only.
    pub(crate) peek: Option<DateTime>,
}

/// Where pages are applied, and the progress reported as they are.
pub(crate) struct Sink<'a> {
    pub(crate) engine: &'a dyn FollowTarget,
    pub(crate) progress: &'a mut dyn FnMut(&SyncProgress),
    pub(crate) report: SyncProgress,
    pub(crate) started: Instant,
    /// The cursor the store holds (the sink is its only writer).
    pub(crate) position: Option<Cursor>,
}

impl Pull<'_> {
    /// Pulls until caught up, applying each page with its cursor. The next
    /// page is fetched while this one is applied (its cursor is known once
    /// this page is read).
    pub(crate) fn run(&mut self, mut cursor: Cursor) -> Result<Cursor, SyncError> {
        let mut prefetched: Option<UpstreamPage> = None;
        loop {
            let page = match prefetched.take() {
                Some(page) => page,
                None => changes_from(self.upstream, &cursor)?,
            };
            let from = cursor.from();
            self.sink.report.remaining = Some(page.item_count.saturating_sub(page.items.len() as u64));
            let settled = settled_before(&page, self.settle);
            if page.items.iter().any(|message| message.modified.is_none()) {
                return Err(SyncError::Unsettled(
                    "the upstream answered a page of changes holding a message without `modified`; \
                     the next round reads it again"
                        .into(),
                ));
            }
            let (Some(first), Some(last)) =
                (page.items.first().and_then(|m| m.modified), page.items.last().and_then(|m| m.modified))
            else {
                self.sink.report.remaining = Some(0);
                return Ok(cursor);
            };
            let full = page.is_full();
            if full && first == last && settled.is_some_and(|settled| last < settled) {
                // A tie group larger than a page, in a second that is past.
                self.read_tie_group(last, &cursor)?;
                let next = cursor.at(shifted(last, 1));
                self.sink.apply(Vec::new(), &next)?;
                cursor = next;
                continue;
            }
            // Every message modified before `last` is in this page.
            let mut to = settled.map_or(last, |settled| last.min(settled));
            if let Some(from) = from {
                to = to.max(from);
            }
            let next = cursor.at(to);
            if !full {
                // A short page is the end: everything is applied.
                self.peek = Some(last);
                self.sink.apply(page.items, &next)?;
                return Ok(next);
            }
            if next == cursor {
                // A full page that cannot move the cursor: the upstream's
                // last seconds, still settling. What they hold is shown
                // now by a peek; the cursor passes them once they settle.
                self.sink.apply(page.items, &next)?;
                self.peek(&next, last)?;
                return Ok(next);
            }
            let (upstream, sink) = (&mut *self.upstream, &mut self.sink);
            let following = std::thread::scope(|scope| {
                let fetch = scope.spawn(|| changes_from(upstream, &next));
                sink.apply(page.items, &next)?;
                fetch.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })?;
            prefetched = Some(following);
            cursor = next;
        }
    }

    /// Applies the messages modified in the seconds still settling, so that
    /// they are visible within a round, not once the cursor passes them:
    /// from where the last peek ended (or `reached`, the last second read),
    /// page by page, with the cursor unchanged. Paging here may skip a
    /// message (see the module docs); the cursor's pass reads it later.
    fn peek(&mut self, cursor: &Cursor, reached: DateTime) -> Result<(), SyncError> {
        let start = self.peek.map_or(reached, |peek| peek.max(reached));
        for page_number in 1..=MAX_PEEK_PAGES {
            let parameters = list_parameters(&[
                ("filters-modified_after", shifted(start, -1).to_string()),
                ("page", page_number.to_string()),
            ]);
            let page = self.upstream.list(&parameters)?;
            let short = !page.is_full();
            if let Some(last) = page.items.last().and_then(|message| message.modified) {
                self.peek = Some(last);
            }
            self.sink.apply(page.items, cursor)?;
            if short {
                break;
            }
        }
        Ok(())
    }

    /// Applies every message of the tie group at `second`, the cursor left
    /// where it is, page by page from the last page to the first.
    ///
    /// The group of a past second only shrinks, so a message's place in it
    /// only moves towards the front; read from the back, no message can move
    /// from a page not yet read to one already read. A removal can only make
    /// a message be read twice, never skipped, and one pass sees the group
    /// whole, whatever its size, holding one page at a time.
    fn read_tie_group(&mut self, second: DateTime, cursor: &Cursor) -> Result<(), SyncError> {
        let window = [
            ("filters-modified_after", shifted(second, -1).to_string()),
            ("filters-modified_before", shifted(second, 1).to_string()),
        ];
        let page_of = |number: u64| {
            let mut parameters = window.to_vec();
            parameters.push(("page", number.to_string()));
            list_parameters(&parameters)
        };
        let first = self.upstream.list(&page_of(1))?;
        let pages = first.page_count.min(MAX_GROUP_PAGES);
        self.sink.apply(first.items, cursor)?;
        for number in (1..=pages).rev() {
            let page = self.upstream.list(&page_of(number))?;
            self.sink.apply(page.items, cursor)?;
        }
        Ok(())
    }

    /// Every message whose `modified` is null: they come first in
    /// `modified` order, and no pull from a cursor ever reads them.
    pub(crate) fn read_null_modified(&mut self) -> Result<Vec<Message>, SyncError> {
        self.read_group(|message| message.modified.is_none(), "whose `modified` is null")
    }

    /// The group of messages that the list in `modified` order starts with (those
    /// `in_group` accepts), read page by page in passes until two passes
    /// see the same `_id`s. Unlike a past second's tie group, this group
    /// may also grow while it is read (a new message without `modified`),
    /// which can move a message onto a page already read; two equal passes
    /// mean it held still between them.
    fn read_group(&mut self, in_group: impl Fn(&Message) -> bool, what: &str) -> Result<Vec<Message>, SyncError> {
        let mut previous: Option<Vec<Message>> = None;
        for _ in 0..MAX_NULL_PASSES {
            let mut pass = Vec::new();
            for page_number in 1..=MAX_GROUP_PAGES {
                let page = self.upstream.list(&list_parameters(&[("page", page_number.to_string())]))?;
                let complete = page.is_full() && page.items.iter().all(&in_group) && page_number < page.page_count;
                pass.extend(page.items.into_iter().filter(&in_group));
                if !complete {
                    break;
                }
            }
            let same = previous.as_ref().is_some_and(|earlier| sorted_ids(earlier) == sorted_ids(&pass));
            if same {
                return Ok(pass);
            }
            previous = Some(pass);
        }
        Err(SyncError::Unsettled(format!(
            "the {} messages {what} kept changing over {MAX_NULL_PASSES} passes; the next round reads them again",
            previous.map_or(0, |pass| pass.len())
        )))
    }
}

/// The distinct `_id`s of `messages`, sorted: a group as a set.
fn sorted_ids(messages: &[Message]) -> Vec<&str> {
    let mut ids: Vec<&str> = messages.iter().map(|message| message.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl Sink<'_> {
    /// Applies the messages that differ from the local ones, with `cursor`,
    /// in one batch; nothing when nothing differs and the cursor is where
    /// the store already is.
    pub(crate) fn apply(&mut self, messages: Vec<Message>, cursor: &Cursor) -> Result<(), SyncError> {
        let writes = changed(self.engine, messages);
        self.report.seen += writes.seen;
        // The sink is the store's only writer: the position it applied last
        // is the store's.
        let moved = self.position.as_ref() != Some(cursor);
        if !writes.upserts.is_empty() || moved {
            self.report.applied += writes.upserts.len() as u64;
            let position = cursor.to_position();
            self.engine.apply_at(writes.upserts, &position).map_err(SyncError::Store)?;
            self.position = Some(cursor.clone());
        }
        self.report.elapsed = self.started.elapsed();
        (self.progress)(&self.report);
        Ok(())
    }
}

/// The upserts of the messages that differ from the store's, and how many
/// were looked at.
pub(crate) struct Changed {
    pub(crate) upserts: Vec<Write>,
    pub(crate) seen: u64,
}

/// The messages of `messages` that are absent from `engine` or differ
/// from its copy, as upserts (a message listed twice is upserted twice,
/// the later version last).
pub(crate) fn changed(engine: &dyn FollowTarget, messages: Vec<Message>) -> Changed {
    let seen = messages.len() as u64;
    let mut local = Vec::new();
    let mut upserts: Vec<Write> = Vec::new();
    for message in messages {
        local.clear();
        let same = engine.retrieve_into(&message.id, &mut local) && local == message.to_json().as_bytes();
        if !same {
            upserts.push(Write::Upsert(message));
        }
    }
    Changed { upserts, seen }
}
