//! How many rows a run of sorted suffixes holds, from two prefix sums
//! whatever the number of values in it: the count of a broad `filters-q`
//! (thousands of matched values) without listing one value.
//!
//! A needle's occurrences are one run `[first, past)` of the text index's
//! sorted suffixes. Its rows are the rows of the run's distinct values;
//! when no two of those values share a row, that is the sum of each
//! distinct value's row count. Summing the run's weights (a suffix weighs
//! its value's row count) counts a value once per occurrence, so each
//! repeat must be taken off again, without knowing the run in advance.
//!
//! ```text
//!  position   0      1      2     3      (suffixes in order)
//!  value      A      A      B     B      (A has 5 rows, B 2)
//!  text       "aa|"  "a|"   "a|"  "ba|"
//!  lcp        -      1      2     0      (with the suffix before)
//!  repeat            +5           +2     (A at 0 and 1; B at 2 and 3)
//! ```
//!
//! For each pair of suffixes of one value that are next to each other
//! among that value's suffixes, at positions `a < b`, the repeat is
//! charged to `q`, the leftmost position in `(a, b]` where the common
//! prefix with the suffix before is shortest. Every needle's run is an
//! interval `[first, past)` whose inner positions share at least the
//! needle with the suffix before and whose ends share less, so `q` lies
//! strictly inside `(first, past)` exactly when both `a` and `b` lie in
//! the run (Sadakane's counting of distinct documents, with weights).
//! Hence, with `prefix` the running sum of weight less repeats charged:
//!
//! ```text
//!  rows(first, past) = prefix[past] - prefix[first + 1] + weight(first)
//! ```
//!
//! The sums are kept modulo 2^32: the true count is below 2^32, so the
//! wrapping difference is exact.
//!
//! The charges are found in one pass in order, keeping the positions whose
//! lcp no later one undercuts. A long pass is made in two halves at once:
//! the second half charges the pairs it holds whole, and defers those whose
//! earlier suffix it has not seen, with the leftmost shortest lcp of its own
//! part of the pair. Once the first half is passed, its last kept positions
//! give the shortest lcp of the pair's other part, and the leftmost of the
//! two is charged: the same position as one pass would charge. The second
//! half holds a last position per value of its own, and one deferred
//! charge per document it meets before its earlier suffixes.
//!
//! A *child* (a value whose rows all hold one *parent*, the children of a
//! parent sharing no row) is counted in the sums too, without reading a
//! row: its rows count when its parent is not in the run, and are already
//! the parent's when it is. Each suffix belongs to *documents*, each
//! counted once per run it meets, with a weight: a parent `p` alone weighs
//! `rows(p) - Σ rows(c)` over its children, and each child `c` with its
//! parent, `{c, p}`, weighs `rows(c)`. A run meeting `p` then counts
//! `rows(p)` in all, and one meeting only some children their rows. A
//! document's repeats are charged as a value's are, between its suffixes
//! that are next to each other among the document's own.
//!
//! Values that may share rows with another value otherwise (one held in
//! two columns, such as an address written beside several names) weigh
//! nothing in the sums: the sums count the rows of the run's values held
//! *apart* and of the children. The other values' positions are listed, so
//! that the caller can add the rows of the few a run holds, each once.

use std::ops::Range;

use super::prefix_sums::PrefixSums;

/// Prefix sums over the sorted suffixes from which any run's rows are
/// counted (see the module's doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// At `p`: the weights of the suffixes before position `p`, less the
    /// repeats charged to them, modulo 2^32 (a step per suffix).
    prefix: PrefixSums,
    /// The listed positions, ascending: those of the values whose rows a
    /// run must read itself (they may share rows, and are neither held
    /// apart nor children).
    shared: Vec<u32>,
}

impl RunCounts {
    /// Builds the counts for `suffixes` (`(start in text, value)`, sorted
    /// by their bytes up to and including the separator that closes every
    /// value in `text`), where:
    /// * `weight` is a value's row count when it counts in the sums (held
    ///   apart, or a child), 0 otherwise;
    /// * `parent` is a child's parent, whose rows hold the child's, the
    ///   children of one parent sharing no row (see the module's doc);
    /// * `is_listed` tells the values whose positions are listed, whose
    ///   rows a run must read itself.
    pub fn build(
        text: &[u8],
        separator: u8,
        suffixes: &[(u32, u32)],
        value_count: usize,
        weight: impl Fn(u32) -> u32 + Sync,
        parent: impl Fn(u32) -> Option<u32> + Sync,
        is_listed: impl Fn(u32) -> bool + Sync,
    ) -> RunCounts {
        // Positions are `u32`s, and `u32::MAX` stands for none.
        assert!(u32::try_from(suffixes.len()).is_ok_and(|len| len < u32::MAX), "fewer than 2^32 - 1 suffixes");
        let halves_at = (suffixes.len() >= SPLIT_FROM).then_some(suffixes.len() / 2);
        Self::build_in_halves(text, separator, suffixes, value_count, (weight, parent), is_listed, halves_at)
    }

