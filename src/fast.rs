//! The fast engine: the columnar, indexed [`Segment`] behind the [`Engine`]
//! trait. A request is planned ([`crate::plan`]), executed
//! ([`crate::exec`]) and its items written straight from the columns.

use std::path::Path;
use std::sync::Arc;

use crate::engine::Engine;
use crate::exec::{execute, PageWindow};
use crate::explain::Explanation;
use crate::load::{self, LoadError, LoadProgress};
use crate::model::{Field, Message};
use crate::output::PageFrame;
use crate::plan::plan;
use crate::request::{ListQuery, QueryLimits};
use crate::store::{BuildError, ContentStorage, Segment};

/// The indexed engine. Cheap to clone (the segment is shared) and
/// `Send + Sync`: any number of threads may query one engine at once.
#[derive(Clone, Debug)]
pub struct FastEngine {
    segment: Arc<Segment>,
    limits: QueryLimits,
}

impl FastEngine {
    /// Builds an engine over these messages, with `content` packed (see
    /// [`FastEngine::new_with`]); fails on an empty or repeated `_id`.
    pub fn new(messages: &[Message]) -> Result<FastEngine, BuildError> {
        FastEngine::new_with(messages, ContentStorage::default())
    }

    /// [`FastEngine::new`], keeping `content` as `storage` says (plain
    /// for the fastest full items where memory allows).
    pub fn new_with(messages: &[Message], storage: ContentStorage) -> Result<FastEngine, BuildError> {
        Ok(FastEngine::from_segment(Segment::from_messages_with(messages, storage)?))
    }

    /// Wraps an already built segment.
    #[doc(hidden)]
    pub fn from_segment(segment: Segment) -> FastEngine {
        FastEngine { segment: Arc::new(segment), limits: QueryLimits::default() }
    }

    /// Loads a JSON array or JSON Lines file straight into columns: no
    /// message of the file is ever held whole.
    pub fn load_path(path: impl AsRef<Path>) -> Result<FastEngine, LoadError> {
        Ok(FastEngine::from_segment(load::load_segment_from_path(path)?))
    }

    /// [`FastEngine::load_path`], storing `content` as `storage` says and
    /// calling `progress` as the file is read (to show progress on a large
    /// file).
    pub fn load_path_with(
        path: impl AsRef<Path>,
        storage: ContentStorage,
        progress: impl FnMut(LoadProgress) + Send,
    ) -> Result<FastEngine, LoadError> {
        Ok(FastEngine::from_segment(load::load_segment_from_path_with(path, storage, progress)?))
    }

    /// Opens a data directory (made by [`import`](crate::import)) read
    /// only: its base is read from the segment file, not built, and the
    /// writes its log holds are folded in. No data file changes (only the
    /// lock file takes this process's pid): a torn record at the end of the
    /// log (a write never acknowledged) is left out, not cut. The directory's lock is held while it is read, so not
    /// while another process owns it.
    pub fn open(directory: impl AsRef<Path>) -> Result<FastEngine, crate::StoreError> {
        FastEngine::open_reporting(directory).map(|(engine, _)| engine)
    }

    /// [`FastEngine::open`], also saying what it found: how many log
    /// records it applied, and a torn record it left out.
    pub fn open_reporting(directory: impl AsRef<Path>) -> Result<(FastEngine, crate::Recovery), crate::StoreError> {
        let (segment, recovery) = crate::live::LiveEngine::read_directory(directory.as_ref())?;
        Ok((FastEngine { segment, limits: QueryLimits::default() }, recovery))
    }

    /// The same engine with other validation limits.
    pub fn with_limits(mut self, limits: QueryLimits) -> FastEngine {
        self.limits = limits;
        self
    }

    /// The segment answering queries.
    #[doc(hidden)]
    pub fn segment(&self) -> &Segment {
        &self.segment
    }

    /// The segment, shared (for a [`crate::LiveEngine`] built over it).
    #[doc(hidden)]
    pub fn shared_segment(&self) -> Arc<Segment> {
        Arc::clone(&self.segment)
    }

    /// Plans and executes a query, and tells how: the plan's steps with
    /// their estimates, and the work actually done (`msgdex explain`).
    pub fn explain(&self, query: &ListQuery) -> Explanation {
        let plan = plan(&self.segment, query);
        let execution = execute(&self.segment, None, &plan, &PageWindow::of(&plan));
        Explanation { plan, execution }
    }
}

impl Engine for FastEngine {
    fn message_count(&self) -> u64 {
        u64::from(self.segment.row_count())
    }

    fn limits(&self) -> QueryLimits {
        self.limits
    }

    fn list_into(&self, query: &ListQuery, out: &mut Vec<u8>) {
        let plan = plan(&self.segment, query);
        let execution = execute(&self.segment, None, &plan, &PageWindow::of(&plan));
        let frame = PageFrame { item_count: execution.item_count, page: query.page, per_page: query.per_page };
        frame.write_body(out, |out| self.segment.write_items(&execution.rows, &query.attributes, out));
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        match self.segment.row_of_id_to_write(id) {
            Some(row) => {
                self.segment.write_row(row, &Field::ALL, out);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SegmentBuilder;

    #[test]
    fn engines_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<FastEngine>();
        assert_send_sync::<Segment>();
        assert_send_sync::<crate::ReferenceEngine>();
    }

    #[test]
    fn content_is_kept_as_asked_with_the_same_answers() {
        let messages: Vec<Message> = (0..40)
            .map(|index| {
                let mut message = Message::with_id(format!("m{index}"));
                message.content = (index % 3 != 0).then(|| format!("Dear Zoë, visit {index} is booked."));
                message
            })
            .collect();
        let target = "/v1/messages?per_page=100&attributes=content";
        let packed = FastEngine::new(&messages).unwrap();
        assert_eq!(packed.segment().content_storage(), ContentStorage::Packed);
        for storage in ContentStorage::ALL {
            let engine = FastEngine::new_with(&messages, storage).unwrap();
            assert_eq!(engine.segment().content_storage(), storage);
            let packed_column = engine.segment().dict(Field::Content).codec().is_some();
            assert_eq!(packed_column, storage == ContentStorage::Packed, "{storage:?}");
            assert_eq!(engine.respond(target), packed.respond(target));
            assert_eq!(engine.respond("/v1/messages/m5"), packed.respond("/v1/messages/m5"));
        }
        assert!(packed.respond(target).body.contains("Dear Zoë, visit 5 is booked."));
    }

    #[test]
    fn rejects_duplicate_and_empty_ids() {
        let twice = [Message::with_id("a"), Message::with_id("a")];
        assert_eq!(FastEngine::new(&twice).unwrap_err(), BuildError::DuplicateId("a".into()));
        assert_eq!(FastEngine::new(&[Message::with_id("")]).unwrap_err(), BuildError::EmptyId);
        let mut builder = SegmentBuilder::new();
        builder.push_batch(&[Message::with_id("a")]).unwrap();
        assert!(builder.push_batch(&[Message::with_id("b"), Message::with_id("a")]).is_err());
        assert_eq!(builder.len(), 1, "a rejected batch changes nothing");
        let engine = FastEngine::from_segment(builder.finish());
        assert_eq!(
            engine.respond("/v1/messages").body,
            r#"{"item_count":1,"items":[{"_id":"a"}],"page":1,"page_count":1,"per_page":10}"#
        );
    }
}
