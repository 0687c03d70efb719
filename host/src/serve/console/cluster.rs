//! The cluster page (`/console/cluster`): with a shared PostgreSQL store, the hosts
//! with their heartbeats, and every lease with its owner, epoch and expiry, as
//! `GET /cluster` answers them. On SQLite it says there is no cluster.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::view;
use super::{Frame, Shared, gate, html};

/// A host as the page lists it.
#[derive(Clone, Debug)]
pub struct Host {
    /// Its id.
    pub id: String,
    /// Whether its heartbeat is recent.
    pub live: bool,
    /// Its last heartbeat.
    pub heartbeat_at: String,
    /// When it started.
    pub started_at: String,
    /// Its admin address.
    pub admin: String,
    /// Its version.
    pub version: String,
}

/// A lease as the page lists it.
#[derive(Clone, Debug)]
pub struct Lease {
    /// The connector.
    pub connector: String,
    /// Its owner.
    pub owner: Option<String>,
    /// Its epoch.
    pub epoch: i64,
    /// When it expires.
    pub expires_at: String,
    /// Whether it has.
    pub expired: bool,
    /// The digest its owner runs (short).
    pub digest: Option<String>,
    /// Whether that is not the version this host has loaded.
    pub skew: bool,
}

#[derive(Template)]
#[template(path = "cluster.html")]
struct ClusterPage {
    frame: Frame,
    unavailable: Option<String>,
    host: String,
    held: usize,
    ttl: String,
    hosts: Vec<Host>,
    leases: Vec<Lease>,
}

/// `GET /console/cluster`.
pub async fn page(State(console): Shared, headers: HeaderMap, uri: Uri) -> Response {
    let caller = match gate(&console, &headers, &uri) {
        Ok(c) => c,
        Err(refused) => return *refused,
    };
    let daemon = &console.daemon;
    let frame = Frame::new(&console, &caller, "Cluster", "cluster");
    let mut page = ClusterPage {
        frame,
        unavailable: None,
        host: String::new(),
        held: 0,
        ttl: String::new(),
        hosts: Vec::new(),
        leases: Vec::new(),
    };
    let (Some(me), Some(cluster)) = (&daemon.cluster, daemon.store.cluster()) else {
        page.unavailable = Some(
            "The store is not shared (SQLite): this host runs every connector itself, and there is no cluster. \
             Several hosts share work through a PostgreSQL store."
                .into(),
        );
        return html(StatusCode::OK, &page);
    };
    let read = async { Ok::<_, crate::store::StoreError>((cluster.hosts(me.ttl).await?, cluster.leases().await?)) };
    match read.await {
        Ok((hosts, leases)) => {
            let here: std::collections::BTreeMap<String, Option<String>> =
                daemon.all().iter().map(|s| (s.name.clone(), s.live().map(|v| v.component.digest.clone()))).collect();
            page.host = me.host_id.clone();
            page.held = me.held_count();
            page.ttl = view::duration(me.ttl.as_millis() as f64);
            page.hosts = hosts
                .into_iter()
                .map(|h| Host {
                    id: view::shown(&h.id),
                    live: h.live,
                    heartbeat_at: view::time(&h.heartbeat_at),
                    started_at: view::time(&h.started_at),
                    admin: view::shown(&h.admin),
                    version: view::shown(&h.version),
                })
                .collect();
            page.leases = leases
                .into_iter()
                .map(|l| {
                    let mine = here.get(&l.connector).cloned().flatten();
                    Lease {
                        skew: l.digest.is_some() && mine.is_some() && l.digest != mine,
                        connector: view::shown(&l.connector),
                        owner: l.owner.as_deref().map(view::shown),
                        epoch: l.epoch,
                        expires_at: view::time(&l.expires_at),
                        expired: l.expired,
                        digest: l.digest.as_deref().map(view::short_digest),
                    }
                })
                .collect();
            html(StatusCode::OK, &page)
        }
        Err(e) => {
            page.unavailable = Some(format!("Cannot read the cluster from the store: {e}"));
            html(StatusCode::SERVICE_UNAVAILABLE, &page)
        }
    }
}