    /// [`RunCounts::build`], its pass in order made as two passes at once
    /// when `halves_at` says where the second half starts.
    fn build_in_halves(
        text: &[u8],
        separator: u8,
        suffixes: &[(u32, u32)],
        value_count: usize,
        (weight, parent): (impl Fn(u32) -> u32 + Sync, impl Fn(u32) -> Option<u32> + Sync),
        is_listed: impl Fn(u32) -> bool + Sync,
        halves_at: Option<usize>,
    ) -> RunCounts {
        use rayon::prelude::*;
        let common = |left: u32, right: u32| common_prefix(text, separator, left as usize, right as usize);
        let lcp: Vec<u32> = (0..suffixes.len())
            .into_par_iter()
            .map(|position| if position == 0 { 0 } else { common(suffixes[position - 1].0, suffixes[position].0) })
            .collect();
        let documents =
            Documents { families: Families::of(value_count, &weight, &parent), weight: &weight, parent: &parent };
        let mut repeats = vec![0u32; suffixes.len()];
        match halves_at.filter(|&at| 0 < at && at < suffixes.len()) {
            None => {
                Pass::new(0, value_count).charge_stretch(suffixes, &lcp, &documents, &mut repeats);
            }
            Some(at) => {
                let (first_repeats, second_repeats) = repeats.split_at_mut(at);
                let (first, second) = rayon::join(
                    || Pass::new(0, value_count).charge_stretch(&suffixes[..at], &lcp, &documents, first_repeats),
                    || {
                        Pass::new(at as u32, value_count).charge_stretch(
                            &suffixes[at..],
                            &lcp,
                            &documents,
                            second_repeats,
                        )
                    },
                );
                second.charge_deferred(&first, &lcp, &mut repeats);
            }
        }
        // Each suffix's step: its weight less the repeats charged to it.
        repeats.par_iter_mut().zip(suffixes).for_each(|(step, &(_, value))| *step = weight(value).wrapping_sub(*step));
        let prefix = PrefixSums::of_steps(repeats.iter().copied());
        let shared =
            (0..suffixes.len() as u32).into_par_iter().filter(|&at| is_listed(suffixes[at as usize].1)).collect();
        RunCounts { prefix, shared }
    }

    /// The rows of the values counted in the sums (held apart, and
    /// children) of the run `positions` of sorted suffixes, whose first
    /// suffix's value weighs `first_weight` (its row count, or 0 if it may
    /// share rows and is listed).
    pub fn counted_rows(&self, positions: Range<usize>, first_weight: u32) -> u64 {
        if positions.is_empty() {
            return 0;
        }
        let rows =
            self.prefix.at(positions.end).wrapping_sub(self.prefix.at(positions.start + 1)).wrapping_add(first_weight);
        u64::from(rows)
    }

    /// The listed positions of the run `positions` (see `shared`): their
    /// values' rows are not in the sums.
    pub fn shared_in(&self, positions: Range<usize>) -> &[u32] {
        let first = self.shared.partition_point(|&at| (at as usize) < positions.start);
        let past = first + self.shared[first..].partition_point(|&at| (at as usize) < positions.end);
        &self.shared[first..past]
    }

    /// Whether the counts fit `suffix_count` sorted suffixes.
    pub fn fits(&self, suffix_count: usize) -> bool {
        self.prefix.step_count() == suffix_count
            && self.prefix.fits()
            && self.shared.windows(2).all(|pair| pair[0] < pair[1])
            && self.shared.last().is_none_or(|&at| (at as usize) < suffix_count)
    }

    /// The prefix sums and the shared positions, for a segment file.
    pub fn parts(&self) -> (&PrefixSums, &[u32]) {
        (&self.prefix, &self.shared)
    }

    /// Counts from the parts [`RunCounts::parts`] gave (check them with
    /// [`RunCounts::fits`]).
    pub fn from_parts(prefix: PrefixSums, shared: Vec<u32>) -> RunCounts {
        RunCounts { prefix, shared }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.prefix.heap_bytes() + self.shared.capacity() * 4
    }
}

