//! [`Explanation`]: how the fast engine planned and carried out one list
//! query, with the planner's estimates beside the work actually done
//! (`msgdex explain`).

use std::fmt;

use crate::exec::Execution;
use crate::plan::Plan;

/// A query's plan and its execution, printable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub(crate) plan: Plan,
    pub(crate) execution: Execution,
}

impl Explanation {
    /// Matching messages over all pages.
    pub fn item_count(&self) -> u64 {
        self.execution.item_count
    }

    /// Messages on the requested page.
    pub fn page_len(&self) -> usize {
        self.execution.rows.len()
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = &self.execution.stats;
        writeln!(f, "{}", self.plan)?;
        writeln!(f, "execution")?;
        let after: Vec<String> = stats.after_step.iter().map(u64::to_string).collect();
        let after = if after.is_empty() { "-".to_owned() } else { after.join(", ") };
        writeln!(f, "  rows left after each evaluated step: {after}")?;
        if let Some(text) = stats.text.filter(|text| text.counted_from_run) {
            let tested = match text.values_gathered {
                false => "rows tested by searching their own text",
                true => "rows tested against the matched values gathered from the occurrences",
            };
            writeln!(
                f,
                "  text search: suffix array, {} occurrences, their rows counted from prefix sums over the \
sorted suffixes, {tested}",
                text.occurrences
            )?;
        } else if let Some(text) = stats.text {
            let tags = if text.tested_on_tags { ", the other filters tested on each entry's tag" } else { "" };
            writeln!(
                f,
                "  text search: suffix array, {} occurrences in {} distinct values, {} row entries read{tags}",
                text.occurrences, text.values_matched, text.rows_read
            )?;
        }
        match stats.strategy {
            Some(strategy) => writeln!(f, "  page strategy used: {strategy}")?,
            None => writeln!(f, "  page strategy used: none (nothing matched)")?,
        }
        if stats.strategy.is_some_and(|strategy| strategy.counts_without_bitmap()) {
            writeln!(f, "  item_count counted without building a bitmap of the matches")?;
        }
        writeln!(f, "  rows examined one by one: {}", stats.rows_examined)?;
        writeln!(f, "  whole blocks skipped: {}", stats.blocks_skipped)?;
        write!(f, "  item_count: {}, items on the page: {}", self.execution.item_count, self.execution.rows.len())
    }
}
