//! Dialog state (RFC 3261 §12): identifiers, route set, remote target, sequence numbers, and
//! the construction of in-dialog requests (§12.2.1.1) and of the ACK for a 2xx (§13.2.2.4).
//!
//! A [`Dialog`] is plain data plus pure functions; [`crate::endpoint::Endpoint`] owns the
//! dialogs and drives them with the transaction layer (2xx retransmission, glare, BYE, 481).

use std::time::Instant;

use bytes::Bytes;

use crate::error::Error;
use crate::header::{Header, HeaderName};
use crate::message::{Method, Request, Response};
use crate::routing::{NextHop, uri_next_hop};
use crate::text::Text;
use crate::transaction::{ClientTxId, ServerTxId};
use crate::transport::Flow;
use crate::typed::NameAddr;
use crate::uri::{Scheme, Uri};

/// A dialog handle, unique for the life of an [`crate::endpoint::Endpoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId(pub u64);

impl std::fmt::Display for DialogId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dialog#{}", self.0)
    }
}

/// Which side of the dialog-creating INVITE we were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the INVITE.
    Uac,
    /// We received the INVITE.
    Uas,
}

/// Dialog states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// Established by a 2xx.
    Confirmed,
    /// We sent BYE and wait for its response; new requests from the peer get 481.
    Terminating,
}

/// The key that identifies a dialog on the wire: Call-ID, local tag, remote tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogKey {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// A 2xx to an INVITE that we keep re-sending until its ACK arrives (RFC 3261 §13.3.1.4).
#[derive(Clone, Debug)]
pub(crate) struct Unacked2xx {
    pub(crate) cseq: u32,
    pub(crate) payload: Bytes,
    pub(crate) flow: Flow,
    pub(crate) interval: std::time::Duration,
    pub(crate) next: Option<Instant>,
    pub(crate) give_up: Instant,
}

/// One dialog.
#[derive(Clone, Debug)]
pub struct Dialog {
    pub(crate) id: DialogId,
    pub(crate) role: Role,
    pub(crate) state: DialogState,
    pub(crate) call_id: Text,
    pub(crate) local_tag: String,
    pub(crate) remote_tag: String,
    pub(crate) local_uri: NameAddr,
    pub(crate) remote_uri: NameAddr,
    pub(crate) local_seq: u32,
    pub(crate) remote_seq: Option<u32>,
    pub(crate) remote_target: Uri,
    pub(crate) route_set: Vec<NameAddr>,
    pub(crate) local_contact: NameAddr,
    pub(crate) secure: bool,
    pub(crate) flow: Flow,
    pub(crate) pending_outgoing_invite: Option<ClientTxId>,
    pub(crate) pending_incoming_invite: Option<ServerTxId>,
    pub(crate) unacked_2xx: Option<Unacked2xx>,
    pub(crate) last_ack: Option<(u32, Bytes)>,
}

fn tag_of(n: &NameAddr, what: &'static str) -> Result<String, Error> {
    n.tag().map(str::to_string).ok_or(Error::InvalidValue {
        what,
        reason: "missing tag".into(),
    })
}

impl Dialog {
    /// The dialog a UAS creates by answering `invite` with a 2xx (RFC 3261 §12.1.1). The
    /// 2xx's To must carry our tag; `flow` is where the INVITE came from.
    pub fn new_uas(
        id: DialogId,
        invite: &Request,
        response: &Response,
        local_contact: NameAddr,
        local_seq: u32,
        flow: Flow,
    ) -> Result<Dialog, Error> {
        let h = invite.headers();
        let remote_uri = h.from()?;
        let local_uri = response.headers().to()?;
        let cseq = h.cseq()?.seq;
        let remote_target = h.contact()?.ok_or(Error::Missing("Contact"))?.uri().clone();
        Ok(Dialog {
            id,
            role: Role::Uas,
            state: DialogState::Confirmed,
            call_id: h.call_id_text()?,
            local_tag: tag_of(&local_uri, "To")?,
            remote_tag: tag_of(&remote_uri, "From")?,
            local_uri,
            remote_uri,
            local_seq,
            remote_seq: Some(cseq),
            remote_target,
            route_set: h.record_routes()?,
            local_contact,
            secure: invite.uri().scheme() == &Scheme::Sips,
            flow,
            pending_outgoing_invite: None,
            pending_incoming_invite: None,
            unacked_2xx: None,
            last_ack: None,
        })
    }

