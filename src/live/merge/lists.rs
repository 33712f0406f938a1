//! The merge of the parts' lists of matches, each in the request's order
//! and read as far as it can reach the page: [`PartMatches`] and
//! [`merge_lists`].

use super::Item;
use crate::request::SortKey;

/// One part's matches that can reach the page, in the request's order, as
/// far as they were read.
pub(super) struct PartMatches<'a> {
    /// The matches read, in the request's order.
    pub(super) items: Vec<Item<'a>>,
    /// Whether `items` holds every match of the part that can reach the page.
    pub(super) complete: bool,
}

impl<'a> PartMatches<'a> {
    /// Every match of the part that can reach the page.
    pub(super) fn all(items: Vec<Item<'a>>) -> PartMatches<'a> {
        PartMatches { items, complete: true }
    }

    /// The first matches of a part, read `asked` deep, of which
    /// `reachable` can reach the page: complete when all of those were
    /// read, or when fewer than asked came back (the part had no more, or
    /// stopped at its page bound).
    pub(super) fn read(items: Vec<Item<'a>>, asked: u64, reachable: u64) -> PartMatches<'a> {
        let complete = PartMatches::is_complete(items.len() as u64, asked, reachable);
        PartMatches { items, complete }
    }

    /// Whether `read` matches of a part, read `asked` deep, of which
    /// `reachable` can reach the page, are all that can (see
    /// [`PartMatches::read`]).
    pub(super) fn is_complete(read: u64, asked: u64, reachable: u64) -> bool {
        read < asked || read >= reachable
    }
}

/// The items at `skip..skip + take` of the merge of `lists`, each in the
/// order of `sort` already: a k-way merge over the lists' heads (few lists,
/// so a scan of the heads beats a heap). `None` when a list not read to its
/// end runs out before the page is full: its next match is unknown.
pub(super) fn merge_lists<'a>(
    lists: &[PartMatches<'a>],
    sort: &[SortKey],
    skip: u64,
    take: usize,
) -> Option<Vec<Item<'a>>> {
    let mut next = vec![0usize; lists.len()];
    let mut page: Vec<Item<'a>> = Vec::with_capacity(take);
    let mut passed = 0u64;
    // Invariant: the items taken (`passed`, then `page`) are the first of
    // the merge, each list's up to its `next`: every one sorts before every
    // head not taken.
    // Termination: each round takes at least the leader's head.
    while page.len() < take {
        debug_assert_eq!(passed + page.len() as u64, next.iter().sum::<usize>() as u64);
        // The least head and the least of the other heads: the leader's
        // items are then taken while they sort before that runner-up (one
        // comparison an item; the base's stretches are long).
        let mut least: Option<(usize, &Item<'a>)> = None;
        let mut runner_up: Option<&Item<'a>> = None;
        for (index, list) in lists.iter().enumerate() {
            let Some(head) = list.items.get(next[index]) else {
                if list.complete {
                    continue;
                }
                return None;
            };
            match least {
                Some((_, known)) if head.compare(known, sort).is_lt() => {
                    runner_up = Some(known);
                    least = Some((index, head));
                }
                Some(_) => {
                    if runner_up.is_none_or(|second| head.compare(second, sort).is_lt()) {
                        runner_up = Some(head);
                    }
                }
                None => least = Some((index, head)),
            }
        }
        let Some((leader, least)) = least else { break };
        debug_assert!(page.last().is_none_or(|last| last.compare(least, sort).is_lt()), "taken in order");
        let list = &lists[leader];
        // The leader's head is always taken (it is the least), so that each
        // round makes progress even if two items were to tie.
        let head = next[leader];
        while page.len() < take {
            let Some(&item) = list.items.get(next[leader]) else {
                if list.complete {
                    break;
                }
                return None;
            };
            if next[leader] > head && runner_up.is_some_and(|second| !item.compare(second, sort).is_lt()) {
                break;
            }
            next[leader] += 1;
            if passed < skip {
                passed += 1;
            } else {
                page.push(item);
            }
        }
    }
    Some(page)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::live::merge::items::{IdRef, Origin};
    use crate::model::{DateKey, PerDateKey};
    use crate::request::SortField;

    /// The order `created` (descending if asked), then `_id`.
    fn by_created(descending: bool, id_descending: bool) -> Vec<SortKey> {
        vec![
            SortKey { field: SortField::Date(DateKey::Created), descending },
            SortKey { field: SortField::Id, descending: id_descending },
        ]
    }

    /// A match numbered `index` whose `created` is `created` and `_id` is
    /// `id`.
    fn item(index: u32, created: i64, id: &str) -> Item<'_> {
        Item {
            origin: Origin::Tail,
            index,
            dates: PerDateKey::from_fn(|key| if key == DateKey::Created { created } else { 0 }),
            id: IdRef::Raw(id.as_bytes()),
        }
    }

    /// Lists of matches numbered by their `created` value (`_id`s `m<n>`),
    /// each complete or not.
    fn lists<'a>(ids: &'a [String], lists: &[(&[i64], bool)]) -> Vec<PartMatches<'a>> {
        lists
            .iter()
            .map(|&(values, complete)| PartMatches {
                items: values.iter().map(|&value| item(value as u32, value, &ids[value as usize])).collect(),
                complete,
            })
            .collect()
    }

    fn numbers(page: Option<Vec<Item<'_>>>) -> Option<Vec<u32>> {
        page.map(|page| page.iter().map(|item| item.index).collect())
    }

    #[test]
    fn windows_of_interleaved_lists() {
        let ids: Vec<String> = (0..40).map(|number| format!("m{number:02}")).collect();
        let sort = by_created(false, false);
        let three = lists(&ids, &[(&[1, 4, 7], true), (&[2, 5, 8], true), (&[3, 6, 9], true)]);
        assert_eq!(numbers(merge_lists(&three, &sort, 0, 4)), Some(vec![1, 2, 3, 4]));
        assert_eq!(numbers(merge_lists(&three, &sort, 2, 4)), Some(vec![3, 4, 5, 6]));
        assert_eq!(numbers(merge_lists(&three, &sort, 7, 10)), Some(vec![8, 9]), "a short last page");
        assert_eq!(numbers(merge_lists(&three, &sort, 9, 10)), Some(vec![]), "skip to the end");
        assert_eq!(numbers(merge_lists(&three, &sort, 500, 10)), Some(vec![]), "skip past the end");
        assert_eq!(numbers(merge_lists(&three, &sort, 3, 0)), Some(vec![]), "an empty page");
        // A long stretch of one list between two items of another.
        let stretch = lists(&ids, &[(&[1, 2, 3, 4, 5, 6, 7, 8, 20], true), (&[0, 9], true)]);
        assert_eq!(numbers(merge_lists(&stretch, &sort, 1, 9)), Some(vec![1, 2, 3, 4, 5, 6, 7, 8, 9]));
        // No lists, and empty lists.
        assert_eq!(numbers(merge_lists(&[], &sort, 0, 5)), Some(vec![]));
        assert_eq!(numbers(merge_lists(&lists(&ids, &[(&[], true), (&[], true)]), &sort, 0, 5)), Some(vec![]));
    }

    #[test]
    fn ties_on_the_date_are_broken_by_id_in_its_direction() {
        let ids = ["a", "b", "c", "d"];
        let list = |members: &[(u32, i64)]| PartMatches {
            items: members.iter().map(|&(number, created)| item(number, created, ids[number as usize])).collect(),
            complete: true,
        };
        // `created`: a 5, b 5, c 5, d 1; lists in the order of `sort`.
        let ascending = [list(&[(3, 1), (0, 5), (2, 5)]), list(&[(1, 5)])];
        let page = merge_lists(&ascending, &by_created(false, false), 0, 4);
        assert_eq!(numbers(page), Some(vec![3, 0, 1, 2]));
        let descending_ids = [list(&[(3, 1), (2, 5), (0, 5)]), list(&[(1, 5)])];
        let page = merge_lists(&descending_ids, &by_created(false, true), 1, 2);
        assert_eq!(numbers(page), Some(vec![2, 1]));
        let newest_first = [list(&[(0, 5), (2, 5), (3, 1)]), list(&[(1, 5)])];
        let page = merge_lists(&newest_first, &by_created(true, false), 0, 4);
        assert_eq!(numbers(page), Some(vec![0, 1, 2, 3]));
    }

    #[test]
    fn an_incomplete_list_must_not_run_out_before_the_page_is_full() {
        let ids: Vec<String> = (0..40).map(|number| format!("m{number:02}")).collect();
        let sort = by_created(false, false);
        // Read to 3: its next match may come before 4.
        let short = lists(&ids, &[(&[1, 3], false), (&[2, 4, 5, 6], true)]);
        assert_eq!(numbers(merge_lists(&short, &sort, 0, 3)), Some(vec![1, 2, 3]), "full at its last item");
        assert_eq!(numbers(merge_lists(&short, &sort, 1, 2)), Some(vec![2, 3]));
        assert_eq!(numbers(merge_lists(&short, &sort, 0, 4)), None);
        assert_eq!(numbers(merge_lists(&short, &sort, 3, 1)), None, "skipped items count too");
        // Unread at all: nothing is known, unless nothing is asked for.
        let unread = lists(&ids, &[(&[], false), (&[2, 4], true)]);
        assert_eq!(numbers(merge_lists(&unread, &sort, 0, 1)), None);
        assert_eq!(numbers(merge_lists(&unread, &sort, 5, 0)), Some(vec![]));
        // A complete list running out is only the end of its matches.
        let ended = lists(&ids, &[(&[1], true), (&[2, 4], false)]);
        assert_eq!(numbers(merge_lists(&ended, &sort, 0, 3)), Some(vec![1, 2, 4]));
        assert_eq!(numbers(merge_lists(&ended, &sort, 0, 4)), None);
    }

    /// The page of a naive merge of `lists` (a sort of every item read),
    /// `None` when the merge would need an incomplete list's next item:
    /// when fewer than `skip + take` items sort up to its last one read.
    fn naive(lists: &[PartMatches<'_>], sort: &[SortKey], skip: u64, take: usize) -> Option<Vec<u32>> {
        let mut all: Vec<Item<'_>> = lists.iter().flat_map(|list| list.items.iter().copied()).collect();
        all.sort_by(|left, right| left.compare(right, sort));
        let needed = skip.saturating_add(take as u64);
        for list in lists.iter().filter(|list| !list.complete && take > 0) {
            let through = list.items.last().map_or(0, |last| {
                all.iter().position(|item| item.index == last.index).expect("every item is in `all`") + 1
            });
            if (through as u64) < needed {
                return None;
            }
        }
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        Some(all.iter().skip(skip).take(take).map(|item| item.index).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any lists, any window: the page a naive sort gives, and, when
        /// the merge answers, the page of the lists read to their ends.
        #[test]
        fn merges_like_a_naive_sort(
            members in proptest::collection::vec((0usize..4, 0i64..6), 0..40),
            cuts in proptest::collection::vec(proptest::option::of(0usize..12), 4),
            descending in any::<bool>(),
            id_descending in any::<bool>(),
            skip in 0u64..45,
            take in 0usize..15,
        ) {
            let ids: Vec<String> = (0..members.len()).map(|number| format!("m{number:02}")).collect();
            let sort = by_created(descending, id_descending);
            // Each list whole, in the order of `sort`…
            let mut whole: Vec<Vec<Item<'_>>> = vec![Vec::new(); 4];
            for (number, &(list, created)) in members.iter().enumerate() {
                whole[list].push(item(number as u32, created, &ids[number]));
            }
            for list in &mut whole {
                list.sort_by(|left, right| left.compare(right, &sort));
            }
            // …then some read only so far.
            let read: Vec<PartMatches<'_>> = whole
                .iter()
                .zip(&cuts)
                .map(|(list, cut)| match *cut {
                    Some(cut) if cut < list.len() => PartMatches { items: list[..cut].to_vec(), complete: false },
                    _ => PartMatches::all(list.clone()),
                })
                .collect();
            let page = numbers(merge_lists(&read, &sort, skip, take));
            prop_assert_eq!(&page, &naive(&read, &sort, skip, take));
            if let Some(page) = page {
                let complete: Vec<PartMatches<'_>> = whole.into_iter().map(PartMatches::all).collect();
                prop_assert_eq!(Some(page), naive(&complete, &sort, skip, take));
            }
        }
    }
}
