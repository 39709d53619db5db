//! An agent's conference: a third party (a SIP URI) dialled on the contact's media session
//! and, once it answers, mixed with the customer and the agent so that each hears the other
//! two.
//!
//! * While the third party rings, customer and agent go on talking (their route stays).
//! * On answer the route gives way to a mix of the three legs; the agent's request is
//!   answered then (connected, or why not: busy, no answer, unreachable).
//! * The agent holds: the mix gives way to a route customer ↔ third party (they go on
//!   talking); resumed, the mix comes back.
//! * The third party hangs up, or the agent lets it go: the mix gives way to the route
//!   customer ↔ agent again. The agent's leg ending (hang-up, transfer, the customer gone)
//!   takes the third party with it.
//!
//! Limits: a stereo call recording keeps recording customer and agent only; a re-INVITE
//! from the third party is declined (488: the session stays as it is); no video.

use media_api::{CreateMix, CreateRoute};
use sip::{StatusCode, Uri};
use tokio::sync::oneshot;

use super::{Call, Customer, OutState, Outbound, Purpose, SigCommand, TRANSFER_RING_TIMEOUT};
use crate::queue::{CallRequestError, ConferenceAction, ConferenceState, ConferenceView};

/// The answer to an agent's conference request.
pub(super) type ConferenceReply = oneshot::Sender<Result<ConferenceView, CallRequestError>>;

/// A conference in progress (the third party answered).
pub(super) struct Conference {
    /// Customer, agent and third party mixed (absent while the agent holds).
    pub mix: Option<media_api::MixId>,
    /// Customer ↔ third party while the agent holds.
    pub held_route: Option<media_api::RouteId>,
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
        if !matches!(&self.outbound, Some(ob) if ob.bridged.is_some()) {
            let _ = reply.send(Err(CallRequestError::Conflict(
                "the call is on hold: resume it first".into(),
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
        let (Some(m), Some(agent)) = (&self.media, &mut self.outbound) else {
            return;
        };
        // Audio only: a video leg offered with the dial goes.
        if let Some(v) = ob.video.take() {
            let _ = m.client.remove_leg(m.session, v.id).await;
        }
        let Some(route) = agent.bridged else {
            // The agent held meanwhile: no conference to join.
            self.cx.sig.send(SigCommand::Bye { dialog });
            let _ = m.client.remove_leg(m.session, ob.leg.id).await;
            let reason = "the call went on hold while the third party rang";
            self.third_failed(ob.purpose, reason);
            return;
        };
        if let Err(e) = m.client.delete_route(m.session, route).await {
            tracing::warn!(error = %e, "conference: route not removed");
        }
        agent.bridged = None;
        let mix = CreateMix {
            legs: vec![m.leg.id, agent.leg.id, ob.leg.id],
        };
        let mixed = m.client.create_mix(m.session, &mix).await;
        let Purpose::Conference { uri, reply } = &mut ob.purpose else {
            return;
        };
        let (uri, reply) = (uri.clone(), reply.take());
        match mixed {
            Ok(mix) => {
                tracing::info!(%uri, %dialog, "conference: three parties mixed");
                self.conference = Some(Conference {
                    mix: Some(mix.id),
                    held_route: None,
                });
                self.third = Some(ob);
                self.set_services(|s| {
                    s.mix_participants = 1;
                });
                self.set_state("conference");
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(self.conference_view(&uri, ConferenceState::Connected)));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "conference: mix refused");
                self.cx.sig.send(SigCommand::Bye { dialog });
                let _ = m.client.remove_leg(m.session, ob.leg.id).await;
                self.after_third(false).await;
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
        let mut holding = false;
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
        if let Some(m) = &self.media {
            if let Some(c) = self.conference.take() {
                if let Some(mix) = c.mix {
                    let _ = m.client.delete_mix(m.session, mix).await;
                }
                if let Some(route) = c.held_route {
                    holding = true;
                    let _ = m.client.delete_route(m.session, route).await;
                }
            }
            let _ = m.client.remove_leg(m.session, ob.leg.id).await;
        }
        self.set_services(|s| s.mix_participants = 0);
        let reason = "the call ended before the third party answered";
        self.third_failed(ob.purpose, reason);
        holding
    }

    /// After the third party left: customer ↔ agent again, or music when the agent holds.
    pub(super) async fn after_third(&mut self, agent_holding: bool) {
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
            if let Some(route) = c.held_route.take() {
                let _ = m.client.delete_route(m.session, route).await;
            }
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

    /// Whether `dialog` is the third party's.
    pub(super) fn is_third_dialog(&self, dialog: sip::dialog::DialogId) -> bool {
        matches!(&self.third, Some(Outbound { state: OutState::Connected(d), .. }) if *d == dialog)
    }

    /// A re-INVITE from the third party: declined, the session stays as it is.
    pub(super) fn third_reinvite_reply() -> super::Reply {
        super::Reply::status(StatusCode::NOT_ACCEPTABLE_HERE)
    }
}
