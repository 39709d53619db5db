//! The media-handler registry: which handlers exist (embedded, declared in the
//! configuration, or self-registered with `switchboard media --controller`),
//! their health and load, and the bandwidth manager that places contacts on
//! them.
//!
//! This is the thin driver around [`bandwidth::BandwidthManager`] (sans-IO):
//! one poller task per handler reads `GET /v1/status` twice a second and feeds
//! the manager; a health task asks the manager which handlers changed state
//! (a handler silent for 3 s is down and gets no new contacts; one silent for
//! 10 s has lost its calls' media, and each of its contacts is told through the
//! hook it set with [`Registry::on_lost`], so the call is ended rather than left
//! in silence).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bandwidth::{
    BandwidthManager, ContactId, HandlerId, HandlerStatus, HandlerView, PlaceError, PlaceRequest,
    Placement, RegistryError, Released,
};
use media_api::MediaClient;
use tokio::time::Instant;

/// How often each handler's status is read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long a status request may take before it counts as unanswered.
pub const POLL_TIMEOUT: Duration = Duration::from_millis(800);

/// Where a handler came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Started inside this process (`switchboard run`).
    Embedded,
    /// Declared in `[[media_handlers]]`.
    Configured,
    /// Registered itself through the API.
    Registered,
}

impl Origin {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Embedded => "embedded",
            Origin::Configured => "configured",
            Origin::Registered => "registered",
        }
    }
}

struct Entry {
    client: MediaClient,
    /// The handler's control token (sent as a bearer token with every request).
    token: Option<String>,
    origin: Origin,
    poller: tokio::task::JoinHandle<()>,
}

/// The registry; cheap to clone (shared).
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

/// Called once when a contact's handler is lost.
pub type LostHook = Box<dyn FnOnce() + Send>;

struct Inner {
    manager: Mutex<BandwidthManager>,
    handlers: Mutex<BTreeMap<HandlerId, Entry>>,
    lost_hooks: Mutex<BTreeMap<ContactId, LostHook>>,
}

