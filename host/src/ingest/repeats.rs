//! One envelope per `(source, record_id)` per run: which copy of a repeated record
//! id the run keeps.
//!
//! Feeds repeat ids: an alert feed lists one alert and each of its updates under one
//! id, and offset paging over a feed that moves shows an item on two pages. Without a
//! rule, every copy was written to JSON Lines and queued, and, with a store, the
//! stored version flipped between the copies from one unchanged re-run to the next.
//! The rule:
//!
//! - **Within a page, the later item wins.** A feed lists an item's updates after it
//!   (the usual order of alert and change feeds), so the last copy is the newest.
//! - **Across pages, the earlier page wins.** By the time a later page arrives the
//!   earlier one is written whole (to `--out`, and committed and queued, with a
//!   store); taking the later copy too would give the run two envelopes of one
//!   record and two queue entries. A copy on a later page is most often the same item
//!   shifted by paging, not an update.
//!
//! The copies not kept are counted as `repeated` and listed as `skipped` problems
//! with the reason. The rule depends only on the order of the run's pages and items,
//! so an unchanged upstream gives the same envelope every run, and a store's version
//! stays put. (A run that stops and is resumed is two runs: the resumed one has not
//! seen the pages before its cursor.)
//!
//! The ids written so far in the run are kept as 128-bit keyed hashes, 16 bytes an
//! id whatever its length; the keys are random per run, so a guest cannot aim for a
//! collision (which would skip a record as repeated, and say so). At most
//! [`MAX_IDS`] are kept (about 40 MiB), so that a guest paging for ever cannot grow
//! the host without end: past that, the run logs it once, and a repeat across pages
//! of an id not kept is written again (within a page the rule still holds).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

/// Why a draft is not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Its id appears again later in the same page: the later item is kept.
    LaterInPage,
    /// An earlier page of the run wrote its id already: that one is kept.
    EarlierPage,
}

impl Repeat {
    /// Which copy is kept.
    pub(crate) fn kept(self) -> &'static str {
        match self {
            Repeat::LaterInPage => "the later item is kept",
            Repeat::EarlierPage => "the item of the earlier page is kept",
        }
    }

    /// The reason, for the report (`id` already capped).
    pub(crate) fn reason(self, id: &str) -> String {
        match self {
            Repeat::LaterInPage => format!("record id `{id}` appears again later in this run; the later item is kept"),
            Repeat::EarlierPage => format!(
                "record id `{id}` was written by an earlier page of this run; the earlier item is kept (one envelope per record id per run)"
            ),
        }
    }
}

/// The most record ids a run remembers across its pages.
pub(crate) const MAX_IDS: usize = 1 << 21;

/// The record ids a run has written.
#[derive(Default)]
pub(crate) struct RunIds {
    written: HashSet<u128>,
    full: bool,
    low: RandomState,
    high: RandomState,
}

impl RunIds {
    fn key(&self, id: &str) -> u128 {
        (u128::from(self.high.hash_one(id)) << 64) | u128::from(self.low.hash_one(id))
    }

    /// For each of a page's record ids, in order: `None` to keep it, or why not.
    pub(crate) fn choose<'a>(&self, ids: impl Iterator<Item = &'a str> + Clone) -> Vec<Option<Repeat>> {
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, id) in ids.clone().enumerate() {
            last.insert(id, i);
        }
        ids.enumerate()
            .map(|(i, id)| {
                if self.written.contains(&self.key(id)) {
                    Some(Repeat::EarlierPage)
                } else if last[id] != i {
                    Some(Repeat::LaterInPage)
                } else {
                    None
                }
            })
            .collect()
    }

    /// Notes that the run wrote an envelope of `id`; true the first time this finds
    /// [`MAX_IDS`] remembered already (and remembers no more).
    pub(crate) fn written(&mut self, id: &str) -> bool {
        if self.written.len() < MAX_IDS {
            self.written.insert(self.key(id));
            return false;
        }
        !std::mem::replace(&mut self.full, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_later_copy_in_a_page_and_the_earlier_page_win() {
        let mut run = RunIds::default();
        let page = ["x", "y", "x", "x"];
        let chosen = run.choose(page.iter().copied());
        assert_eq!(chosen, [Some(Repeat::LaterInPage), None, Some(Repeat::LaterInPage), None]);
        for (id, c) in page.iter().zip(&chosen) {
            if c.is_none() {
                assert!(!run.written(id));
            }
        }
        let next = ["x", "z", "z"];
        assert_eq!(run.choose(next.iter().copied()), [Some(Repeat::EarlierPage), Some(Repeat::LaterInPage), None]);
        assert!(Repeat::LaterInPage.reason("x").contains("the later item is kept"));
        assert!(Repeat::EarlierPage.reason("x").contains("the earlier item is kept"));
    }

    #[test]
    fn distinct_ids_are_all_kept() {
        let run = RunIds::default();
        let ids: Vec<String> = (0..1000).map(|i| format!("r{i}")).collect();
        assert!(run.choose(ids.iter().map(String::as_str)).iter().all(Option::is_none));
    }
}
