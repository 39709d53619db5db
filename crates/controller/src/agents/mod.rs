//! The agent manager's drivers: the task that owns the ACD, the agent interface (REST and
//! WebSocket), the administration of agents, queues and routes, live statistics, and the
//! manager's share of each call record.
//!
//! # Tasks and channels
//!
//! ```text
//!  contact tasks ──enqueue / withdraw / customer_hung_up / offer_* / agent_hung_up──┐
//!  agent API (login, ready, hold, hang up, wrap-up) ──agent_action (+ reply)────────┤
//!  admin API (agents, queues) ──configure (+ reply)─────────────────────────────────┤
//!                                                                                   ▼
//!                        ┌──────────────── manager task (owns acd::Acd) ────────────────┐
//!                        │ one input → handle → drain every output → re-arm one timer   │
//!                        └──┬──────────────────┬───────────────────┬────────────────────┘
//!     ContactEvent per contact (its          AcdRecords writer      broadcast<StatsMessage>
//!     channel, in order): Offer, Cancel,     (queue entry, offers,  → /api/v1/stats/ws
//!     Connected, Position, MaxWait,          results, answer,
//!     NoAgents, Failed, HangUp, Hold ...     disposition) → store
//! ```
//!
//! * [`AgentManager`] is the handle. Contact tasks call it without waiting (fire and forget:
//!   everything the manager decides for a contact comes back on the contact's own
//!   [`ContactEvent`] channel, in order); the APIs `await` a reply.
//! * The contact side carries out the agent legs: on [`ContactEvent::Offer`] it INVITEs the
//!   agent's registered device with an offer from a new leg on the customer's media session
//!   and reports `200` with [`AgentManager::offer_answered`] or a failure with
//!   [`AgentManager::offer_rejected`] (486/600 → busy, 603 → declined, no binding /
//!   404 / 408 / 480 / transport → unreachable). It bridges only on
//!   [`ContactEvent::Connected`] (the ACD decides who wins a ring-all), and it CANCELs (or,
//!   once answered, BYEs) on [`ContactEvent::Cancel`]. Either side's hang-up of a connected
//!   call is reported once ([`AgentManager::customer_hung_up`] / [`AgentManager::agent_hung_up`]).
//!   A contact whose channel closes without a word counts as a customer hang-up, so the ACD
//!   never keeps a contact that is gone.
//! * [`Directory`] holds what others read synchronously: SIP credentials (the registrar's
//!   digest lookup) and routes (number → flow), changed live by the admin API.
//!
//! # Start-up
//!
//! 1. open the store; `close_in_progress` (records a killed process left open);
//! 2. `store.apply_config(...)` with the file's agents, queues, routes and flows;
//! 3. [`load_from_store`] (with the file's SIP passwords) → [`Agents`] (manager task
//!    running, directory filled);
//! 4. the registrar reads [`Directory::password`]; contact tasks get the [`AgentManager`];
//! 5. [`auth::admin_token`] (print it) and [`api::router`] merged into `/api/v1`.

pub mod api;
pub mod auth;
pub mod convert;
pub mod directory;
pub mod manager;
pub mod records;
pub mod service;
pub mod views;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod manager_tests;

use std::collections::HashMap;
use std::sync::Arc;

use store::{Store, StoreError};

pub use self::api::AgentsApi;
pub use self::auth::Auth;
pub use self::directory::Directory;
pub use self::manager::{
    AgentAction, AgentManager, CancelReason, ConfigChange, ContactEvent, Enqueue, ManagerError,
    ManagerOptions, OfferOutcome,
};
pub use self::records::AcdRecords;
pub use self::views::{AgentView, QueueStatsView, StatsMessage};

/// The running agent manager and what it shares.
#[derive(Clone)]
pub struct Agents {
    /// The manager task's handle.
    pub manager: AgentManager,
    /// Credentials and routes.
    pub directory: Directory,
}

/// Starts the agent manager with the agents, queues and routes the store holds (after
/// `apply_config`), and fills the directory.
///
/// `file_passwords` (SIP user → password, from the configuration file) gives the registrar
/// the passwords of agents whose secret the store keeps only as HA1 hashes.
pub async fn load_from_store(
    store: Arc<dyn Store>,
    options: ManagerOptions,
    file_passwords: &HashMap<String, String>,
) -> Result<Agents, StoreError> {
    let queues = store.list_queues().await?;
    let agents = store.list_agents().await?;
    let routes = store.list_routes().await?;
    let directory = Directory::default();
    for a in &agents {
        let file = file_passwords.get(&a.value.sip_user).map(String::as_str);
        directory.put_agent(&a.value, file);
    }
    for r in routes {
        directory.put_route(r.value);
    }
    let manager = AgentManager::spawn(
        options,
        queues
            .iter()
            .map(|q| convert::acd_queue(&q.value))
            .collect(),
        agents
            .iter()
            .map(|a| (convert::acd_agent(&a.value), a.value.sip_user.clone()))
            .collect(),
        AcdRecords::start(store),
    );
    Ok(Agents { manager, directory })
}
