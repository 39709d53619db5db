//! The agent manager's part of each call record: queue entry, every offer and its result,
//! the answer, and the agent's disposition.
//!
//! The manager task never waits for the database: it queues each write here, and one writer
//! task performs them in order. An offer's store id is known only once `add_offer` commits,
//! so the manager names offers by its own [`OfferKey`] and the writer maps it.
//!
//! The contact task creates the call record when the call arrives, on its own writer; the
//! queue entry comes later, but nothing orders the two writers, so a write that finds no
//! contact yet is retried for a short while (the create is then still in flight) before it
//! is given up and logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use store::{OfferId, OfferResult, Store, StoreError};
use tokio::sync::mpsc;

/// The manager's name for one offer (agent × contact × attempt).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OfferKey(pub u64);

#[derive(Debug)]
enum Write {
    Queue {
        contact: String,
        queue: String,
        at: Timestamp,
    },
    Offer {
        key: OfferKey,
        contact: String,
        agent: String,
        queue: String,
        at: Timestamp,
    },
    OfferResult {
        key: OfferKey,
        result: OfferResult,
        at: Timestamp,
    },
    Answered {
        contact: String,
        agent: String,
        at: Timestamp,
    },
    Disposition {
        contact: String,
        disposition: String,
    },
    /// Resolves once every earlier write was attempted (tests, shutdown).
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// How long a write waits for its contact's record to appear.
const MISSING_CONTACT_PATIENCE: Duration = Duration::from_secs(3);

/// Queues the manager's call-record writes; cheap to clone.
#[derive(Clone)]
pub struct AcdRecords {
    tx: mpsc::UnboundedSender<Write>,
}

impl AcdRecords {
    /// Starts the writer task.
    pub fn start(store: Arc<dyn Store>) -> AcdRecords {
        let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
        tokio::spawn(async move {
            let mut offers: HashMap<OfferKey, OfferId> = HashMap::new();
            while let Some(w) = rx.recv().await {
                write(&*store, &mut offers, w).await;
            }
        });
        AcdRecords { tx }
    }

    /// A writer that drops every write (tests of the manager's decisions alone).
    pub fn disabled() -> AcdRecords {
        let (tx, _) = mpsc::unbounded_channel();
        AcdRecords { tx }
    }

    fn push(&self, w: Write) {
        // The writer runs until every sender is gone; a send can only fail at shutdown.
        let _ = self.tx.send(w);
    }

    /// The contact entered `queue`.
    pub fn queue(&self, contact: &str, queue: &str, at: Timestamp) {
        self.push(Write::Queue {
            contact: contact.into(),
            queue: queue.into(),
            at,
        });
    }

    /// The contact was offered to `agent` (its device rings).
    pub fn offer(&self, key: OfferKey, contact: &str, agent: &str, queue: &str, at: Timestamp) {
        self.push(Write::Offer {
            key,
            contact: contact.into(),
            agent: agent.into(),
            queue: queue.into(),
            at,
        });
    }

    /// How the offer ended.
    pub fn offer_result(&self, key: OfferKey, result: OfferResult, at: Timestamp) {
        self.push(Write::OfferResult { key, result, at });
    }

    /// `agent` answered the contact.
    pub fn answered(&self, contact: &str, agent: &str, at: Timestamp) {
        self.push(Write::Answered {
            contact: contact.into(),
            agent: agent.into(),
            at,
        });
    }

    /// The agent's disposition of the contact.
    pub fn disposition(&self, contact: &str, disposition: &str) {
        self.push(Write::Disposition {
            contact: contact.into(),
            disposition: disposition.into(),
        });
    }

    /// Waits until every write queued before this call was attempted.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.push(Write::Flush(tx));
        let _ = rx.await;
    }
}

fn missing_contact(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::NotFound {
            kind: "contact",
            ..
        }
    )
}

async fn write(store: &dyn Store, offers: &mut HashMap<OfferKey, OfferId>, w: Write) {
    let deadline = tokio::time::Instant::now() + MISSING_CONTACT_PATIENCE;
    let mut pause = Duration::from_millis(20);
    loop {
        let result = match &w {
            Write::Queue { contact, queue, at } => store.set_queue(contact, queue, *at).await,
            Write::Offer {
                key,
                contact,
                agent,
                queue,
                at,
            } => store
                .add_offer(contact, agent, Some(queue), *at)
                .await
                .map(|id| {
                    offers.insert(*key, id);
                }),
            Write::OfferResult { key, result, at } => match offers.remove(key) {
                Some(id) => store.set_offer_result(id, *result, *at).await,
                // Its add_offer failed (and was logged): nothing to update.
                None => Ok(()),
            },
            Write::Answered { contact, agent, at } => store.set_answered(contact, agent, *at).await,
            Write::Disposition {
                contact,
                disposition,
            } => store.set_disposition(contact, disposition).await,
            Write::Flush(_) => Ok(()),
        };
        match result {
            Ok(()) => break,
            // The contact's own writer has not committed its record yet: wait for it.
            Err(e) if missing_contact(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(e) => {
                tracing::warn!(write = ?w, error = %e, "ACD call record write failed");
                break;
            }
        }
    }
    if let Write::Flush(done) = w {
        let _ = done.send(());
    }
}
