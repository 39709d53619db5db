//! Call records: each contact's writes to the store, in order, off the call
//! path.
//!
//! A contact task never waits for the database: it queues each write on its
//! own [`Records`] channel, and one writer task per contact performs them in
//! order (create → path steps, media, recordings → end). The store
//! acknowledges each write only once it is committed, so what was written
//! survives a kill; a record left in progress by a killed process is closed
//! at the next start (`Store::close_in_progress`).
//!
//! Every writer task holds a clone of a [`Drain`] guard; shutdown waits until
//! all of them are gone, i.e. every queued write has been attempted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use store::{ContactEnd, MediaPlacement, NewContact, Recording, Store};
use tokio::sync::mpsc;

enum Write {
    Create(NewContact),
    Path { state: String, at: Timestamp },
    Media(MediaPlacement),
    Queue { queue: String, at: Timestamp },
    AddRecording(Recording),
    FinishRecording { id: String, duration: Duration },
    End(ContactEnd),
}

/// Tracks the writer tasks so shutdown can wait for them, and counts the
/// writes queued and not yet done (the store's backlog).
#[derive(Clone)]
pub struct Drain {
    guard: mpsc::Sender<()>,
    backlog: Backlog,
}

/// Writes queued for the store and not yet done; cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct Backlog(Arc<AtomicUsize>);

impl Backlog {
    /// How many writes wait.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drain {
    /// The backlog counter of every writer.
    pub fn backlog(&self) -> Backlog {
        self.backlog.clone()
    }
}

/// Waits for every [`Drain`] clone to be dropped.
pub struct DrainWait {
    rx: mpsc::Receiver<()>,
}

/// A drain guard and the means to wait for all its clones.
pub fn drain() -> (Drain, DrainWait) {
    let (guard, rx) = mpsc::channel(1);
    (
        Drain {
            guard,
            backlog: Backlog::default(),
        },
        DrainWait { rx },
    )
}

impl DrainWait {
    /// Returns once every [`Drain`] clone (and the original) is dropped, or
    /// after `timeout`; `true` if all were.
    pub async fn wait(mut self, timeout: Duration) -> bool {
        // recv() yields None once all senders are gone (nothing is ever sent).
        tokio::time::timeout(timeout, self.rx.recv()).await.is_ok()
    }
}

/// One contact's call record writer.
pub struct Records {
    tx: mpsc::UnboundedSender<Write>,
    backlog: Backlog,
}

impl Records {
    /// Starts the writer for `contact` (whose first write is `create`).
    pub fn start(store: Arc<dyn Store>, drain: &Drain, create: NewContact) -> Records {
        let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
        let guard = drain.guard.clone();
        let backlog = drain.backlog.clone();
        let done = backlog.clone();
        let id = create.id.clone();
        backlog.0.fetch_add(1, Ordering::Relaxed);
        // Invariant: the receiver lives in the task below until the sender is dropped.
        let _ = tx.send(Write::Create(create));
        tokio::spawn(async move {
            let _guard = guard;
            while let Some(w) = rx.recv().await {
                let (what, result) = match &w {
                    Write::Create(c) => ("create", store.create_contact(c).await),
                    Write::Path { state, at } => {
                        ("path step", store.add_path_step(&id, state, *at).await)
                    }
                    Write::Media(m) => ("media", store.set_media(&id, m).await),
                    Write::Queue { queue, at } => ("queue", store.set_queue(&id, queue, *at).await),
                    Write::AddRecording(r) => ("recording", store.add_recording(r).await),
                    Write::FinishRecording { id: rid, duration } => (
                        "recording end",
                        store.finish_recording(rid, *duration).await,
                    ),
                    Write::End(e) => ("end", store.end_contact(&id, e).await),
                };
                done.0.fetch_sub(1, Ordering::Relaxed);
                if let Err(e) = result {
                    tracing::warn!(contact = %id, what, error = %e, "call record write failed");
                }
            }
        });
        Records { tx, backlog }
    }

    fn push(&self, w: Write) {
        // The writer only stops when this sender is dropped.
        if self.tx.send(w).is_ok() {
            self.backlog.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A flow state entered.
    pub fn path_step(&self, state: &str, at: Timestamp) {
        self.push(Write::Path {
            state: state.to_string(),
            at,
        });
    }

    /// Where the media runs and why.
    pub fn media(&self, media: MediaPlacement) {
        self.push(Write::Media(media));
    }

    /// The contact entered a queue.
    pub fn queue(&self, queue: &str, at: Timestamp) {
        self.push(Write::Queue {
            queue: queue.to_string(),
            at,
        });
    }

    /// A recording started.
    pub fn add_recording(&self, r: Recording) {
        self.push(Write::AddRecording(r));
    }

    /// A recording's file is complete.
    pub fn finish_recording(&self, id: &str, duration: Duration) {
        self.push(Write::FinishRecording {
            id: id.to_string(),
            duration,
        });
    }

    /// The contact ended (the last write).
    pub fn end(&self, end: ContactEnd) {
        self.push(Write::End(end));
    }
}
