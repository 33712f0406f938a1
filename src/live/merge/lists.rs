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
    let mut page = Vec::with_capacity(take);
    let mut passed = 0u64;
    while page.len() < take {
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
        let Some((leader, _)) = least else { break };
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
