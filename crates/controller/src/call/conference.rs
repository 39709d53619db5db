//! An agent's third party: a SIP URI dialled on the contact's media session, for a
//! conference (the three hear each other), a consultation (the agent talks to it while the
//! customer holds) and a consultative transfer (the agent leaves them talking).
//!
//! What each leg hears, by the agent's state once the third party answered:
//!
//! | agent            | on the media handler                              | live state   |
//! |------------------|---------------------------------------------------|--------------|
//! | talking          | mix of customer, agent, third party               | `conference` |
//! | holding          | customer ↔ third party (they talk on)             | `on_hold`    |
//! | held before dial | agent ↔ third party; music to the customer        | `consulting` |
//! | left             | customer ↔ third party, agent hung up (wrap-up)   | `bridged`    |
//!
//! * While the third party rings, customer and agent go on as they were.
//! * The agent's request is answered once the third party answered (conference or
//!   consultation), or why it did not join: busy, no answer, unreachable.
//! * Resuming a consultation makes it a conference. The third party hanging up, or the
//!   agent letting it go, gives customer ↔ agent back (or the music, when holding). The
//!   agent's leg ending (hang-up, blind transfer, the customer gone) takes the third party
//!   with it; leaving (`Leave`) hands the customer over instead.
//!
//! A call recording of the queue or the agent follows the parties: a mono mix of the three
//! while the third party is in, then stereo again (customer and agent, or customer and
//! third party once the agent left), each part a file of its own in the call record.
//!
//! Limits: a re-INVITE from the third party is declined (488: the session stays as it is);
//! no video.

use media_api::{CreateMix, CreateRoute, RecordSource};
use sip::{StatusCode, Uri};
use tokio::sync::oneshot;

use flow::Timestamp;

use super::{
    Call, Customer, OfferResult, OutState, Outbound, Purpose, SigCommand, TRANSFER_RING_TIMEOUT,
};
use crate::queue::{CallRequestError, ConferenceAction, ConferenceState, ConferenceView};

/// The answer to an agent's conference request.
pub(super) type ConferenceReply = oneshot::Sender<Result<ConferenceView, CallRequestError>>;

/// The media of an answered third party (at most one of these is set).
pub(super) struct Conference {
    /// Customer, agent and third party mixed.
    pub mix: Option<media_api::MixId>,
    /// Customer ↔ third party while the agent holds.
    pub held_route: Option<media_api::RouteId>,
    /// Agent ↔ third party while the customer holds (a consultation).
    pub consult_route: Option<media_api::RouteId>,
}

impl Call {
    fn conference_view(&self, uri: &str, state: ConferenceState) -> ConferenceView {
        ConferenceView {
            contact: self.id.clone(),
            uri: uri.to_string(),
            state,
        }
    }

    /// The agent's desktop adds a third party or lets it go.
    pub(super) async fn agent_conference(
        &mut self,
        agent: &str,
        action: ConferenceAction,
        reply: ConferenceReply,
    ) {
        let talking = matches!(
            &self.outbound,
            Some(Outbound {
                purpose: Purpose::Agent { agent: a, .. },
                state: OutState::Connected(_),
                ..
            }) if a == agent
        );
        if !talking {
            let _ = reply.send(Err(CallRequestError::Conflict(format!(
                "agent {agent} is not connected to this call"
            ))));
            return;
        }
        match action {
            ConferenceAction::Add { uri } => self.add_third(uri, reply).await,
            ConferenceAction::Leave => self.leave_to_third(agent, reply).await,
            ConferenceAction::Drop => {
                let Some(uri) = self.third_uri() else {
                    let _ = reply.send(Err(CallRequestError::Conflict(
                        "no third party is in the call".into(),
                    )));
                    return;
                };
                let holding = self.end_third(true).await;
                self.after_third(holding).await;
                let _ = reply.send(Ok(self.conference_view(&uri, ConferenceState::Ended)));
            }
        }
    }

    fn third_uri(&self) -> Option<String> {
        match &self.third {
            Some(Outbound {
                purpose: Purpose::Conference { uri, .. },
                ..
            }) => Some(uri.clone()),
            _ => None,
        }
    }

