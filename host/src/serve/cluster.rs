//! Several hosts on one PostgreSQL store: which of the config's connectors this host
//! runs (see `store::leases` for the leases and their fencing).
//!
//! Every host has the same config. Each keeps a heartbeat in the store and, every
//! third of the lease TTL (or at once when another host releases leases), it:
//! 1. renews the leases it holds; one it no longer holds is *lost*: its run, if one
//!    is going on, stops before its next page (and its page in flight is refused
//!    by the fence);
//! 2. computes its fair share, the connectors divided by the live hosts (rounded
//!    up), and gives back leases beyond it (idle connectors only: a running one is
//!    given back after its run), so that a host that joins gets its share;
//! 3. takes free or expired leases up to its share, and wakes those connectors.
//!
//! A host that cannot reach the store for longer than the TTL counts every lease
//! it held as lost: others may have taken them by then.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Daemon;
use crate::ingest::Lease;
use crate::store::Fence;

/// This host's membership.
pub struct Membership {
    /// Its id.
    pub host_id: String,
    /// The lease TTL.
    pub ttl: Duration,
    /// The admin API's address, recorded with the heartbeat.
    admin: String,
    held: Mutex<BTreeMap<String, Held>>,
    /// Leases lost (taken over, or not renewed in time).
    pub lost_total: AtomicU64,
    /// Leases taken.
    pub acquired_total: AtomicU64,
    /// Live hosts at the last tick.
    pub live_hosts: AtomicU64,
    /// Set when the host left the cluster: the lease keeper ends.
    left: AtomicBool,
}

struct Held {
    epoch: i64,
    lost: Arc<AtomicBool>,
    /// A run holds it ([`Membership::lease`] to [`Membership::done`]): it is not
    /// given back meanwhile.
    busy: bool,
    /// The digest last recorded on the lease row.
    digest: Option<String>,
}

impl Membership {
    /// A membership for host `host_id` (or the default id).
    pub fn new(host_id: Option<String>, ttl: Duration, admin: String) -> Membership {
        let host_id = host_id.unwrap_or_else(default_host_id);
        Membership {
            host_id,
            ttl,
            admin,
            held: Mutex::default(),
            lost_total: AtomicU64::new(0),
            acquired_total: AtomicU64::new(0),
            live_hosts: AtomicU64::new(1),
            left: AtomicBool::new(false),
        }
    }

    /// The lease this host holds of `connector`, taken for a run until the
    /// returned [`Taken`] is dropped: the check and the mark are under one lock, so
    /// a lease is never given back between a run's start and its end.
    pub fn take(self: &Arc<Self>, connector: &str) -> Option<Taken> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get_mut(connector).map(|h| {
            h.busy = true;
            let lease = Lease { fence: Fence { owner: self.host_id.clone(), epoch: h.epoch }, lost: h.lost.clone() };
            Taken { me: self.clone(), connector: connector.to_string(), lease }
        })
    }

    /// How many leases this host holds.
    pub fn held_count(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The epoch this host holds `connector` at, if it does.
    pub fn epoch(&self, connector: &str) -> Option<i64> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).get(connector).map(|h| h.epoch)
    }

    /// Marks every lease of `names` lost and forgets it.
    fn lose(&self, names: &[String], why: &str) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for name in names {
            if let Some(h) = held.remove(name) {
                h.lost.store(true, Ordering::Relaxed);
                self.lost_total.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(connector = %name, epoch = h.epoch, host = %self.host_id,
                    "lease lost ({why}); a run in progress stops before its next page, and commits nothing more");
            }
        }
    }
}

/// A lease taken for a run ([`Membership::take`]); dropping it lets the lease be
/// given back again.
pub struct Taken {
    me: Arc<Membership>,
    connector: String,
    /// The run's lease.
    pub lease: Lease,
}

impl Drop for Taken {
    fn drop(&mut self) {
        let mut held = self.me.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = held.get_mut(&self.connector).filter(|h| h.epoch == self.lease.fence.epoch) {
            h.busy = false;
        }
    }
}

/// `hostname-pid`: unique among the hosts of one machine and across machines.
fn default_host_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{name}-{}", std::process::id())
}

/// Keeps this host's leases until it leaves the cluster ([`leave`]). While the
/// daemon stops it goes on renewing (the runs finishing their pages still hold
/// their leases) but takes none.
pub async fn keep(daemon: Arc<Daemon>, me: Arc<Membership>) {
    let mut listener = daemon.store.lease_listener().await;
    let every = me.ttl / 3;
    let mut last_renewed = Instant::now();
    loop {
        if me.left.load(Ordering::Relaxed) {
            return;
        }
        match tick(&daemon, &me).await {
            Ok(()) => last_renewed = Instant::now(),
            Err(e) => {
                tracing::warn!(host = %me.host_id, "cannot keep leases in the store: {e}; retrying");
                if last_renewed.elapsed() > me.ttl {
                    let names: Vec<String> =
                        me.held.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
                    me.lose(&names, "not renewed within its TTL: the store was unreachable");
                }
            }
        }
        // The next tick: after a third of the TTL, or at once when a host releases
        // leases (it stopped, or gave back extras for a host that joined).
        match &mut listener {
            Some(l) => {
                if let Ok(Err(e)) = tokio::time::timeout(every, l.recv()).await {
                    tracing::warn!("stopped listening for released leases ({e}); polling");
                    listener = None;
                }
            }
            None => tokio::time::sleep(every).await,
        }
    }
}