/// The later of two positions last seen (`u32::MAX` for none): where a
/// document of a parent and a child was last seen.
fn family_last_seen(one: u32, other: u32) -> u32 {
    match (one, other) {
        (u32::MAX, other) => other,
        (one, u32::MAX) => one,
        (one, other) => one.max(other),
    }
}

/// Suffixes from which [`RunCounts::build`] charges the repeats in two
/// halves at once: below it, one pass in order costs less than the join.
const SPLIT_FROM: usize = 1 << 16;

/// A set of values whose suffixes count once per run they meet (see the
/// module's doc): a value alone, or a child with its parent.
#[derive(Clone, Copy, Debug)]
enum Document {
    Value(u32),
    /// A child and its parent (or a parent and its child: the same).
    Family(u32, u32),
}

impl Document {
    /// Where a suffix of the document was last seen, in `last_seen` (per
    /// value, `u32::MAX` for none); `None` when none was.
    fn last_seen_in(self, last_seen: &[u32]) -> Option<u32> {
        let position = match self {
            Document::Value(value) => last_seen[value as usize],
            Document::Family(one, other) => family_last_seen(last_seen[one as usize], last_seen[other as usize]),
        };
        (position != u32::MAX).then_some(position)
    }
}

/// What the suffixes of each value weigh, and in which documents.
struct Documents<'a, Weight, Parent> {
    families: Families,
    weight: &'a Weight,
    parent: &'a Parent,
}

impl<Weight: Fn(u32) -> u32, Parent: Fn(u32) -> Option<u32>> Documents<'_, Weight, Parent> {
    /// Calls `charge` with each document a suffix of `value` belongs to,
    /// and its weight there.
    #[inline]
    fn of_value(&self, value: u32, mut charge: impl FnMut(Document, u32)) {
        match (self.parent)(value) {
            // A child's one document is itself with its parent.
            Some(parent) => charge(Document::Family(value, parent), (self.weight)(value)),
            None => {
                charge(Document::Value(value), self.families.own_weight(value, (self.weight)(value)));
                for &child in self.families.children_of(value) {
                    charge(Document::Family(value, child), (self.weight)(child));
                }
            }
        }
    }
}

/// A charge [`Pass::charge_stretch`] could not make: the document's
/// previous suffix, if any, lies before the pass's stretch.
#[derive(Clone, Copy, Debug)]
struct Deferred {
    document: Document,
    weight: u32,
    /// The leftmost position of the shortest lcp from the stretch's start
    /// to the suffix (inclusive).
    shortest_in_stretch: u32,
}

/// One pass in order over a stretch of the sorted suffixes, charging each
/// repeat where the pair's shortest lcp first lies (see the module's doc).
struct Pass {
    /// The stretch's first position.
    first: u32,
    /// The positions seen so far whose lcp no later position's undercuts
    /// (ties kept), ascending: the leftmost shortest lcp in `(a, b]` is its
    /// first position past `a`.
    minima: Vec<(u32, u32)>,
    /// Per value, its last position in the stretch so far (`u32::MAX`:
    /// none).
    last_seen: Vec<u32>,
    /// The charges of documents not seen in the stretch before: made by
    /// [`Pass::charge_deferred`] once the stretch before is passed.
    deferred: Vec<Deferred>,
}

impl Pass {
    fn new(first: u32, value_count: usize) -> Pass {
        Pass { first, minima: Vec::new(), last_seen: vec![u32::MAX; value_count], deferred: Vec::new() }
    }

    /// Charges the repeats of `suffixes` (the stretch, from `self.first`
    /// on) to `repeats` (the stretch's own), `lcp` being the whole index's;
    /// defers the charges of pairs starting before the stretch.
    fn charge_stretch<Weight: Fn(u32) -> u32, Parent: Fn(u32) -> Option<u32>>(
        mut self,
        suffixes: &[(u32, u32)],
        lcp: &[u32],
        documents: &Documents<'_, Weight, Parent>,
        repeats: &mut [u32],
    ) -> Pass {
        let Pass { first, minima, last_seen, deferred } = &mut self;
        for (offset, &(_, value)) in suffixes.iter().enumerate() {
            let position = *first + offset as u32;
            if position > 0 {
                let shortest = lcp[position as usize];
                while minima.last().is_some_and(|&(_, kept)| kept > shortest) {
                    minima.pop();
                }
                minima.push((position, shortest));
            }
            documents.of_value(value, |document, weight| {
                if weight == 0 {
                    return;
                }
                match document.last_seen_in(last_seen) {
                    Some(before) => {
                        let charged = minima[minima.partition_point(|&(at, _)| at <= before)].0;
                        let repeat = &mut repeats[(charged - *first) as usize];
                        *repeat = repeat.wrapping_add(weight);
                    }
                    // Nothing lies before the first stretch.
                    None if *first == 0 => {}
                    None => deferred.push(Deferred { document, weight, shortest_in_stretch: minima[0].0 }),
                }
            });
            last_seen[value as usize] = position;
        }
        self
    }