    async fn add_third(&mut self, uri: String, reply: ConferenceReply) {
        if self.third.is_some() {
            let _ = reply.send(Err(CallRequestError::Conflict(
                "a third party is in the call already".into(),
            )));
            return;
        }
        let target = match Uri::parse(&uri) {
            Ok(u) if u.is_sip() => u,
            _ => {
                let _ = reply.send(Err(CallRequestError::Conflict(format!(
                    "{uri:?} is not a sip: or sips: URI"
                ))));
                return;
            }
        };
        let purpose = Purpose::Conference {
            uri: uri.clone(),
            reply: Some(reply),
        };
        match self
            .dial_leg(purpose, target, None, TRANSFER_RING_TIMEOUT)
            .await
        {
            Ok(ob) => {
                tracing::info!(%uri, "conference: dialling the third party");
                self.third = Some(ob);
            }
            Err((purpose, reason)) => self.third_failed(purpose, &reason),
        }
    }

    /// The third party's dial failed (or ended before it answered): answer the request.
    pub(super) fn third_failed(&mut self, purpose: Purpose, reason: &str) {
        if let Purpose::Conference { uri, reply } = purpose {
            tracing::info!(%uri, %reason, "conference: the third party did not join");
            if let Some(reply) = reply {
                let _ = reply.send(Err(CallRequestError::Dial(format!("{uri}: {reason}"))));
            }
        }
    }