async fn tick(daemon: &Arc<Daemon>, me: &Membership) -> Result<(), crate::store::StoreError> {
    let Some(cluster) = daemon.store.cluster() else { return Ok(()) };
    cluster.heartbeat(&me.host_id, &me.admin, env!("CARGO_PKG_VERSION")).await?;
    let live = cluster.hosts(me.ttl).await?.iter().filter(|h| h.live).count().max(1);
    me.live_hosts.store(live as u64, Ordering::Relaxed);
    let slots: BTreeMap<String, Arc<super::slot::Slot>> =
        daemon.all().into_iter().map(|s| (s.name.clone(), s)).collect();
    let share = slots.len().div_ceil(live);

    // 1. Renew; what is not renewed was taken over.
    let mine: Vec<String> = me.held.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
    let refs: Vec<&str> = mine.iter().map(String::as_str).collect();
    let renewed: BTreeMap<String, i64> = cluster.renew(&me.host_id, &refs, me.ttl).await?.into_iter().collect();
    let lost: Vec<String> = {
        let held = me.held.lock().unwrap_or_else(|e| e.into_inner());
        held.iter().filter(|(n, h)| renewed.get(*n) != Some(&h.epoch)).map(|(n, _)| n.clone()).collect()
    };
    me.lose(&lost, "another host holds it now");
    if daemon.stopping.load(Ordering::Relaxed) {
        return Ok(());
    }

    // 2. Give back connectors no longer in the config, and extras beyond the fair
    // share: idle ones only, taken out of `held` under its lock so that no run can
    // start on them meanwhile (a run that ends later gives its lease back then).
    let give: Vec<String> = {
        let mut held = me.held.lock().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<String> =
            held.iter().filter(|(n, h)| !h.busy && !slots.contains_key(*n)).map(|(n, _)| n.clone()).collect();
        let staying = held.len() - gone.len();
        let extra = staying.saturating_sub(share);
        let idle: Vec<String> = held
            .iter()
            .filter(|(n, h)| !h.busy && slots.contains_key(*n))
            .map(|(n, _)| n.clone())
            .rev()
            .take(extra)
            .collect();
        let give: Vec<String> = gone.into_iter().chain(idle).collect();
        for n in &give {
            held.remove(n);
        }
        give
    };
    if !give.is_empty() {
        let refs: Vec<&str> = give.iter().map(String::as_str).collect();
        cluster.release(&me.host_id, &refs).await?;
        tracing::info!(host = %me.host_id, released = give.len(), share, live_hosts = live,
            "gave back leases beyond this host's share");
    }

    // 3. Take free or expired leases up to the share.
    let room = share.saturating_sub(me.held_count());
    if room > 0 {
        let candidates: Vec<&str> = {
            let held = me.held.lock().unwrap_or_else(|e| e.into_inner());
            slots.keys().filter(|n| !held.contains_key(*n)).map(String::as_str).collect()
        };
        let taken = cluster.acquire(&me.host_id, &candidates, room, me.ttl).await?;
        for (name, epoch) in taken {
            tracing::info!(connector = %name, epoch, host = %me.host_id, "lease taken");
            me.acquired_total.fetch_add(1, Ordering::Relaxed);
            me.held.lock().unwrap_or_else(|e| e.into_inner()).insert(
                name.clone(),
                Held { epoch, lost: Arc::new(AtomicBool::new(false)), busy: false, digest: None },
            );
            if let Some(slot) = slots.get(&name) {
                slot.wake.notify_one();
            }
        }
    }

    // The digest each held connector runs, for version skew across hosts.
    let stale: Vec<(String, String)> = {
        let held = me.held.lock().unwrap_or_else(|e| e.into_inner());
        held.iter()
            .filter_map(|(n, h)| {
                let live = slots.get(n)?.live()?.component.digest.clone();
                (h.digest.as_ref() != Some(&live)).then(|| (n.clone(), live))
            })
            .collect()
    };
    for (name, digest) in stale {
        cluster.set_digest(&me.host_id, &name, &digest).await?;
        if let Some(h) = me.held.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&name) {
            h.digest = Some(digest);
        }
    }
    Ok(())
}

/// Leaves the cluster as the daemon stops: its leases are released and the other
/// hosts told, so that they take them over at once rather than after the TTL.
pub async fn leave(daemon: &Daemon, me: &Membership) {
    me.left.store(true, Ordering::Relaxed);
    let Some(cluster) = daemon.store.cluster() else { return };
    match cluster.leave(&me.host_id).await {
        Ok(released) => tracing::info!(host = %me.host_id, released, "left the cluster; its leases are released"),
        Err(e) => tracing::warn!(host = %me.host_id,
            "cannot release the leases ({e}); the other hosts take them over when they expire"),
    }
}
