//! Reloads on file changes: a connector's component or manifest, or the config.
//!
//! The watcher watches the directories holding the files, not the files: an editor
//! or a deploy that replaces a file by renaming a new one over it gives the path a
//! new inode, which a watch on the old file would miss. Events are debounced: a
//! reload starts once the files have been quiet for the debounce time, so a file
//! written in several pieces is loaded once, whole. (A load of a half-written file
//! fails its checks and leaves the live version in place; the final write reloads.)

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::{Daemon, canonical};

/// The watcher; dropping it stops watching.
pub struct Watching {
    _watcher: Arc<std::sync::Mutex<notify::RecommendedWatcher>>,
}

/// Starts watching every file the daemon's connectors and config name.
pub fn start(daemon: Arc<Daemon>, debounce: Duration) -> Result<Watching, notify::Error> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    let mut dirs = BTreeSet::new();
    watch_dirs(&daemon, &mut watcher, &mut dirs);
    let d = daemon.clone();
    let (more_tx, mut more_rx) = mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        loop {
            // Wait for a change to a watched file (a store or a log in the same
            // directory changes all the time), then for quiet, but not forever.
            let relevant = |p: &PathBuf| d.watched().iter().any(|(w, _)| canonical(w) == canonical(p));
            let Some(first) = rx.recv().await else { return };
            if !relevant(&first) {
                continue;
            }
            let mut changed = BTreeSet::from([canonical(&first)]);
            let give_up = tokio::time::Instant::now() + debounce * 5;
            let mut last = tokio::time::Instant::now();
            loop {
                match tokio::time::timeout_at((last + debounce).min(give_up), rx.recv()).await {
                    Ok(Some(p)) if relevant(&p) => {
                        changed.insert(canonical(&p));
                        last = tokio::time::Instant::now();
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if d.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let watched = d.watched();
            let mut config_changed = false;
            let mut connectors = BTreeSet::new();
            for (path, owner) in &watched {
                if changed.contains(&canonical(path)) {
                    match owner {
                        None => config_changed = true,
                        Some(name) => {
                            connectors.insert(name.clone());
                        }
                    }
                }
            }
            if config_changed {
                tracing::info!("the config file changed; reloading it");
                if let Err(e) = d.reload_config().await {
                    tracing::error!("config reload refused, the running connectors are unchanged: {e}");
                }
                let _ = more_tx.send(());
            }
            for name in connectors {
                if let Some(slot) = d.slot(&name) {
                    tracing::info!(connector = %name, "its files changed; reloading");
                    let _ = slot.reload(&d).await;
                }
            }
        }
    });
    // A config reload may name files in new directories: watch those too.
    let watcher = Arc::new(std::sync::Mutex::new(watcher));
    let w = watcher.clone();
    tokio::spawn(async move {
        while more_rx.recv().await.is_some() {
            let mut guard = w.lock().unwrap_or_else(|e| e.into_inner());
            watch_dirs(&daemon, &mut guard, &mut dirs);
        }
    });
    Ok(Watching { _watcher: watcher })
}

fn watch_dirs(daemon: &Daemon, watcher: &mut notify::RecommendedWatcher, dirs: &mut BTreeSet<PathBuf>) {
    for (path, _) in daemon.watched() {
        let file = canonical(&path);
        let Some(dir) = file.parent() else { continue };
        if dirs.insert(dir.to_path_buf())
            && let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive)
        {
            tracing::warn!(dir = %dir.display(), "cannot watch for changes: {e}");
        }
    }
}
