//! The agent manager behind the contact tasks' queue seam ([`QueueService`]).
//!
//! Each enqueued contact gets a small **forwarder** task between the manager and the contact
//! task. It carries the manager's [`ContactEvent`]s to the contact as [`QueueEvent`]s, in
//! order, and does the one thing that needs an `await`: on an offer it looks up the agent's
//! registered devices (the registrar's bindings) and hands the contact the best one to dial,
//! or reports the agent unreachable when it has none. Because it handles one contact's events
//! in order, a `Cancel` can never overtake the `Offer` it cancels.
//!
//! The contact task dials the agent on its own media session (a new leg, an SDP offer from
//! the handler, an INVITE through the signalling task) and reports how each offer ends on the
//! offer's result channel; the forwarder maps that to the manager:
//!
//! | contact's [`OfferResult`] | to the manager |
//! |---|---|
//! | `Answered` (200) | `offer_answered`: the ACD's `Connect` comes back as [`QueueEvent::Connected`] (bridge), or a `Cancel` (BYE) |
//! | `Failed(486 / 600)` | busy; `Failed(603)` declined; `Failed(0)` (the contact could not dial: another leg rings) busy |
//! | `Failed(other)` (404, 408, 480, 5xx, transport) | unreachable |
//! | `NoAnswer`, `Abandoned` | nothing: the ACD's own ring timer, or the caller's hang-up, already decided |
//! | `Ended { by_agent }` | `agent_hung_up` / `customer_hung_up` |
//!
//! When the contact task ends, the forwarder ends with it; the manager sees its channel
//! close and takes that as the caller hanging up, so no contact outlives its call in the ACD.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acd::Rejection;
use flow::OpId;
use sip::{Flow, Uri};
use tokio::sync::mpsc;

use super::manager::{AgentManager, ContactEvent, Enqueue};
use crate::queue::{
    DequeueReason, EnqueueRequest, Offer, OfferResult, QueueEvent, QueueEvents, QueueService,
};
use crate::signalling::Signalling;

/// How much longer than the ACD's ring timeout the contact lets a device ring: the ACD's
/// timer decides (and CANCELs); the contact's own deadline is only a safety net.
const RING_MARGIN: Duration = Duration::from_secs(2);

/// An agent device: where to send the INVITE.
#[derive(Debug, Clone)]
pub struct Device {
    /// The registered contact URI.
    pub uri: Uri,
    /// The flow the registration came in on (devices behind NAT are reached there).
    pub flow: Flow,
}

/// The boxed future of [`Devices::lookup`].
pub type DevicesFuture<'a> = Pin<Box<dyn Future<Output = Vec<Device>> + Send + 'a>>;

/// Where agents' devices are registered (the registrar; a fake in tests).
pub trait Devices: Send + Sync + 'static {
    /// The live devices of a SIP user, best first.
    fn lookup<'a>(&'a self, sip_user: &'a str) -> DevicesFuture<'a>;
}

impl Devices for Signalling {
    fn lookup<'a>(&'a self, sip_user: &'a str) -> DevicesFuture<'a> {
        Box::pin(async move {
            Signalling::lookup(self, sip_user)
                .await
                .into_iter()
                .filter_map(|b| {
                    let flow = b.flow?;
                    Some(Device {
                        uri: b.uri().clone(),
                        flow,
                    })
                })
                .collect()
        })
    }
}

/// The ACD as the contact tasks' [`QueueService`].
pub struct AcdQueues {
    manager: AgentManager,
    devices: Arc<dyn Devices>,
}

impl AcdQueues {
    /// The service over a running manager and the registrar's bindings.
    pub fn new(manager: AgentManager, devices: Arc<dyn Devices>) -> AcdQueues {
        AcdQueues { manager, devices }
    }
}

