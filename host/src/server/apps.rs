//! The apps this host serves, their load state, and longest-prefix routing.

use crate::capabilities::backends::CapabilityHandles;
use crate::config::AppDefinition;
use crate::runtime::LoadedVersion;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Where one app stands. Requests reach only `Ready` apps; the others get
/// 503 `app_not_ready`.
pub enum AppState {
    Loading,
    Ready(Arc<Routing>),
    /// Loading failed; the reason is logged and shown on `/readyz`.
    Failed(String),
}

/// The versions an app serves on this pod, all loaded and pre-instantiated:
/// a switch swaps one of these for another, so no request waits for a compile.
pub struct Routing {
    /// The release generation this reflects (0: apps.toml, no release yet).
    pub generation: i64,
    pub stable: Arc<LoadedVersion>,
    pub canary: Option<CanaryRoute>,
    /// The release has a canary this pod could not load: it serves stable
    /// for everyone and retries at the next poll.
    pub canary_missing: bool,
}

pub struct CanaryRoute {
    pub version: Arc<LoadedVersion>,
    pub weight: u8,
}

pub struct AppSlot {
    pub definition: AppDefinition,
    state: ArcSwap<AppState>,
    /// Capability handles, provisioned on first load and shared by every version.
    pub handles: tokio::sync::OnceCell<CapabilityHandles>,
    /// Versions loaded on this pod, by version string: those of the current
    /// release, plus any an override header asked for since the last change.
    pub loaded: Mutex<HashMap<String, Arc<LoadedVersion>>>,
    /// One load at a time per app, so concurrent overrides compile once.
    pub load_lock: tokio::sync::Mutex<()>,
}

impl AppSlot {
    pub fn new(definition: AppDefinition) -> Self {
        Self {
            definition,
            state: ArcSwap::from_pointee(AppState::Loading),
            handles: tokio::sync::OnceCell::new(),
            loaded: Mutex::new(HashMap::new()),
            load_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The release generation this pod fully serves for the app (0 before
    /// any, and while a canary failed to load here).
    pub fn generation(&self) -> i64 {
        match &*self.state() {
            AppState::Ready(routing) if !routing.canary_missing => routing.generation,
            _ => 0,
        }
    }

    pub fn loaded_version(&self, version: &str) -> Option<Arc<LoadedVersion>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(version).cloned()
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.load_full()
    }

    /// Swaps atomically: a request in flight keeps the version it started
    /// with, the next one sees the new state.
    pub fn set_state(&self, state: AppState) {
        self.state.store(Arc::new(state));
    }

    pub fn name(&self) -> &str {
        &self.definition.name
    }
}

/// Route prefixes, longest first.
pub struct RouteTable {
    routes: Vec<(String, Arc<AppSlot>)>,
}

/// `/api` matches `/api` and `/api/x` but not `/apix`; `/` matches all.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix == "/" || path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

impl RouteTable {
    pub fn new(slots: &[Arc<AppSlot>]) -> Self {
        let mut routes: Vec<(String, Arc<AppSlot>)> = slots
            .iter()
            .flat_map(|slot| slot.definition.routes.iter().map(move |r| (r.clone(), slot.clone())))
            .collect();
        routes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Self { routes }
    }

    pub fn lookup(&self, path: &str) -> Option<&Arc<AppSlot>> {
        self.routes.iter().find(|(prefix, _)| prefix_matches(prefix, path)).map(|(_, slot)| slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use std::collections::BTreeSet;

    fn slot(name: &str, routes: &[&str]) -> Arc<AppSlot> {
        Arc::new(AppSlot::new(AppDefinition {
            name: name.into(),
            routes: routes.iter().map(|r| r.to_string()).collect(),
            component: "x.wasm".into(),
            version: semver::Version::new(0, 0, 0),
            capabilities: BTreeSet::new(),
            limits: Limits::default(),
            config: Arc::default(),
            migrations: None,
            auth: crate::config::AuthMode::None,
            strip_prefix: None,
        }))
    }

    #[test]
    fn longest_prefix_wins_on_segment_boundaries() {
        let table = RouteTable::new(&[slot("web", &["/"]), slot("api", &["/api"]), slot("budgets", &["/api/budgets"])]);
        let name = |path: &str| table.lookup(path).map(|s| s.name().to_string());
        assert_eq!(name("/api/budgets/1").as_deref(), Some("budgets"));
        assert_eq!(name("/api/budgets").as_deref(), Some("budgets"));
        assert_eq!(name("/api/budgetsx").as_deref(), Some("api"));
        assert_eq!(name("/api").as_deref(), Some("api"));
        assert_eq!(name("/apix").as_deref(), Some("web"));
        assert_eq!(name("/").as_deref(), Some("web"));
    }

    #[test]
    fn no_match_without_root() {
        let table = RouteTable::new(&[slot("api", &["/api"])]);
        assert!(table.lookup("/other").is_none());
        assert!(table.lookup("/").is_none());
    }
}
