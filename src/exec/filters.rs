//! The filter steps of a plan evaluated into one bitmap of matches, less
//! the segment's dead rows: borrowed from an index when one step answers,
//! built cheapest first otherwise. A union of value bitmaps that meets a
//! dense running result is intersected word by word in a bitset
//! ([`DenseRows`]), which later value steps and the text step read as it
//! is; only the (smaller) result becomes a bitmap again.

use std::borrow::Cow;

use roaring::{MultiOps, RoaringBitmap};

use super::{ExecStats, Job};
use crate::column::Column;
use crate::index::dense::DenseRows;
use crate::index::row_tags::TagFilter;
use crate::index::text::TextMatch;
use crate::model::Field;
use crate::plan::{Plan, RangeUse, StepKind};
use crate::store::dead_rows::DeadRows;
use crate::store::Segment;

/// The rows matching the filter steps: `None` means every row; a single
/// step's bitmap is borrowed from the index, not copied.
pub(super) type Matches<'a> = Option<Cow<'a, RoaringBitmap>>;

/// The result of the steps evaluated so far.
enum Running<'a> {
    /// As a bitmap (`None`: every row).
    Bitmap(Matches<'a>),
    /// As a bitset: taken when a union of value bitmaps meets a running
    /// result and both are dense, kept through value steps and handed to
    /// the text step, turned into a bitmap before any other step.
    Dense(DenseRows),
}

impl<'a> Running<'a> {
    /// How many rows it holds (`u64::MAX` for every row, which no step
    /// leaves).
    fn len(&self) -> u64 {
        match self {
            Running::Bitmap(matches) => matches.as_ref().map_or(u64::MAX, |matches| matches.len()),
            Running::Dense(dense) => dense.len(),
        }
    }

    /// The result as a bitmap.
    fn into_matches(self) -> Matches<'a> {
        match self {
            Running::Bitmap(matches) => matches,
            Running::Dense(dense) => Some(Cow::Owned(dense.to_bitmap())),
        }
    }
}

/// Whether this many of a segment's `row_count` rows are dense: more than
/// roaring keeps as a sorted array in a chunk of 65,536 rows (4,096), on
/// average, so that its containers are bitmaps already.
fn is_dense(rows: u64, row_count: u32) -> bool {
    rows * 16 > u64::from(row_count)
}

/// Evaluates every step but the domain, less the dead rows; `None` when the
/// result is empty, `Some(None)` when every row matches.
pub(super) fn evaluate<'a>(
    job: &Job<'a>,
    mut text: Option<TextMatch<'_>>,
    stats: &mut ExecStats,
) -> Option<Matches<'a>> {
    let (segment, dead, plan) = (job.segment, job.dead, job.plan);
    let mut running = Running::Bitmap(None);
    let tagged = text.as_mut().filter(|found| found.is_tagged()).and_then(|found| {
        let (filter, entry_limit) = tag_filter(segment, plan)?;
        let rows = found.rows_tagged(&filter, entry_limit)?;
        stats.text = Some(found.stats());
        Some(rows)
    });
    let steps = match tagged {
        Some(rows) => {
            running = Running::Bitmap(Some(Cow::Owned(rows)));
            stats.after_step.push(running.len());
            if running.len() == 0 {
                return None;
            }
            &[][..]
        }
        None => &plan.steps[..],
    };
    for step in steps {
        running = match &step.kind {
            StepKind::Range { how: RangeUse::Domain, .. } => continue,
            StepKind::Values { field, codes } => values_step(segment, *field, codes, running),
            StepKind::Text { .. } => {
                let mut found = text.take().expect("the text step was searched before evaluation");
                let narrowed = match running {
                    Running::Bitmap(None) => found.rows(),
                    Running::Bitmap(Some(candidates)) => found.rows_among(&candidates),
                    Running::Dense(candidates) => found.rows_among_dense(&candidates),
                };
                stats.text = Some(found.stats());
                Running::Bitmap(Some(Cow::Owned(narrowed)))
            }
            other => Running::Bitmap(Some(other_step(segment, other, running.into_matches(), stats))),
        };
        let rows = running.len();
        stats.after_step.push(rows);
        if rows == 0 {
            return None;
        }
    }
    let mut matches = running.into_matches();
    // Without filters, dead rows are skipped by the page strategy instead.
    if let Some(dead) = dead {
        if let Some(found) = matches.take() {
            stats.rows_copied_for_dead = found.len();
            let alive = if found.len() < dead.len() {
                // Few matches: test each rather than subtract every dead row.
                RoaringBitmap::from_sorted_iter(found.iter().filter(|&row| !dead.contains(row)))
                    .expect("rows stay sorted")
            } else {
                let mut alive = found.into_owned();
                dead.remove_from(&mut alive);
                alive
            };
            if alive.is_empty() {
                return None;
            }
            matches = Some(Cow::Owned(alive));
        }
    }
    Some(matches)
}

