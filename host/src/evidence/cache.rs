//! The host's cache of an evidence connector's answers: least recently used first
//! out, each answer served for at most its time to live (seed 002's "LRU cache with
//! a TTL in the base class", moved into the host, where every connector has it).
//!
//! It keeps what the connector answered, before the host checks and scores it:
//! freshness is computed when an answer is served, so a cached answer ages like a
//! fresh one. Time comes from the caller (`now`), so a test moves it by hand.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::contract::Evidence;
use crate::manifest::CacheSettings;

/// An answer larger than this is not kept: a few of them must not fill the host.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// What was asked, of which component.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// `search(query, limit)`.
    Search {
        /// The component's digest: another version answers afresh.
        digest: String,
        /// The query.
        query: String,
        /// The most items asked for.
        limit: u32,
    },
    /// `fetch(id)`.
    Fetch {
        /// The component's digest.
        digest: String,
        /// The id.
        id: String,
    },
}

/// What the connector answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// The items `search` returned.
    Search(Vec<Evidence>),
    /// What `fetch` returned (none: the source has no such evidence).
    Fetch(Option<Evidence>),
}

impl Answer {
    /// About how many bytes the answer holds.
    fn size(&self) -> usize {
        let one = |e: &Evidence| {
            64 + e.id.len()
                + e.title.len()
                + e.content.len()
                + e.url.len()
                + e.author.as_ref().map_or(0, String::len)
                + e.created_at.as_ref().map_or(0, String::len)
                + e.metadata.as_ref().map_or(0, String::len)
        };
        match self {
            Answer::Search(items) => items.iter().map(one).sum(),
            Answer::Fetch(item) => item.as_ref().map_or(0, one),
        }
    }
}

/// The cache's counts, for reports and `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Answers served from the cache.
    pub hits: u64,
    /// Calls the cache could not answer (the connector was called).
    pub misses: u64,
    /// Answers held now.
    pub entries: usize,
}

/// One connector's cache.
pub struct Cache {
    entries: Option<Mutex<lru::LruCache<Key, (Instant, Answer)>>>,
    ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Cache {
    /// A cache as `[cache]` says; with `max_entries` or `ttl_seconds` 0 it keeps nothing.
    pub fn new(settings: &CacheSettings) -> Cache {
        let entries = NonZeroUsize::new(settings.max_entries)
            .filter(|_| settings.ttl_seconds > 0)
            .map(|n| Mutex::new(lru::LruCache::new(n)));
        Cache {
            entries,
            ttl: Duration::from_secs(settings.ttl_seconds),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The answer to `key`, if one was kept less than the time to live before `now`.
    /// Counts a hit or a miss.
    pub fn get(&self, key: &Key, now: Instant) -> Option<Answer> {
        let found = self.entries.as_ref().and_then(|entries| {
            let mut entries = entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get(key) {
                Some((stored, answer)) if now.saturating_duration_since(*stored) < self.ttl => Some(answer.clone()),
                Some(_) => {
                    entries.pop(key);
                    None
                }
                None => None,
            }
        });
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `answer` to `key` as of `now`, unless it is larger than [`MAX_ANSWER_BYTES`].
    pub fn put(&self, key: Key, answer: Answer, now: Instant) {
        let Some(entries) = &self.entries else { return };
        if answer.size() > MAX_ANSWER_BYTES {
            return;
        }
        entries.lock().unwrap_or_else(|e| e.into_inner()).put(key, (now, answer));
    }

    /// The counts so far.
    pub fn stats(&self) -> CacheStats {
        let entries = self.entries.as_ref().map_or(0, |e| e.lock().unwrap_or_else(|e| e.into_inner()).len());
        CacheStats { hits: self.hits.load(Ordering::Relaxed), misses: self.misses.load(Ordering::Relaxed), entries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(id: &str) -> Evidence {
        Evidence {
            id: id.into(),
            title: format!("title {id}"),
            content: "content".into(),
            url: format!("https://example.org/{id}"),
            author: None,
            created_at: None,
            confidence: 0.5,
            authority: 0.5,
            metadata: None,
        }
    }

    fn search(query: &str) -> Key {
        Key::Search { digest: "d".into(), query: query.into(), limit: 5 }
    }

    fn cache(max_entries: usize, ttl_seconds: u64) -> Cache {
        Cache::new(&CacheSettings { max_entries, ttl_seconds })
    }

    #[test]
    fn an_answer_is_served_until_its_time_to_live_ends() {
        let cache = cache(10, 60);
        let t0 = Instant::now();
        assert_eq!(cache.get(&search("a"), t0), None);
        cache.put(search("a"), Answer::Search(vec![evidence("1")]), t0);
        let second = Duration::from_secs(1);
        assert_eq!(cache.get(&search("a"), t0 + 59 * second), Some(Answer::Search(vec![evidence("1")])));
        // At sixty seconds it has expired, and is gone.
        assert_eq!(cache.get(&search("a"), t0 + 60 * second), None);
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 2, entries: 0 });
    }

    #[test]
    fn the_least_recently_used_answer_goes_first() {
        let cache = cache(2, 3600);
        let t = Instant::now();
        cache.put(search("a"), Answer::Search(vec![]), t);
        cache.put(search("b"), Answer::Search(vec![]), t);
        assert!(cache.get(&search("a"), t).is_some()); // `a` is now the most recent
        cache.put(search("c"), Answer::Search(vec![]), t);
        assert!(cache.get(&search("b"), t).is_none(), "b was the least recently used");
        assert!(cache.get(&search("a"), t).is_some());
        assert!(cache.get(&search("c"), t).is_some());
        assert_eq!(cache.stats().entries, 2);
    }

    #[test]
    fn keys_differ_by_call_limit_and_component() {
        let cache = cache(10, 3600);
        let t = Instant::now();
        cache.put(search("a"), Answer::Search(vec![evidence("1")]), t);
        assert!(cache.get(&Key::Search { digest: "d".into(), query: "a".into(), limit: 6 }, t).is_none());
        assert!(cache.get(&Key::Search { digest: "other".into(), query: "a".into(), limit: 5 }, t).is_none());
        let fetch = Key::Fetch { digest: "d".into(), id: "1".into() };
        assert!(cache.get(&fetch, t).is_none());
        // A fetch that found nothing is an answer too.
        cache.put(fetch.clone(), Answer::Fetch(None), t);
        assert_eq!(cache.get(&fetch, t), Some(Answer::Fetch(None)));
    }

    #[test]
    fn off_when_either_setting_is_zero_and_large_answers_are_not_kept() {
        for off in [cache(0, 3600), cache(10, 0)] {
            let t = Instant::now();
            off.put(search("a"), Answer::Search(vec![]), t);
            assert!(off.get(&search("a"), t).is_none());
            assert_eq!(off.stats(), CacheStats { hits: 0, misses: 1, entries: 0 });
        }
        let cache = cache(10, 3600);
        let t = Instant::now();
        let mut big = evidence("big");
        big.content = "x".repeat(MAX_ANSWER_BYTES);
        cache.put(search("big"), Answer::Search(vec![big]), t);
        assert!(cache.get(&search("big"), t).is_none());
    }
}