    /// Makes this pass's deferred charges, `before` being the pass over
    /// every position before this one's stretch; `repeats` and `lcp` are
    /// the whole index's.
    fn charge_deferred(self, before: &Pass, lcp: &[u32], repeats: &mut [u32]) {
        debug_assert_eq!(before.first, 0, "the pass before covers every position before this one's");
        for deferred in self.deferred {
            let Some(previous) = deferred.document.last_seen_in(&before.last_seen) else {
                continue; // the document's first suffix
            };
            // The leftmost shortest lcp in `(previous, end of the stretch
            // before]`, if that holds a position, against the stretch's own.
            let in_stretch = deferred.shortest_in_stretch;
            let earlier = before.minima.get(before.minima.partition_point(|&(at, _)| at <= previous));
            let charged = match earlier {
                Some(&(at, shortest)) if shortest <= lcp[in_stretch as usize] => at,
                _ => in_stretch,
            };
            repeats[charged as usize] = repeats[charged as usize].wrapping_add(deferred.weight);
        }
    }
}

/// The children of each parent, and what their rows weigh together.
struct Families {
    /// The children of value `v`: `children[starts[v]..starts[v + 1]]`.
    starts: Vec<u32>,
    children: Vec<u32>,
    /// Per value, the weights of its children, summed modulo 2^32.
    children_weight: Vec<u32>,
}

impl Families {
    fn of(value_count: usize, weight: impl Fn(u32) -> u32, parent: impl Fn(u32) -> Option<u32>) -> Families {
        let families = (0..value_count as u32).filter_map(|child| parent(child).map(|parent| (parent, child)));
        let (starts, children) = super::group_by_code(families, value_count);
        let children_weight = (0..value_count)
            .map(|value| {
                let children = &children[starts[value] as usize..starts[value + 1] as usize];
                children.iter().fold(0u32, |sum, &child| sum.wrapping_add(weight(child)))
            })
            .collect();
        Families { starts, children, children_weight }
    }

    fn children_of(&self, value: u32) -> &[u32] {
        &self.children[self.starts[value as usize] as usize..self.starts[value as usize + 1] as usize]
    }

    /// What a value without a parent weighs as a document of its own: its
    /// rows less its children's (they weigh in the documents they make with
    /// it, which it belongs to as well).
    fn own_weight(&self, value: u32, weight: u32) -> u32 {
        weight.wrapping_sub(self.children_weight[value as usize])
    }
}