/// Row entries of the text index read per row of the plan's smallest other
/// step, at most, for the text step to test the other filters on its
/// entries' tags: past it, the bitmaps of the other steps cost less.
const TAGGED_ENTRIES_PER_ROW: u64 = 4;

/// When the plan's steps are a text step and filters on `location` and the
/// facet dimensions only (its date range covering the whole order aside):
/// what those filters accept of a row's tag (see
/// [`crate::index::row_tags`]), and how many text index entries are worth
/// testing rather than evaluating the other steps.
fn tag_filter(segment: &Segment, plan: &Plan) -> Option<(TagFilter, u64)> {
    let steps = plan.location_and_closed_sets().filter(|steps| steps.has_text)?;
    let location_codes = segment.dict(Field::Location).dict.len() + 1;
    let filter = TagFilter::new(&steps.selection, steps.locations.as_deref(), location_codes);
    Some((filter, steps.smallest_estimate?.saturating_mul(TAGGED_ENTRIES_PER_ROW)))
}

/// The running result narrowed by a step of value bitmaps: one of
/// `codes` of `field`.
fn values_step<'a>(segment: &'a Segment, field: Field, codes: &[u32], running: Running<'a>) -> Running<'a> {
    let row_count = segment.row_count();
    let index = segment.value_index(field);
    let bitmaps = || codes.iter().map(|&code| index.rows(code));
    let union_size: u64 = bitmaps().map(RoaringBitmap::len).sum();
    let matches = match running {
        Running::Dense(mut dense) => {
            dense.intersect(&DenseRows::union_of(bitmaps(), row_count));
            return Running::Dense(dense);
        }
        Running::Bitmap(matches) => matches,
    };
    Running::Bitmap(Some(match (codes, matches) {
        ([code], matches) => intersect_with(matches, index.rows(*code)),
        // A running result much smaller than the values' union: union each
        // value's share of it instead of the values' bitmaps.
        (_, Some(current)) if current.len() * 16 < union_size => {
            Cow::Owned(bitmaps().map(|rows| current.as_ref() & rows).union())
        }
        // Both dense: word by word from here.
        (_, Some(current)) if is_dense(current.len(), row_count) && is_dense(union_size, row_count) => {
            let mut dense = DenseRows::of(&current, row_count);
            dense.intersect(&DenseRows::union_of(bitmaps(), row_count));
            return Running::Dense(dense);
        }
        // A few bitmaps merge cheaply pair by pair; many at once.
        ([first, rest @ ..], matches) if rest.len() < 4 => {
            let union = rest.iter().fold(index.rows(*first).clone(), |mut union, &code| {
                union |= index.rows(code);
                union
            });
            intersect_owned(matches, union)
        }
        (_, matches) => intersect_owned(matches, bitmaps().union()),
    }))
}