impl QueueService for AcdQueues {
    fn enqueue(&self, request: EnqueueRequest) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.manager.enqueue(Enqueue {
            contact: request.contact.clone(),
            queue: request.queue.clone(),
            // The flow's 0 means "normal": the queue's own priority applies.
            priority: (request.priority != 0).then_some(request.priority),
            agent: request.agent.clone(),
            events: tx,
        });
        let forwarder = Forwarder {
            manager: self.manager.clone(),
            devices: self.devices.clone(),
            contact: request.contact,
            entry: request.entry,
            events: request.events,
        };
        tokio::spawn(forwarder.run(rx));
    }

    fn dequeue(&self, contact: &str, _entry: OpId, reason: DequeueReason) {
        match reason {
            DequeueReason::CallerHungUp => self.manager.customer_hung_up(contact),
            DequeueReason::FlowLeft => self.manager.withdraw(contact),
        }
    }
}

struct Forwarder {
    manager: AgentManager,
    devices: Arc<dyn Devices>,
    contact: String,
    entry: OpId,
    events: QueueEvents,
}

impl Forwarder {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<ContactEvent>) {
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                // The contact task ended: stop, so the manager sees the channel close.
                () = self.events.tx.closed() => None,
            };
            let Some(ev) = ev else { return };
            if !self.forward(ev).await {
                return;
            }
        }
    }

    /// Carries one event to the contact; `false` when the contact is gone.
    async fn forward(&self, ev: ContactEvent) -> bool {
        let entry = self.entry;
        let event = match ev {
            ContactEvent::Position {
                position,
                estimated_wait,
            } => QueueEvent::Position {
                entry,
                position,
                estimated_wait,
            },
            ContactEvent::Offer {
                agent,
                sip_user,
                ring_until,
                record,
                ..
            } => {
                let devices = self.devices.lookup(&sip_user).await;
                let Some(device) = devices.into_iter().next() else {
                    tracing::info!(contact = %self.contact, %agent, %sip_user, "agent has no registered device");
                    self.manager
                        .offer_rejected(&self.contact, &agent, Rejection::Unreachable);
                    return true;
                };
                let (result, results) = mpsc::unbounded_channel();
                tokio::spawn(report(
                    self.manager.clone(),
                    self.contact.clone(),
                    agent.clone(),
                    results,
                ));
                QueueEvent::Offer {
                    entry,
                    offer: Box::new(Offer {
                        agent,
                        target: device.uri,
                        flow: device.flow,
                        ring_timeout: ring_until.saturating_duration_since(Instant::now())
                            + RING_MARGIN,
                        record,
                        result,
                    }),
                }
            }
            ContactEvent::Cancel { agent, .. } => QueueEvent::Cancel { entry, agent },
            // The ACD gave the contact to this agent: bridge.
            ContactEvent::Connected { agent, .. } => QueueEvent::Connected { entry, agent },
            ContactEvent::MaxWait => QueueEvent::MaxWait { entry },
            ContactEvent::NoAgents => QueueEvent::NoAgents { entry },
            ContactEvent::Failed { reason } => QueueEvent::Failed { entry, reason },
            ContactEvent::HangUp { agent } => QueueEvent::HangUp { agent },
            ContactEvent::Hold { agent } => QueueEvent::Hold { agent, hold: true },
            ContactEvent::Unhold { agent } => QueueEvent::Hold { agent, hold: false },
            ContactEvent::Transfer {
                agent,
                queue,
                to_agent,
                uri,
            } => QueueEvent::Transfer {
                agent,
                queue,
                to_agent,
                uri,
            },
            ContactEvent::Request { agent, request } => {
                let Some(request) = request.take() else {
                    return true;
                };
                QueueEvent::Request { agent, request }
            }
        };
        self.events.send(event)
    }
}

/// Maps how the contact's dial of `agent` ended to the manager.
async fn report(
    manager: AgentManager,
    contact: String,
    agent: String,
    mut results: mpsc::UnboundedReceiver<OfferResult>,
) {
    while let Some(r) = results.recv().await {
        match r {
            OfferResult::Answered => manager.offer_answered(&contact, &agent),
            OfferResult::Failed(code) => {
                manager.offer_rejected(&contact, &agent, rejection(code));
            }
            OfferResult::NoAnswer | OfferResult::Abandoned => {}
            OfferResult::Ended { by_agent: true } => manager.agent_hung_up(&agent),
            OfferResult::Ended { by_agent: false } => manager.customer_hung_up(&contact),
        }
    }
}

