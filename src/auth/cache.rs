//! What the bearer-token check must look up in the database, remembered for a few seconds.
//!
//! Every request with a token checks that its API client is not revoked and that its `org`
//! names an organisation (or entity) of its `role`. Both answers are kept per instance for
//! `NIS2HUB_AUTH_CACHE_SECONDS`: a revocation made through this instance takes effect at once
//! (the entry is overwritten), one made through another instance within that time. Positive
//! organisation matches are kept, and one negative answer: an entity that is deregistered. A
//! deregistration is final, so remembering it cannot go stale; one made through this instance
//! is remembered at once ([`AuthCache::deregistered`]), and no slower read that still saw the
//! entity registered replaces it. An unknown organisation is not remembered, so one registered
//! a moment ago is found at once; a token naming an unknown one must be validly signed, so
//! refusing it again costs an attacker as much as it costs us. The maps are bounded: when
//! full, expired entries go, and if that is not enough, all of them.

use super::scopes::Role;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_ENTRIES: usize = 10_000;

/// What the database says about a token's `client_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    Active,
    Revoked,
    /// No registered client has this id.
    Unknown,
}

pub struct AuthCache {
    ttl: Duration,
    clients: Mutex<HashMap<String, (ClientState, Instant)>>,
    /// `true`: an organisation or entity of that role; `false`: a deregistered entity.
    principals: Mutex<HashMap<(String, Role), (bool, Instant)>>,
}

fn bounded_insert<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, (V, Instant)>,
    ttl: Duration,
    key: K,
    value: V,
) {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, (_, at)| at.elapsed() < ttl);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
    }
    map.insert(key, (value, Instant::now()));
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            clients: Mutex::new(HashMap::new()),
            principals: Mutex::new(HashMap::new()),
        }
    }

    /// The remembered state of a client, if still fresh.
    pub fn client(&self, client_id: &str) -> Option<ClientState> {
        let map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        map.get(client_id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(state, _)| *state)
    }

    /// Remembers what the database said. A fresh revocation is never replaced by an older
    /// "active" read that finished after it.
    pub fn remember_client(&self, client_id: &str, state: ClientState) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if state == ClientState::Active {
            if let Some((ClientState::Revoked, at)) = map.get(client_id) {
                if at.elapsed() < self.ttl {
                    return;
                }
            }
        }
        bounded_insert(&mut map, self.ttl, client_id.to_string(), state);
    }

    /// A revocation through this instance: effective for every later request at once.
    pub fn revoke(&self, client_id: &str) {
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        bounded_insert(
            &mut map,
            self.ttl.max(Duration::from_secs(1)),
            client_id.to_string(),
            ClientState::Revoked,
        );
    }

    /// What this instance knows, freshly, of `org` as a principal of `role`: `Some(true)` an
    /// organisation or registered entity of that role, `Some(false)` a deregistered entity,
    /// `None` nothing.
    pub fn principal(&self, org: &str, role: Role) -> Option<bool> {
        let map = self.principals.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(org.to_string(), role))
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(ok, _)| *ok)
    }

    /// True when `org` was found, recently, to be an organisation or entity of `role`.
    pub fn principal_known(&self, org: &str, role: Role) -> bool {
        self.principal(org, role) == Some(true)
    }

    /// Remembers that `org` is an organisation or registered entity of `role`, unless it was
    /// found deregistered meanwhile: a deregistration is never undone by a slower read.
    pub fn remember_principal(&self, org: &str, role: Role) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.principals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((false, at)) = map.get(&(org.to_string(), role)) {
            if at.elapsed() < self.ttl {
                return;
            }
        }
        bounded_insert(&mut map, self.ttl, (org.to_string(), role), true);
    }

    /// An entity was deregistered (through this instance, or so the database says): tokens
    /// naming it as their `org` are refused from now on without asking the database.
    pub fn deregistered(&self, entity_id: &str) {
        let mut map = self.principals.lock().unwrap_or_else(|e| e.into_inner());
        bounded_insert(
            &mut map,
            self.ttl.max(Duration::from_secs(1)),
            (entity_id.to_string(), Role::Entity),
            false,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_is_not_undone_by_a_slower_read() {
        let cache = AuthCache::new(Duration::from_secs(60));
        cache.remember_client("a", ClientState::Active);
        assert_eq!(cache.client("a"), Some(ClientState::Active));
        cache.revoke("a");
        cache.remember_client("a", ClientState::Active);
        assert_eq!(cache.client("a"), Some(ClientState::Revoked));
    }

    #[test]
    fn a_deregistration_is_not_undone_by_a_slower_read() {
        let cache = AuthCache::new(Duration::from_secs(60));
        cache.remember_principal("e", Role::Entity);
        assert_eq!(cache.principal("e", Role::Entity), Some(true));
        cache.deregistered("e");
        cache.remember_principal("e", Role::Entity);
        assert_eq!(cache.principal("e", Role::Entity), Some(false));
        assert!(!cache.principal_known("e", Role::Entity));
        assert_eq!(cache.principal("e", Role::SectoralCsirt), None);
    }

    #[test]
    fn entries_expire_and_the_maps_stay_bounded() {
        let cache = AuthCache::new(Duration::from_millis(20));
        cache.remember_client("a", ClientState::Active);
        cache.remember_principal("org", Role::Entity);
        assert!(cache.principal_known("org", Role::Entity));
        assert!(!cache.principal_known("org", Role::SectoralCsirt));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(cache.client("a"), None);
        assert!(!cache.principal_known("org", Role::Entity));

        let cache = AuthCache::new(Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES + 10) {
            cache.remember_client(&i.to_string(), ClientState::Active);
        }
        assert!(cache.clients.lock().unwrap().len() <= MAX_ENTRIES);
        for i in 0..(MAX_ENTRIES + 10) {
            cache.remember_principal(&i.to_string(), Role::Entity);
        }
        assert!(cache.principals.lock().unwrap().len() <= MAX_ENTRIES);

        let off = AuthCache::new(Duration::ZERO);
        off.remember_client("a", ClientState::Active);
        assert_eq!(off.client("a"), None, "a zero TTL remembers nothing");
    }
}