    /// The third party answered (its leg is updated): mix the three.
    pub(super) async fn third_answered(&mut self, mut ob: Outbound) {
        let OutState::Connected(dialog) = ob.state else {
            return;
        };
        if self.outbound.is_none() {
            // The agent's leg ended while the third party rang: nobody to join.
            self.cx.sig.send(SigCommand::Bye { dialog });
            if let Some(m) = &self.media {
                let _ = m.client.remove_leg(m.session, ob.leg.id).await;
            }
            self.third_failed(ob.purpose, "the agent left while it rang");
            return;
        }
        let (Some(m), Some(agent)) = (&self.media, &mut self.outbound) else {
            return;
        };
        // Audio only: a video leg offered with the dial goes.
        if let Some(v) = ob.video.take() {
            let _ = m.client.remove_leg(m.session, v.id).await;
        }
        // The agent talks with the customer: mix the three. The agent holds the customer:
        // a consultation, agent ↔ third party, the customer keeps the music.
        let consult = agent.bridged.is_none();
        let made = if let Some(route) = agent.bridged {
            if let Err(e) = m.client.delete_route(m.session, route).await {
                tracing::warn!(error = %e, "conference: route not removed");
            }
            agent.bridged = None;
            let mix = CreateMix {
                legs: vec![m.leg.id, agent.leg.id, ob.leg.id],
            };
            m.client
                .create_mix(m.session, &mix)
                .await
                .map(|x| Conference {
                    mix: Some(x.id),
                    held_route: None,
                    consult_route: None,
                })
        } else {
            let route = CreateRoute {
                a: agent.leg.id,
                b: ob.leg.id,
            };
            m.client
                .create_route(m.session, &route)
                .await
                .map(|r| Conference {
                    mix: None,
                    held_route: None,
                    consult_route: Some(r.id),
                })
        };
        let Purpose::Conference { uri, reply } = &mut ob.purpose else {
            return;
        };
        let (uri, reply) = (uri.clone(), reply.take());
        match made {
            Ok(c) => {
                let (state, view) = if consult {
                    ("consulting", ConferenceState::Consulting)
                } else {
                    ("conference", ConferenceState::Connected)
                };
                tracing::info!(%uri, %dialog, state, "third party joined");
                let legs = self
                    .media
                    .as_ref()
                    .zip(self.outbound.as_ref())
                    .map(|(m, a)| vec![m.leg.id, a.leg.id, ob.leg.id]);
                self.conference = Some(c);
                self.third = Some(ob);
                // A call recording covers all three from here.
                if let Some(legs) = legs {
                    self.recording_follows(RecordSource::Mix { legs }).await;
                }
                self.set_services(|s| {
                    s.mix_participants = 1;
                });
                self.set_state(state);
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(self.conference_view(&uri, view)));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "conference: mix or route refused");
                self.cx.sig.send(SigCommand::Bye { dialog });
                if let Some(m) = &self.media {
                    let _ = m.client.remove_leg(m.session, ob.leg.id).await;
                }
                self.after_third(consult).await;
                if let Some(reply) = reply {
                    let _ = reply.send(Err(CallRequestError::Media(e.to_string())));
                }
            }
        }
    }

    /// Ends the third party's part: CANCEL or BYE when `hang_up` (else it hung up itself),
    /// its leg removed, the mix (or the held route) gone. Answers whether the agent was
    /// holding; the caller decides what the customer hears next ([`Call::after_third`]).
    pub(super) async fn end_third(&mut self, hang_up: bool) -> bool {
        let Some(ob) = self.third.take() else {
            return false;
        };
        match ob.state {
            OutState::Ringing { tx, .. } => {
                if hang_up {
                    self.cx.sig.send(SigCommand::Cancel { tx });
                }
            }
            OutState::Connected(dialog) => {
                if hang_up {
                    self.cx.sig.send(SigCommand::Bye { dialog });
                }
            }
        }
        let holding = self.dismantle_conference().await;
        if let Some(m) = &self.media {
            let _ = m.client.remove_leg(m.session, ob.leg.id).await;
        }
        self.set_services(|s| s.mix_participants = 0);
        let reason = "the call ended before the third party answered";
        self.third_failed(ob.purpose, reason);
        holding
    }

    /// Takes the conference's mix or routes down; answers whether the agent was out of the
    /// customer's conversation (holding, or consulting).
    async fn dismantle_conference(&mut self) -> bool {
        let (Some(m), Some(c)) = (&self.media, self.conference.take()) else {
            return false;
        };
        if let Some(mix) = c.mix {
            let _ = m.client.delete_mix(m.session, mix).await;
        }
        let mut holding = false;
        for route in [c.held_route, c.consult_route].into_iter().flatten() {
            holding = true;
            let _ = m.client.delete_route(m.session, route).await;
        }
        holding
    }

    /// After the third party left: customer ↔ agent again, or music when the agent holds.
    pub(super) async fn after_third(&mut self, agent_holding: bool) {
        if let (Some(m), Some(agent)) = (&self.media, &self.outbound) {
            let source = RecordSource::Stereo {
                left: m.leg.id,
                right: agent.leg.id,
            };
            self.recording_follows(source).await;
        }
        if agent_holding {
            let req = self.hold_music();
            if let Some(m) = &self.media
                && let Err(e) = m.client.play(m.session, m.leg.id, &req).await
            {
                tracing::warn!(error = %e, "conference over: hold music");
            }
            return;
        }
        let (Some(m), Some(agent)) = (&self.media, &mut self.outbound) else {
            return;
        };
        if agent.bridged.is_some() || !matches!(agent.state, OutState::Connected(_)) {
            return;
        }
        let route = CreateRoute {
            a: m.leg.id,
            b: agent.leg.id,
        };
        match m.client.create_route(m.session, &route).await {
            Ok(r) => agent.bridged = Some(r.id),
            Err(e) => tracing::warn!(error = %e, "conference over: route not restored"),
        }
        if matches!(self.customer, Customer::Answered(_)) {
            self.set_state("bridged");
        }
    }

    /// The agent holds (`hold`) or resumes while in a conference: customer and third party
    /// talk on their own meanwhile. `false` when there is no conference (the caller does
    /// the plain hold).
    pub(super) async fn conference_hold(&mut self, hold: bool) -> bool {
        let (Some(m), Some(c), Some(agent), Some(third)) = (
            &self.media,
            &mut self.conference,
            &self.outbound,
            &self.third,
        ) else {
            return false;
        };
        if hold {
            if let Some(mix) = c.mix.take() {
                let _ = m.client.delete_mix(m.session, mix).await;
                let route = CreateRoute {
                    a: m.leg.id,
                    b: third.leg.id,
                };
                match m.client.create_route(m.session, &route).await {
                    Ok(r) => c.held_route = Some(r.id),
                    Err(e) => tracing::warn!(error = %e, "conference hold: route not made"),
                }
            }
            self.set_state("on_hold");
        } else {
            for route in [c.held_route.take(), c.consult_route.take()]
                .into_iter()
                .flatten()
            {
                let _ = m.client.delete_route(m.session, route).await;
            }
            // A consultation's customer had music.
            let _ = m.client.stop_play(m.session, m.leg.id).await;
            if c.mix.is_none() {
                let mix = CreateMix {
                    legs: vec![m.leg.id, agent.leg.id, third.leg.id],
                };
                match m.client.create_mix(m.session, &mix).await {
                    Ok(x) => c.mix = Some(x.id),
                    Err(e) => tracing::warn!(error = %e, "conference resume: mix refused"),
                }
            }
            self.set_state("conference");
        }
        true
    }

    /// The agent leaves its answered third party with the customer (a consultative
    /// transfer): customer ↔ third party, the agent's leg hung up and reported like the
    /// agent's own hang-up (the ACD puts it in wrap-up). The third party becomes the
    /// contact's other side: its hang-up ends the call, as the customer's ends it.
    async fn leave_to_third(&mut self, agent: &str, reply: ConferenceReply) {
        let answered = matches!(
            &self.third,
            Some(Outbound {
                state: OutState::Connected(_),
                ..
            })
        );
        let (Some(uri), true) = (self.third_uri(), answered) else {
            let _ = reply.send(Err(CallRequestError::Conflict(
                "no third party has answered: nobody to leave the customer with".into(),
            )));
            return;
        };
        // Routed customer ↔ third party first: should that fail, the agent stays.
        let holding = self.dismantle_conference().await;
        let (Some(m), Some(third)) = (&self.media, &mut self.third) else {
            return;
        };
        let _ = m.client.stop_play(m.session, m.leg.id).await;
        let route = CreateRoute {
            a: m.leg.id,
            b: third.leg.id,
        };
        match m.client.create_route(m.session, &route).await {
            Ok(r) => third.bridged = Some(r.id),
            Err(e) => {
                tracing::warn!(error = %e, "leave: customer and third party not routed");
                self.end_third(true).await;
                self.after_third(holding).await;
                let _ = reply.send(Err(CallRequestError::Media(e.to_string())));
                return;
            }
        }
        let (Some(mut third), Some(ob)) = (self.third.take(), self.outbound.take()) else {
            return;
        };
        if let OutState::Connected(dialog) = ob.state {
            self.cx.sig.send(SigCommand::Bye { dialog });
        }
        if let Purpose::Agent { result, .. } = &ob.purpose {
            let _ = result.send(OfferResult::Ended { by_agent: true });
        }
        if let Some(m) = &self.media {
            let _ = m.client.remove_leg(m.session, ob.leg.id).await;
        }
        // A call recording goes on with customer (left) and third party (right).
        if let Some(m) = &self.media {
            let source = RecordSource::Stereo {
                left: m.leg.id,
                right: third.leg.id,
            };
            self.recording_follows(source).await;
        }
        let op = self.next_transfer_entry();
        third.purpose = Purpose::Transfer {
            op,
            uri: uri.clone(),
        };
        self.outbound = Some(third);
        self.current_play = None;
        self.set_services(|s| {
            s.mix_participants = 0;
            s.route = true;
            s.play = false;
        });
        self.records.path_step(
            &format!("agent {agent} left the call to {uri}"),
            Timestamp::now(),
        );
        tracing::info!(%agent, %uri, "agent left: customer and third party talk on");
        self.set_state("bridged");
        let _ = reply.send(Ok(self.conference_view(&uri, ConferenceState::AgentLeft)));
    }

    /// Whether `dialog` is the third party's.
    pub(super) fn is_third_dialog(&self, dialog: sip::dialog::DialogId) -> bool {
        matches!(&self.third, Some(Outbound { state: OutState::Connected(d), .. }) if *d == dialog)
    }

    /// A re-INVITE from the third party: declined, the session stays as it is.
    pub(super) fn third_reinvite_reply() -> super::Reply {
        super::Reply::status(StatusCode::NOT_ACCEPTABLE_HERE)
    }
}