/// The running result narrowed by a step other than values, text and the
/// domain.
fn other_step<'a>(
    segment: &'a Segment,
    kind: &StepKind,
    matches: Matches<'a>,
    stats: &mut ExecStats,
) -> Cow<'a, RoaringBitmap> {
    match kind {
        StepKind::Ids { rows } => {
            let bitmap = RoaringBitmap::from_sorted_iter(rows.iter().copied()).expect("rows are sorted");
            intersect_owned(matches, bitmap)
        }
        StepKind::Present { field, present: true } => intersect_with(matches, segment.present(*field)),
        StepKind::Present { field, present: false } => {
            let mut remaining = matches.map_or_else(
                || {
                    let mut all = RoaringBitmap::new();
                    all.insert_range(0..segment.row_count());
                    all
                },
                Cow::into_owned,
            );
            remaining -= segment.present(*field);
            Cow::Owned(remaining)
        }
        StepKind::Range { key, positions, how: RangeUse::Bitmap, .. } => {
            let range = segment.order(*key).range_bitmap(positions.clone());
            intersect_owned(matches, range)
        }
        StepKind::Range { key, from, to, how: RangeUse::Check, .. } => {
            let values = segment.dates(key.field());
            let candidates = matches.expect("a checked range follows a bitmap step");
            stats.rows_examined += candidates.len();
            Cow::Owned(
                RoaringBitmap::from_sorted_iter(
                    candidates.iter().filter(|&row| (*from..=*to).contains(&values.get(row as usize))),
                )
                .expect("rows stay sorted"),
            )
        }
        StepKind::Values { .. } | StepKind::Text { .. } | StepKind::Range { how: RangeUse::Domain, .. } => {
            unreachable!("evaluated by their own steps")
        }
    }
}

/// The matches of a plan whose only step is one value of a value-indexed
/// field, on a segment with dead rows: the value's own rows (dead ones
/// among them, never copied to subtract them) and how many are alive,
/// counted from the dead rows' tally per value. `None` for other plans.
pub(super) fn one_value_live<'a>(
    segment: &'a Segment,
    dead: &DeadRows,
    plan: &Plan,
) -> Option<(&'a RoaringBitmap, u64)> {
    let [step] = plan.steps.as_slice() else {
        return None;
    };
    let StepKind::Values { field, codes } = &step.kind else {
        return None;
    };
    let ([code], Some(slot)) = (codes.as_slice(), crate::store::BITMAP_FIELDS.iter().position(|known| known == field))
    else {
        return None;
    };
    let code_of = |row: u32| match segment.column(*field) {
        Column::Dict(column) => column.codes.get(row as usize),
        Column::Enum(column) => u32::from(column.codes[row as usize]),
        Column::Date(_) => unreachable!("no value index on a date field"),
    };
    let tally = dead.frozen_value_tally(slot, |rows| {
        let mut tally = Vec::new();
        for row in rows {
            let code = code_of(row) as usize;
            if tally.len() <= code {
                tally.resize(code + 1, 0);
            }
            tally[code] += 1;
        }
        tally
    });
    let frozen_dead = u64::from(tally.get(*code as usize).copied().unwrap_or(0));
    let recent_dead = dead.recent_rows().filter(|&row| code_of(row) == *code).count() as u64;
    let rows = segment.value_index(*field).rows(*code);
    Some((rows, rows.len() - frozen_dead - recent_dead))
}

/// The running result narrowed by an index's bitmap (borrowed when it is
/// the first step).
fn intersect_with<'a>(matches: Matches<'a>, bitmap: &'a RoaringBitmap) -> Cow<'a, RoaringBitmap> {
    match matches {
        None => Cow::Borrowed(bitmap),
        Some(Cow::Borrowed(current)) => Cow::Owned(current & bitmap),
        Some(Cow::Owned(mut current)) => {
            current &= bitmap;
            Cow::Owned(current)
        }
    }
}

/// The running result narrowed by a bitmap built for this step.
fn intersect_owned<'a>(matches: Matches<'a>, mut bitmap: RoaringBitmap) -> Cow<'a, RoaringBitmap> {
    match matches {
        None => Cow::Owned(bitmap),
        Some(current) => {
            bitmap &= current.as_ref();
            Cow::Owned(bitmap)
        }
    }
}