    /// The dialog a UAC creates from a 2xx to its `invite` (RFC 3261 §12.1.2): route set is
    /// the Record-Route of the response, reversed; `flow` is where the INVITE was sent.
    pub fn new_uac(
        id: DialogId,
        invite: &Request,
        response: &Response,
        local_contact: NameAddr,
        flow: Flow,
    ) -> Result<Dialog, Error> {
        let h = invite.headers();
        let local_uri = h.from()?;
        let remote_uri = response.headers().to()?;
        let cseq = h.cseq()?.seq;
        // A 2xx must carry Contact; if one does not, the Request-URI is the best target left.
        let remote_target = response
            .headers()
            .contact()?
            .map_or_else(|| invite.uri().clone(), |c| c.uri().clone());
        let mut route_set = response.headers().record_routes()?;
        route_set.reverse();
        Ok(Dialog {
            id,
            role: Role::Uac,
            state: DialogState::Confirmed,
            call_id: h.call_id_text()?,
            local_tag: tag_of(&local_uri, "From")?,
            remote_tag: tag_of(&remote_uri, "To")?,
            local_uri,
            remote_uri,
            local_seq: cseq,
            remote_seq: None,
            remote_target,
            route_set,
            local_contact,
            secure: invite.uri().scheme() == &Scheme::Sips,
            flow,
            pending_outgoing_invite: None,
            pending_incoming_invite: None,
            unacked_2xx: None,
            last_ack: None,
        })
    }

    /// The handle.
    pub fn id(&self) -> DialogId {
        self.id
    }

    /// Which side created it.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The state.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// The wire identity.
    pub fn key(&self) -> DialogKey {
        DialogKey {
            call_id: self.call_id.to_string(),
            local_tag: self.local_tag.clone(),
            remote_tag: self.remote_tag.clone(),
        }
    }