impl Registry {
    /// An empty registry over a bandwidth manager with `config`. Call
    /// [`Registry::spawn_health_task`] once inside the runtime.
    pub fn new(config: bandwidth::Config) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                manager: Mutex::new(BandwidthManager::new(config)),
                handlers: Mutex::new(BTreeMap::new()),
                lost_hooks: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    fn manager(&self) -> MutexGuard<'_, BandwidthManager> {
        // A panic while holding this lock is a bug in the manager; keep serving.
        self.inner.manager.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<HandlerId, Entry>> {
        self.inner
            .handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a handler and starts polling it. Its id is derived from the URL
    /// unless given; `token` is its control token, if it has one.
    pub fn add(
        &self,
        id: Option<&str>,
        url: &str,
        token: Option<&str>,
        capacity_kbps: Option<u64>,
        origin: Origin,
    ) -> Result<HandlerId, RegistryError> {
        let id = HandlerId(id.map(str::to_owned).unwrap_or_else(|| id_from_url(url)));
        self.manager().add_handler(id.clone(), url, capacity_kbps)?;
        let (client, poller) = self.connect(&id, url, token);
        self.entries().insert(
            id.clone(),
            Entry {
                client,
                token: token.map(str::to_owned),
                origin,
                poller,
            },
        );
        tracing::info!(handler = %id, url, origin = origin.as_str(), "media handler added");
        Ok(id)
    }

    /// A client for a handler, and the task polling its status with it.
    fn connect(
        &self,
        id: &HandlerId,
        url: &str,
        token: Option<&str>,
    ) -> (MediaClient, tokio::task::JoinHandle<()>) {
        let client = MediaClient::new(url).with_token(token);
        let poller = tokio::spawn(poll(self.clone(), id.clone(), client.clone()));
        (client, poller)
    }

    /// A self-registration (`POST /api/v1/media-handlers/register`): adds the
    /// handler the first time and records its status every time.
    pub fn register(
        &self,
        registration: &media_api::Registration,
    ) -> Result<HandlerId, RegistryError> {
        let id = HandlerId(id_from_url(&registration.url));
        let token = registration.control_token.as_deref();
        let known = self.entries().contains_key(&id);
        if !known {
            self.add(
                Some(&id.0),
                &registration.url,
                token,
                None,
                Origin::Registered,
            )?;
        } else {
            // A handler restarted with another control token: talk to it with the new one.
            let mut entries = self.entries();
            if let Some(e) = entries.get_mut(&id)
                && e.token.as_deref() != token
            {
                e.poller.abort();
                (e.client, e.poller) = self.connect(&id, &registration.url, token);
                e.token = token.map(str::to_owned);
                tracing::info!(handler = %id, "media handler's control token changed");
            }
        }
        self.manager().update_status(
            Instant::now().into_std(),
            &id,
            status_of(&registration.status),
        )?;
        Ok(id)
    }

    /// Removes a handler; returns the contacts that were placed on it.
    pub fn remove(&self, id: &HandlerId) -> Result<Vec<ContactId>, RegistryError> {
        let gone = self.manager().remove_handler(id)?;
        if let Some(e) = self.entries().remove(id) {
            e.poller.abort();
        }
        Ok(gone)
    }

    /// Sets or clears draining (keeps its calls, takes no new ones).
    pub fn set_draining(&self, id: &HandlerId, draining: bool) -> Result<(), RegistryError> {
        self.manager().set_draining(id, draining)?;
        tracing::info!(handler = %id, draining, "media handler draining changed");
        Ok(())
    }

    /// The handlers, for `GET /api/v1/media-handlers`.
    pub fn views(&self) -> Vec<(HandlerView, Origin)> {
        let views = self.manager().handlers(Instant::now().into_std());
        let entries = self.entries();
        views
            .into_iter()
            .map(|v| {
                let origin = entries.get(&v.id).map_or(Origin::Registered, |e| e.origin);
                (v, origin)
            })
            .collect()
    }

    /// Reads a handler's status once, now, so that a handler added at start
    /// takes calls at once instead of after its first poll; `false` when it
    /// did not answer.
    pub async fn refresh(&self, id: &HandlerId) -> bool {
        let Some(client) = self.client(id) else {
            return false;
        };
        match tokio::time::timeout(POLL_TIMEOUT, client.status()).await {
            Ok(Ok(status)) => self
                .manager()
                .update_status(Instant::now().into_std(), id, status_of(&status))
                .is_ok(),
            _ => false,
        }
    }

    /// The client for a handler.
    pub fn client(&self, id: &HandlerId) -> Option<MediaClient> {
        self.entries().get(id).map(|e| e.client.clone())
    }

    /// Places a new contact (see [`BandwidthManager::place`]) and returns the
    /// placement with the chosen handler's client.
    pub fn place(
        &self,
        contact: ContactId,
        request: &PlaceRequest<'_>,
    ) -> Result<(Placement, MediaClient), PlaceError> {
        let placement =
            self.manager()
                .place(Instant::now().into_std(), contact.clone(), request)?;
        match self.client(&placement.handler) {
            Some(client) => Ok((placement, client)),
            None => {
                // Removed between the decision and now: undo and refuse.
                self.manager().release(&contact);
                Err(PlaceError::UnknownContact(contact))
            }
        }
    }

    /// Re-decides a placed contact for a re-INVITE's offer.
    pub fn adjust(
        &self,
        contact: &ContactId,
        request: &PlaceRequest<'_>,
    ) -> Result<Placement, PlaceError> {
        self.manager()
            .adjust(Instant::now().into_std(), contact, request)
    }

    /// Changes the services a contact uses on its handler.
    pub fn set_services(
        &self,
        contact: &ContactId,
        services: bandwidth::Services,
    ) -> Result<bandwidth::ServiceChange, RegistryError> {
        self.manager().set_services(contact, services)
    }

    /// Releases a contact's reservation at its end.
    pub fn release(&self, contact: &ContactId) -> Option<Released> {
        self.hooks().remove(contact);
        self.manager().release(contact)
    }

    /// Sets what to do if a placed contact's handler is lost (silent for
    /// `lost_after`): called once, from the health task; dropped at release.
    pub fn on_lost(&self, contact: ContactId, hook: LostHook) {
        self.hooks().insert(contact, hook);
    }

    fn hooks(&self) -> MutexGuard<'_, BTreeMap<ContactId, LostHook>> {
        // Plain map: a panic elsewhere cannot leave it inconsistent.
        self.inner
            .lost_hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the task that reports handlers going up, down or draining.
    pub fn spawn_health_task(&self) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let now = Instant::now().into_std();
                let (events, lost) = {
                    let mut m = registry.manager();
                    (m.tick(now), m.take_lost(now))
                };
                for (handler, contacts) in lost {
                    tracing::warn!(
                        %handler,
                        contacts = contacts.len(),
                        "media handler lost: ending its calls"
                    );
                    let hooks: Vec<LostHook> = {
                        let mut all = registry.hooks();
                        contacts.iter().filter_map(|c| all.remove(c)).collect()
                    };
                    for hook in hooks {
                        hook();
                    }
                }
                for e in events {
                    if e.to == bandwidth::HandlerState::Down {
                        tracing::warn!(
                            handler = %e.handler,
                            from = e.from.as_str(),
                            "media handler down"
                        );
                    } else {
                        tracing::info!(
                            handler = %e.handler,
                            from = e.from.as_str(),
                            to = e.to.as_str(),
                            "media handler state changed"
                        );
                    }
                }
            }
        })
    }

    /// Stops every poller (at shutdown).
    pub fn shutdown(&self) {
        for e in self.entries().values() {
            e.poller.abort();
        }
    }
}

/// Reads a handler's status forever; an unanswered or failed request is
/// simply not reported, so the manager sees the status age grow.
async fn poll(registry: Registry, id: HandlerId, client: MediaClient) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match tokio::time::timeout(POLL_TIMEOUT, client.status()).await {
            Ok(Ok(status)) => {
                let now = Instant::now().into_std();
                if registry
                    .manager()
                    .update_status(now, &id, status_of(&status))
                    .is_err()
                {
                    return; // removed meanwhile
                }
            }
            Ok(Err(e)) => tracing::debug!(handler = %id, error = %e, "status request failed"),
            Err(_) => tracing::debug!(handler = %id, "status request timed out"),
        }
    }
}

/// Maps the handler's status onto the manager's view (the busier direction).
/// The handler reports bandwidth in and out as one total; a relay's two
/// directions are equal, so the busier one is taken as half the total.
/// Packets are reported per direction.
fn status_of(s: &media_api::Status) -> HandlerStatus {
    HandlerStatus {
        capacity_kbps: Some(u64::from(s.capacity_kbps)),
        measured_kbps: (s.measured_kbps / 2.0).round() as u64,
        measured_pps: Some(s.packets_in_per_s.max(s.packets_out_per_s).round() as u64),
        sessions: Some(s.sessions),
    }
}

/// A stable, readable id for a handler URL: `127.0.0.1:9090` style.
fn id_from_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_ids_come_from_urls() {
        assert_eq!(id_from_url("http://10.0.0.7:9090/"), "10.0.0.7:9090");
        assert_eq!(id_from_url("127.0.0.1:9"), "127.0.0.1:9");
    }
}