/// The length of the common prefix of the suffixes starting at `left` and
/// `right` in `text`, up to and including a shared `separator`.
fn common_prefix(text: &[u8], separator: u8, left: usize, right: usize) -> u32 {
    let mut length = 0;
    while let (Some(&a), Some(&b)) = (text.get(left + length), text.get(right + length)) {
        if a != b {
            break;
        }
        length += 1;
        if a == separator {
            break;
        }
    }
    length as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::suffixes_of;

    /// Every needle's run counted by [`RunCounts`] against the sum of the
    /// row counts of the distinct values holding it.
    fn check_every_needle(values: &[&str], weights: &[u32]) {
        let (text, suffixes) = suffixes_of(values);
        let counts = RunCounts::build(
            &text,
            0xFF,
            &suffixes,
            values.len(),
            |value| weights[value as usize],
            |_| None,
            |_| false,
        );
        assert!(counts.fits(suffixes.len()));
        let mut needles: Vec<String> = Vec::new();
        for value in values {
            for start in (0..value.len()).filter(|&at| value.is_char_boundary(at)) {
                for end in (start + 1..=value.len()).filter(|&at| value.is_char_boundary(at)) {
                    needles.push(value[start..end].to_string());
                }
            }
        }
        for needle in needles {
            let first = suffixes.partition_point(|&(start, _)| {
                let rest = &text[start as usize..];
                &rest[..needle.len().min(rest.len())] < needle.as_bytes()
            });
            let past = suffixes.partition_point(|&(start, _)| {
                let rest = &text[start as usize..];
                &rest[..needle.len().min(rest.len())] <= needle.as_bytes()
            });
            let expected: u64 = values
                .iter()
                .zip(weights)
                .filter(|(value, _)| value.contains(&needle))
                .map(|(_, &weight)| u64::from(weight))
                .sum();
            let first_weight = suffixes.get(first).map_or(0, |&(_, value)| weights[value as usize]);
            assert_eq!(counts.counted_rows(first..past, first_weight), expected, "{needle:?} in {values:?}");
            assert!(counts.shared_in(first..past).is_empty());
        }
    }

    #[test]
    fn runs_count_each_value_once_however_often_it_holds_the_needle() {
        check_every_needle(&["aa", "ba"], &[5, 2]);
        check_every_needle(&["abab", "bab", "aaaa", "b", "abba"], &[1, 7, 3, 2, 4]);
        check_every_needle(&["anna hannah", "hannah", "ann", "nana"], &[3, 1, 4_000_000_000, 9]);
    }

    #[test]
    fn values_that_may_share_rows_weigh_nothing_and_are_listed() {
        let (text, suffixes) = suffixes_of(&["ab", "b", "bb"]);
        let weight = |value: u32| if value == 1 { 0 } else { value + 1 };
        let counts = RunCounts::build(&text, 0xFF, &suffixes, 3, weight, |_| None, |value| value == 1);
        // Sorted: "ab|" (0), "bb|" (2), "b|" (0), "b|" (1), "b|" (2); the
        // two "b|" of values 0 and 1 may come in either order.
        assert_eq!(counts.counted_rows(0..1, 1), 1);
        assert_eq!(counts.counted_rows(1..5, 3), 4, "\"b\": values 0 and 2, not the shared 1");
        assert_eq!(counts.shared_in(1..5).len(), 1);
        assert_eq!(counts.shared_in(0..2), &[] as &[u32]);
        assert_eq!(counts.counted_rows(1..1, 0), 0);
    }

    /// The run of `needle` in `suffixes`, as the text index finds it.
    fn run_of(text: &[u8], suffixes: &[(u32, u32)], needle: &str) -> Range<usize> {
        let window = |start: u32| {
            let rest = &text[start as usize..];
            &rest[..needle.len().min(rest.len())]
        };
        let first = suffixes.partition_point(|&(start, _)| window(start) < needle.as_bytes());
        let past = suffixes.partition_point(|&(start, _)| window(start) <= needle.as_bytes());
        first..past
    }

    /// Every needle's run counted by [`RunCounts`] against the rows of the
    /// values holding it, where `parents[child]` is a child's parent: each
    /// value without a parent has rows `1000 * value + 0..rows[value]`, and
    /// the children of one parent take their own stretches of their
    /// parent's rows, one after another.
    fn check_families(values: &[&str], rows: &[u32], parents: &[Option<u32>]) {
        let mut taken = vec![0u32; values.len()];
        let rows_of: Vec<Vec<u32>> = (0..values.len())
            .map(|value| match parents[value] {
                None => (0..rows[value]).map(|row| 1000 * value as u32 + row).collect(),
                Some(parent) => {
                    let from = taken[parent as usize];
                    taken[parent as usize] += rows[value];
                    (from..from + rows[value]).map(|row| 1000 * parent + row).collect()
                }
            })
            .collect();
        let (text, suffixes) = suffixes_of(values);
        let weight = |value: u32| rows_of[value as usize].len() as u32;
        let counts =
            RunCounts::build(&text, 0xFF, &suffixes, values.len(), weight, |value| parents[value as usize], |_| false);
        for value in values {
            for start in (0..value.len()).filter(|&at| value.is_char_boundary(at)) {
                for end in (start + 1..=value.len()).filter(|&at| value.is_char_boundary(at)) {
                    let needle = &value[start..end];
                    let run = run_of(&text, &suffixes, needle);
                    let mut expected: Vec<u32> = (0..values.len())
                        .filter(|&other| values[other].contains(needle))
                        .flat_map(|other| rows_of[other].iter().copied())
                        .collect();
                    expected.sort_unstable();
                    expected.dedup();
                    let first_weight = weight(suffixes[run.start].1);
                    assert_eq!(
                        counts.counted_rows(run, first_weight),
                        expected.len() as u64,
                        "{needle:?} in {values:?}, parents {parents:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_child_counts_alone_and_not_beside_its_parent() {
        // "ann@x" lies inside its parent's rows: "ann" counts the parent's
        // rows once; "@x" the child's alone; "x" both once.
        check_families(&["ann smith", "ann@x", "bob"], &[5, 2, 3], &[None, Some(0), None]);
        check_families(&["ann smith", "ann@x", "smith@y", "bob"], &[5, 2, 2, 3], &[None, Some(0), Some(0), None]);
        check_families(&["aa", "ab", "ba", "bb"], &[4, 1, 2, 6], &[None, Some(3), Some(3), None]);
    }

    /// The counts built in one pass, against those built in two halves
    /// split at every position.
    fn assert_halves_agree(values: &[&str], weights: &[u32], parents: &[Option<u32>], listed: &[bool]) {
        let (text, suffixes) = suffixes_of(values);
        let build = |halves_at| {
            RunCounts::build_in_halves(
                &text,
                0xFF,
                &suffixes,
                values.len(),
                (|value: u32| weights[value as usize], |value: u32| parents[value as usize]),
                |value: u32| listed[value as usize],
                halves_at,
            )
        };
        let whole = build(None);
        for at in 0..=suffixes.len() {
            assert_eq!(build(Some(at)), whole, "halves at {at} of {values:?}, parents {parents:?}");
        }
    }

    #[test]
    fn halves_charge_pairs_across_their_boundary_as_one_pass_does() {
        // "a|" of value 0 sorts among "a" suffixes of the other values: its
        // pairs, and its family's, cross any boundary in the run.
        let values = ["aa", "aab", "ab", "ba", "baa"];
        assert_halves_agree(&values, &[3, 1, 2, 4, 1], &[None; 5], &[false; 5]);
        assert_halves_agree(&values, &[3, 1, 2, 4, 1], &[None, Some(0), None, Some(0), None], &[false; 5]);
        assert_halves_agree(&values, &[3, 0, 2, 4, 1], &[None; 5], &[false, true, false, false, false]);
    }

    proptest::proptest! {
        #[test]
        fn runs_agree_with_families_of_values(
            values in proptest::collection::btree_set(proptest::collection::vec(proptest::sample::select(vec!["a", "b", "é", "@"]), 1..8), 2..10),
            rows in proptest::collection::vec(1u32..6, 10),
            parent_picks in proptest::collection::vec(proptest::option::of(0usize..10), 10),
        ) {
            let values: Vec<String> = values.iter().map(|letters| letters.concat()).collect();
            let mut distinct: Vec<&str> = values.iter().map(String::as_str).collect();
            distinct.sort_unstable();
            distinct.dedup();
            // A value with a parent has no children; a parent has none.
            let count = distinct.len();
            let mut parents: Vec<Option<u32>> = vec![None; count];
            let mut is_parent = vec![false; count];
            for child in 0..count {
                if let Some(parent) = parent_picks[child].map(|pick| pick % count) {
                    if parent != child && parents[parent].is_none() && !is_parent[child] {
                        parents[child] = Some(parent as u32);
                        is_parent[parent] = true;
                    }
                }
            }
            // A parent's rows hold its children's.
            let mut rows = rows[..count].to_vec();
            for child in 0..count {
                if let Some(parent) = parents[child] {
                    rows[parent as usize] += rows[child];
                }
            }
            check_families(&distinct, &rows, &parents);
            // A listed value (one that may share rows) weighs nothing.
            let listed: Vec<bool> = rows.iter().map(|&rows| rows == 3).collect();
            let weights: Vec<u32> = rows.iter().zip(&listed).map(|(&rows, &listed)| if listed { 0 } else { rows }).collect();
            assert_halves_agree(&distinct, &weights, &parents, &listed);
        }

        #[test]
        fn runs_agree_with_the_values_holding_the_needle(
            values in proptest::collection::vec(proptest::collection::vec(proptest::sample::select(vec!["a", "b", "é", " "]), 1..10), 1..12),
            weights in proptest::collection::vec(1u32..50, 12),
        ) {
            let values: Vec<String> = values.iter().map(|letters| letters.concat()).collect();
            let mut distinct: Vec<&str> = values.iter().map(String::as_str).collect();
            distinct.sort_unstable();
            distinct.dedup();
            check_every_needle(&distinct, &weights[..distinct.len()]);
        }
    }
}
