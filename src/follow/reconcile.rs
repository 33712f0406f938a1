//! Reconciliation: what an incremental pull cannot see. The upstream has no
//! record of deletes, and a message whose `modified` is null never matches
//! `filters-modified_after`. So the follower lists every upstream `_id`
//! with its `modified`, and then:
//!
//! - fetches the messages it lacks (`filters-ids`, in batches);
//! - deletes the local messages the upstream no longer has, each first
//!   confirmed absent by a `filters-ids` lookup: the listing pages by page
//!   number, so a delete or insert upstream during it can shift a page and
//!   hide an `_id` that still exists;
//! - fetches the messages whose `modified` is null and applies those that
//!   differ.

use std::collections::{BTreeMap, BTreeSet};

use super::cursor::Cursor;
use super::pull::{Pull, PER_PAGE};
use super::SyncError;
use crate::model::{Field, Message};
use crate::write::Write;

/// `_id`s per `filters-ids` request: short enough for any server's limit
/// on a request target.
const IDS_PER_LOOKUP: usize = 50;

/// Writes per applied batch while reconciling.
const WRITES_PER_BATCH: usize = 1000;

impl Pull<'_> {
    /// Reconciles the store with the upstream, keeping `cursor`.
    pub(crate) fn reconcile(&mut self, cursor: &Cursor) -> Result<(), SyncError> {
        let upstream = self.upstream_ids()?;
        let local = self.sink.engine.live_ids();
        let lacking: Vec<String> = upstream.keys().filter(|id| !local.contains(*id)).cloned().collect();
        let null_modified: Vec<String> = upstream
            .iter()
            .filter(|(id, modified_null)| **modified_null && local.contains(*id))
            .map(|(id, _)| id.clone())
            .collect();
        for ids in lacking.chunks(WRITES_PER_BATCH).chain(null_modified.chunks(WRITES_PER_BATCH)) {
            let messages = self.fetch(ids, true)?;
            self.sink.apply(messages, cursor)?;
        }
        let extra: Vec<String> = local.iter().filter(|id| !upstream.contains_key(*id)).cloned().collect();
        for ids in extra.chunks(WRITES_PER_BATCH) {
            let still_there: BTreeSet<String> = self.fetch(ids, false)?.into_iter().map(|message| message.id).collect();
            let deletes: Vec<Write> =
                ids.iter().filter(|id| !still_there.contains(*id)).map(|id| Write::Delete(id.clone())).collect();
            if !deletes.is_empty() {
                self.sink.report.deleted += deletes.len() as u64;
                self.sink.engine.apply_at(deletes, &cursor.to_position()).map_err(SyncError::Store)?;
            }
        }
        Ok(())
    }

    /// Every upstream `_id`, and whether its `modified` is null.
    fn upstream_ids(&mut self) -> Result<BTreeMap<String, bool>, SyncError> {
        let mut ids = BTreeMap::new();
        // The page count the first page gave bounds the listing (plus some
        // room for growth), whatever later pages claim.
        let mut most_pages = u64::MAX;
        for page_number in 1u64.. {
            let page = self.upstream.list(&[
                ("attributes".to_owned(), "modified".to_owned()),
                ("per_page".to_owned(), PER_PAGE.to_string()),
                ("page".to_owned(), page_number.to_string()),
            ])?;
            if page_number == 1 {
                most_pages = page.page_count.saturating_add(page.page_count / 10 + 10);
            }
            let last = !page.is_full() || page_number >= page.page_count || page_number >= most_pages;
            ids.extend(page.items.into_iter().map(|message| (message.id, message.modified.is_none())));
            if last {
                break;
            }
        }
        Ok(ids)
    }

    /// The upstream messages with these `_id`s (every field, or only the
    /// `_id` when `whole` is false).
    fn fetch(&mut self, ids: &[String], whole: bool) -> Result<Vec<Message>, SyncError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_LOOKUP) {
            let mut parameters: Vec<(String, String)> =
                chunk.iter().map(|id| ("filters-ids".to_owned(), id.clone())).collect();
            if whole {
                parameters.extend(Field::ALL.iter().map(|field| ("attributes".to_owned(), field.name().to_owned())));
            }
            parameters.push(("per_page".to_owned(), PER_PAGE.to_string()));
            let items = self.upstream.list(&parameters)?.items;
            // An upstream that ignored the filter would make absent
            // messages look present and unrelated ones look found.
            if let Some(stranger) = items.iter().find(|message| !chunk.contains(&message.id)) {
                return Err(SyncError::Unsettled(format!(
                    "the upstream answered a filters-ids lookup with {:?}, which was not asked for; \
                     reconciliation stopped there",
                    stranger.id
                )));
            }
            found.extend(items);
        }
        Ok(found)
    }
}