/// The ACD's reading of a failed INVITE's status (0: the contact could not dial at all).
pub fn rejection(status: u16) -> Rejection {
    match status {
        0 | 486 | 600 => Rejection::Busy,
        603 => Rejection::Declined,
        _ => Rejection::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use acd::{AgentConfig, QueueConfig};

    use super::*;
    use crate::agents::manager::{AgentAction, ManagerOptions};
    use crate::agents::records::AcdRecords;
    use crate::call::CallInput;
    use crate::queue::MediaRef;

    #[test]
    fn sip_failures_map_to_the_acd_rejections() {
        assert_eq!(rejection(486), Rejection::Busy);
        assert_eq!(rejection(600), Rejection::Busy);
        assert_eq!(rejection(603), Rejection::Declined);
        for code in [404, 408, 480, 500, 503] {
            assert_eq!(rejection(code), Rejection::Unreachable, "{code}");
        }
    }

    /// A registrar where only the listed SIP users have a device.
    struct FakeRegistrar(HashMap<String, Device>);

    impl Devices for FakeRegistrar {
        fn lookup<'a>(&'a self, sip_user: &'a str) -> DevicesFuture<'a> {
            Box::pin(async move { self.0.get(sip_user).cloned().into_iter().collect() })
        }
    }

    fn device(port: u16) -> Device {
        let remote: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        Device {
            uri: Uri::parse(&format!("sip:agent@127.0.0.1:{port}")).expect("uri"),
            flow: Flow::new(sip::Transport::Udp, remote),
        }
    }

    fn setup(registered: &[(&str, u16)]) -> (AgentManager, AcdQueues) {
        let mut q = QueueConfig::new("support");
        q.ring_timeout = Duration::from_secs(10);
        q.record = true;
        let m = AgentManager::spawn(
            ManagerOptions::default(),
            vec![q],
            vec![
                (AgentConfig::new("alice").serving("support"), "1001".into()),
                (AgentConfig::new("bob").serving("support"), "1002".into()),
            ],
            AcdRecords::disabled(),
        );
        let devices = FakeRegistrar(
            registered
                .iter()
                .map(|(u, p)| (u.to_string(), device(*p)))
                .collect(),
        );
        let service = AcdQueues::new(m.clone(), Arc::new(devices));
        (m, service)
    }

    async fn media() -> MediaRef {
        MediaRef {
            handler: bandwidth::HandlerId("h1".into()),
            client: media_api::MediaClient::new("http://127.0.0.1:9"),
            session: media_api::SessionId(1),
            caller_leg: media_api::LegId(1),
        }
    }

    async fn enqueue(service: &AcdQueues, contact: &str) -> mpsc::UnboundedReceiver<CallInput> {
        let (tx, rx) = mpsc::unbounded_channel();
        service.enqueue(EnqueueRequest {
            contact: contact.into(),
            entry: OpId(7),
            queue: Some("support".into()),
            priority: 0,
            agent: None,
            caller: "caller".into(),
            events: QueueEvents { tx },
            media: media().await,
        });
        rx
    }

    /// The next queue event that is not a position update.
    async fn next(rx: &mut mpsc::UnboundedReceiver<CallInput>) -> QueueEvent {
        loop {
            let input = tokio::time::timeout(Duration::from_secs(600), rx.recv())
                .await
                .expect("an event in time")
                .expect("open");
            match input {
                CallInput::Queue(QueueEvent::Position { .. }) => {}
                CallInput::Queue(ev) => return ev,
                CallInput::Webhook(e) => panic!("unexpected {e:?}"),
                CallInput::MediaLost => panic!("unexpected media loss"),
            }
        }
    }

    async fn login(m: &AgentManager, agent: &str) {
        m.agent_action(agent, AgentAction::Login { ready: true })
            .await
            .expect("login");
    }

    #[tokio::test(start_paused = true)]
    async fn an_offer_dials_the_registered_device_and_the_answer_is_confirmed() {
        let (m, service) = setup(&[("1001", 5090)]);
        login(&m, "alice").await;
        let mut rx = enqueue(&service, "c-1").await;
        let QueueEvent::Offer { entry, offer } = next(&mut rx).await else {
            panic!("expected an offer");
        };
        assert_eq!(entry, OpId(7));
        assert_eq!(offer.agent, "alice");
        assert_eq!(offer.target.to_string(), "sip:agent@127.0.0.1:5090");
        assert_eq!(offer.flow.remote.port(), 5090);
        assert!(offer.record);
        assert!(
            offer.ring_timeout > Duration::from_secs(10),
            "{:?}",
            offer.ring_timeout
        );
        offer.result.send(OfferResult::Answered).expect("reporter");
        match next(&mut rx).await {
            QueueEvent::Connected { agent, .. } => assert_eq!(agent, "alice"),
            other => panic!("expected Connected, got {other:?}"),
        }
        assert_eq!(m.agent_view("alice").await.expect("alice").state, "on_call");
        // The agent's BYE ends the call: wrap-up (0 s here, so straight to available).
        offer
            .result
            .send(OfferResult::Ended { by_agent: true })
            .expect("reporter");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while m.agent_view("alice").await.expect("alice").state != "available" {
            assert!(
                tokio::time::Instant::now() < deadline,
                "alice stays on call"
            );
            tokio::task::yield_now().await;
        }
        assert_eq!(m.audit().await, Ok(0));
    }

    #[tokio::test(start_paused = true)]
    async fn an_agent_without_a_device_is_unreachable_and_the_next_one_rings() {
        let (m, service) = setup(&[("1002", 5092)]);
        login(&m, "alice").await;
        tokio::time::advance(Duration::from_secs(1)).await;
        login(&m, "bob").await;
        let mut rx = enqueue(&service, "c-1").await;
        let QueueEvent::Offer { offer, .. } = next(&mut rx).await else {
            panic!("expected an offer");
        };
        assert_eq!(offer.agent, "bob", "alice has no registered phone");
        let alice = m.agent_view("alice").await.expect("alice");
        assert_eq!(
            (alice.state.as_str(), alice.reason.as_deref()),
            ("not_ready", Some("unreachable"))
        );
        // Bob's phone is busy: nobody else can take it; the contact keeps waiting.
        offer
            .result
            .send(OfferResult::Failed(486))
            .expect("reporter");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let stats = m.queue_stats("support").await.expect("queue");
            if stats.waiting == 1 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{stats:?}");
            tokio::task::yield_now().await;
        }
        assert_eq!(m.agent_view("bob").await.expect("bob").state, "available");
    }

    #[tokio::test(start_paused = true)]
    async fn the_ring_timeout_cancels_the_device_and_a_hangup_withdraws_the_contact() {
        let (m, service) = setup(&[("1001", 5090)]);
        login(&m, "alice").await;
        let mut rx = enqueue(&service, "c-1").await;
        let QueueEvent::Offer { offer, .. } = next(&mut rx).await else {
            panic!("expected an offer");
        };
        tokio::time::advance(Duration::from_secs(10)).await;
        match next(&mut rx).await {
            QueueEvent::Cancel { agent, .. } => assert_eq!(agent, offer.agent),
            other => panic!("expected Cancel, got {other:?}"),
        }
        // The contact's CANCEL gets 487: reported as no answer, which changes nothing.
        offer.result.send(OfferResult::NoAnswer).expect("reporter");
        service.dequeue("c-1", OpId(7), DequeueReason::CallerHungUp);
        assert_eq!(m.audit().await, Ok(0));
        let stats = m.queue_stats("support").await.expect("queue");
        assert_eq!((stats.offered, stats.abandoned), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_contact_task_that_ends_releases_its_contact() {
        let (m, service) = setup(&[("1001", 5090)]);
        let rx = enqueue(&service, "c-1").await;
        // Nobody logged in: no agents.
        drop(rx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while m.audit().await != Ok(0) {
            assert!(tokio::time::Instant::now() < deadline);
            tokio::task::yield_now().await;
        }
    }
}
