//! The media handlers' event streams: one WebSocket subscription
//! (`/v1/events`) per handler, each event dispatched to the contact task that
//! owns its session.
//!
//! A contact registers its session ([`MediaEvents::register`]) right after
//! creating it, before it starts anything that reports events, and
//! unregisters it at the end. Before placing work on a handler a contact calls
//! [`MediaEvents::ensure`], which returns at once when the subscription is
//! live and otherwise starts it and waits (bounded) until it is: an event sent
//! before the subscription was live would be lost. A broken subscription
//! reconnects on its own; events the handler sent meanwhile are lost (logged).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bandwidth::HandlerId;
use media_api::{Event, MediaClient, SessionId};
use tokio::sync::{mpsc, watch};

/// How long [`MediaEvents::ensure`] waits for a subscription to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between reconnection attempts.
const RECONNECT_PAUSE: Duration = Duration::from_millis(250);

type Route = mpsc::UnboundedSender<Event>;

struct Sub {
    connected: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Inner {
    routes: Mutex<HashMap<(HandlerId, SessionId), Route>>,
    subs: Mutex<HashMap<HandlerId, Sub>>,
}

/// The event hub; cheap to clone.
#[derive(Clone, Default)]
pub struct MediaEvents {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these short locks is a bug; keep dispatching.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MediaEvents {
    /// An empty hub.
    pub fn new() -> MediaEvents {
        MediaEvents::default()
    }

    /// Makes sure `handler`'s events are subscribed; `true` once the
    /// subscription is connected (within [`CONNECT_TIMEOUT`]).
    pub async fn ensure(&self, handler: &HandlerId, client: &MediaClient) -> bool {
        let mut connected = {
            let mut subs = lock(&self.inner.subs);
            match subs.get(handler) {
                Some(s) if !s.task.is_finished() => s.connected.clone(),
                _ => {
                    let (tx, rx) = watch::channel(false);
                    let task = tokio::spawn(subscribe(
                        self.inner.clone(),
                        handler.clone(),
                        client.clone(),
                        tx,
                    ));
                    subs.insert(
                        handler.clone(),
                        Sub {
                            connected: rx.clone(),
                            task,
                        },
                    );
                    rx
                }
            }
        };
        if *connected.borrow() {
            return true;
        }
        tokio::time::timeout(CONNECT_TIMEOUT, connected.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Sends `session`'s events on `handler` to `route`.
    pub fn register(&self, handler: &HandlerId, session: SessionId, route: Route) {
        lock(&self.inner.routes).insert((handler.clone(), session), route);
    }

    /// Stops sending `session`'s events.
    pub fn unregister(&self, handler: &HandlerId, session: SessionId) {
        lock(&self.inner.routes).remove(&(handler.clone(), session));
    }

    /// Ends a handler's subscription (the handler was removed).
    pub fn forget(&self, handler: &HandlerId) {
        if let Some(s) = lock(&self.inner.subs).remove(handler) {
            s.task.abort();
        }
    }

    /// Ends every subscription (at shutdown).
    pub fn shutdown(&self) {
        for (_, s) in lock(&self.inner.subs).drain() {
            s.task.abort();
        }
    }
}

fn session_of(e: &Event) -> Option<SessionId> {
    match e {
        Event::Dtmf { session_id, .. }
        | Event::PlaybackFinished { session_id, .. }
        | Event::RecordingFinished { session_id, .. }
        | Event::RtpTimeout { session_id, .. }
        | Event::LegLatched { session_id, .. } => Some(*session_id),
        Event::Lagged { .. } => None,
    }
}

async fn subscribe(
    inner: Arc<Inner>,
    handler: HandlerId,
    client: MediaClient,
    connected: watch::Sender<bool>,
) {
    loop {
        match client.events().await {
            Ok(mut stream) => {
                connected.send_replace(true);
                tracing::debug!(%handler, "media events subscribed");
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(event) => match session_of(&event) {
                            Some(session) => {
                                let route = lock(&inner.routes)
                                    .get(&(handler.clone(), session))
                                    .cloned();
                                if let Some(route) = route {
                                    let _ = route.send(event);
                                }
                            }
                            None => {
                                tracing::warn!(%handler, ?event, "media events were missed");
                            }
                        },
                        Err(e) => {
                            tracing::debug!(%handler, error = %e, "media event stream error");
                            break;
                        }
                    }
                }
                connected.send_replace(false);
                tracing::warn!(%handler, "media event stream ended; reconnecting");
            }
            Err(e) => tracing::debug!(%handler, error = %e, "cannot subscribe to media events"),
        }
        // Not waiting for a condition: pacing reconnection attempts to a
        // handler that is down.
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}
