//! The contacts running now, as `GET /api/v1/contacts` shows them. Each
//! contact task keeps its own entry up to date and removes it at its end.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One live contact.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LiveContact {
    /// The contact id (also its call record's id).
    pub id: String,
    /// The customer's SIP Call-ID.
    pub call_id: String,
    /// Who called.
    pub caller: String,
    /// The number dialled.
    pub dialed: String,
    /// When it arrived (RFC 3339).
    pub arrived_at: String,
    /// `setup`, `answered`, `on_hold`, `transferring`, `bridged`, `ending`.
    pub state: String,
    /// The flow.
    pub flow: Option<String>,
    /// The flow's current state.
    pub flow_state: Option<String>,
    /// The media handler.
    pub handler: Option<String>,
    /// The negotiated audio codec.
    pub codec: Option<String>,
    /// The bandwidth manager's explanation of the placement.
    #[schema(value_type = Object)]
    pub placement: Option<serde_json::Value>,
}

/// The live contacts; cheap to clone.
#[derive(Clone, Default)]
pub struct LiveContacts {
    inner: Arc<Mutex<BTreeMap<String, LiveContact>>>,
}

impl LiveContacts {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, LiveContact>> {
        // Plain data: a panic elsewhere cannot leave it inconsistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces a contact.
    pub fn put(&self, c: LiveContact) {
        self.lock().insert(c.id.clone(), c);
    }

    /// Changes a contact in place.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut LiveContact)) {
        if let Some(c) = self.lock().get_mut(id) {
            f(c);
        }
    }

    /// Removes a contact.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Every live contact, by id.
    pub fn list(&self) -> Vec<LiveContact> {
        self.lock().values().cloned().collect()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}