    /// Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Our tag.
    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }

    /// The peer's tag.
    pub fn remote_tag(&self) -> &str {
        &self.remote_tag
    }

    /// Our URI (From of our requests), with tag.
    pub fn local_uri(&self) -> &NameAddr {
        &self.local_uri
    }

    /// The peer's URI (To of our requests), with tag.
    pub fn remote_uri(&self) -> &NameAddr {
        &self.remote_uri
    }

    /// The last CSeq number we used.
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// The last CSeq number the peer used, if it sent any request.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// Where in-dialog requests are addressed (the peer's Contact).
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The route set, in the order requests carry it.
    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    /// Our Contact in this dialog.
    pub fn local_contact(&self) -> &NameAddr {
        &self.local_contact
    }

    /// Whether the dialog was created by a `sips:` Request-URI.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The flow in-dialog requests are sent on: where the dialog-creating INVITE came from
    /// (UAS) or went to (UAC). This follows the peer through NAT, which its Contact may not;
    /// [`Dialog::next_hop`] gives the RFC 3261 hop instead.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    /// The next hop per RFC 3261 (first route, else remote target).
    pub fn next_hop(&self) -> Result<NextHop, Error> {
        match self.route_set.first() {
            Some(r) => uri_next_hop(r.uri()),
            None => uri_next_hop(&self.remote_target),
        }
    }

    /// Whether an INVITE transaction of this dialog is in progress in either direction
    /// (including a 2xx still waiting for its ACK), so that a new INVITE must wait.
    pub fn invite_pending(&self) -> bool {
        self.pending_outgoing_invite.is_some()
            || self.pending_incoming_invite.is_some()
            || self.unacked_2xx.is_some()
    }

    /// Builds an in-dialog request (RFC 3261 §12.2.1.1) with the given CSeq number: Request-URI
    /// and Route from the route set and remote target (strict routing handled), To/From with
    /// tags, Call-ID, CSeq, Max-Forwards, Contact. No Via: the endpoint adds it on send.
    pub fn build_request(&self, method: Method, seq: u32) -> Result<Request, Error> {
        let (uri, routes): (Uri, Vec<String>) = match self.route_set.first() {
            Some(first) if !first.uri().lr() => {
                // Strict router: it becomes the Request-URI; the remote target goes last.
                let mut routes: Vec<String> = self.route_set[1..]
                    .iter()
                    .map(|r| r.as_str().to_string())
                    .collect();
                routes.push(format!("<{}>", self.remote_target));
                (first.uri().without_headers(), routes)
            }
            _ => (
                self.remote_target.without_headers(),
                self.route_set
                    .iter()
                    .map(|r| r.as_str().to_string())
                    .collect(),
            ),
        };
        let mut req = Request::new(method.clone(), uri);
        let h = req.headers_mut();
        for r in routes {
            h.push(Header::new(HeaderName::Route, &r)?);
        }
        h.append(HeaderName::MaxForwards, "70")?;
        h.append(HeaderName::From, self.local_uri.as_str())?;
        h.append(HeaderName::To, self.remote_uri.as_str())?;
        h.push(Header::new(HeaderName::CallId, &self.call_id)?);
        h.append(HeaderName::CSeq, &format!("{seq} {method}"))?;
        if method != Method::Bye && method != Method::Ack && method != Method::Cancel {
            h.append(HeaderName::Contact, self.local_contact.as_str())?;
        }
        req.set_body(None, Bytes::new())?;
        Ok(req)
    }

    /// Builds the next in-dialog request, taking the next local CSeq number.
    pub fn next_request(&mut self, method: Method) -> Result<Request, Error> {
        let seq = self.local_seq.wrapping_add(1).max(1);
        let req = self.build_request(method, seq)?;
        self.local_seq = seq;
        Ok(req)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `seq` (RFC 3261 §13.2.2.4).
    pub fn build_ack(&self, seq: u32) -> Result<Request, Error> {
        self.build_request(Method::Ack, seq)
    }

    /// Checks the CSeq of a request from the peer (RFC 3261 §12.2.2): lower than the last one
    /// is out of order (answer 500). ACK and CANCEL do not advance it.
    pub fn accept_remote_seq(&mut self, req: &Request) -> Result<(), Error> {
        let seq = req.headers().cseq()?.seq;
        if matches!(req.method(), Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if let Some(last) = self.remote_seq
            && seq < last
        {
            return Err(Error::InvalidState(
                "request CSeq is lower than the dialog's",
            ));
        }
        self.remote_seq = Some(seq);
        Ok(())
    }

    /// Updates the remote target from the Contact of a target-refresh request or response.
    pub fn refresh_target(&mut self, contact: Option<NameAddr>) {
        if let Some(c) = contact {
            self.remote_target = c.uri().clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{RequestBuilder, response_to};
    use crate::message::StatusCode;
    use crate::typed::Via;

    fn invite() -> Request {
        RequestBuilder::new(
            Method::Invite,
            Uri::parse("sip:1000@pbx.example.com").unwrap(),
        )
        .via(&Via::parse("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1").unwrap())
        .from(&NameAddr::parse("<sip:alice@example.com>;tag=alice1").unwrap())
        .to(&NameAddr::parse("<sip:1000@pbx.example.com>").unwrap())
        .call_id("d1@192.0.2.1")
        .cseq(10)
        .contact(&NameAddr::parse("<sip:alice@192.0.2.1:5062>").unwrap())
        .header(
            HeaderName::RecordRoute,
            "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>",
        )
        .build()
        .unwrap()
    }

    fn flow() -> Flow {
        Flow::udp("192.0.2.1:5062".parse().unwrap())
    }

    fn contact() -> NameAddr {
        NameAddr::parse("<sip:pbx@203.0.113.1>").unwrap()
    }

    #[test]
    fn uas_dialog_keeps_record_route_order_and_uses_the_callers_contact() {
        let inv = invite();
        let ok = response_to(&inv, StatusCode::OK, Some("pbx1"));
        let mut d = Dialog::new_uas(DialogId(1), &inv, &ok, contact(), 100, flow()).unwrap();
        assert_eq!(d.local_tag(), "pbx1");
        assert_eq!(d.remote_tag(), "alice1");
        assert_eq!(d.remote_seq(), Some(10));
        let bye = d.next_request(Method::Bye).unwrap();
        assert_eq!(bye.uri().as_str(), "sip:alice@192.0.2.1:5062");
        let routes: Vec<_> = bye
            .headers()
            .routes()
            .unwrap()
            .iter()
            .map(|r| r.uri().to_string())
            .collect();
        assert_eq!(routes, ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]);
        assert_eq!(bye.headers().from().unwrap().tag(), Some("pbx1"));
        assert_eq!(bye.headers().to().unwrap().tag(), Some("alice1"));
        assert_eq!(bye.headers().cseq().unwrap().seq, 101);
        assert!(bye.headers().get(&HeaderName::Contact).is_none());
    }

    #[test]
    fn uac_dialog_reverses_record_route() {
        let inv = invite();
        let mut ok = response_to(&inv, StatusCode::OK, Some("bob1"));
        ok.headers_mut()
            .append(
                HeaderName::RecordRoute,
                "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>",
            )
            .unwrap();
        ok.headers_mut()
            .append(HeaderName::Contact, "<sip:bob@198.51.100.2>")
            .unwrap();
        let mut d = Dialog::new_uac(DialogId(2), &inv, &ok, contact(), flow()).unwrap();
        let routes: Vec<_> = d.route_set().iter().map(|r| r.uri().to_string()).collect();
        assert_eq!(routes, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
        let ack = d.build_ack(10).unwrap();
        assert_eq!(ack.headers().cseq().unwrap().to_string(), "10 ACK");
        assert_eq!(ack.uri().as_str(), "sip:bob@198.51.100.2");
        let reinvite = d.next_request(Method::Invite).unwrap();
        assert_eq!(reinvite.headers().cseq().unwrap().seq, 11);
        assert_eq!(reinvite.headers().contact().unwrap().unwrap(), contact());
    }

    #[test]
    fn strict_router_becomes_the_request_uri() {
        let inv = invite();
        let mut ok = response_to(&inv, StatusCode::OK, Some("bob1"));
        ok.headers_mut()
            .append(HeaderName::RecordRoute, "<sip:strict.example.com>")
            .unwrap();
        ok.headers_mut()
            .append(HeaderName::Contact, "<sip:bob@198.51.100.2>")
            .unwrap();
        let d = Dialog::new_uac(DialogId(3), &inv, &ok, contact(), flow()).unwrap();
        let bye = d.build_request(Method::Bye, 11).unwrap();
        assert_eq!(bye.uri().as_str(), "sip:strict.example.com");
        let routes: Vec<_> = bye
            .headers()
            .routes()
            .unwrap()
            .iter()
            .map(|r| r.uri().to_string())
            .collect();
        assert_eq!(routes, ["sip:bob@198.51.100.2"]);
    }

    #[test]
    fn lower_remote_cseq_is_out_of_order() {
        let inv = invite();
        let ok = response_to(&inv, StatusCode::OK, Some("pbx1"));
        let mut d = Dialog::new_uas(DialogId(1), &inv, &ok, contact(), 1, flow()).unwrap();
        let mut bye = inv.clone();
        bye.headers_mut().set(HeaderName::CSeq, "9 INVITE").unwrap();
        assert!(d.accept_remote_seq(&bye).is_err());
        bye.headers_mut()
            .set(HeaderName::CSeq, "11 INVITE")
            .unwrap();
        assert!(d.accept_remote_seq(&bye).is_ok());
        assert_eq!(d.remote_seq(), Some(11));
    }

    #[test]
    fn dialogs_need_tags_and_a_uas_needs_the_callers_contact() {
        let inv = invite();
        let no_tag = response_to(&inv, StatusCode::OK, None);
        assert!(Dialog::new_uas(DialogId(1), &inv, &no_tag, contact(), 1, flow()).is_err());
        let ok = response_to(&inv, StatusCode::OK, Some("t"));
        let d = Dialog::new_uac(DialogId(1), &inv, &ok, contact(), flow()).unwrap();
        assert_eq!(
            d.remote_target(),
            inv.uri(),
            "no Contact in the 2xx: fall back to the Request-URI"
        );
        let mut no_contact = inv.clone();
        no_contact.headers_mut().remove_all(&HeaderName::Contact);
        assert_eq!(
            Dialog::new_uas(DialogId(1), &no_contact, &ok, contact(), 1, flow()).unwrap_err(),
            Error::Missing("Contact")
        );
    }
}
