//! Two endpoints talking over a simulated network with a virtual clock: calls, CANCEL, BYE,
//! re-INVITE (hold/resume), glare, 481, lost ACKs and 2xx retransmission. No sockets, no
//! sleeps; a filter can drop chosen messages.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::endpoint::{Endpoint, EndpointConfig, Event, Output, TerminationReason};
use sip::transaction::TxId;
use sip::{
    ConnectionId, Error, Flow, Host, Message, Method, NameAddr, Request, StatusCode, Transport, Uri,
};

const T1: Duration = Duration::from_millis(500);
const OFFER: &[u8] = b"v=0\r\no=a 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n";
const ANSWER: &[u8] = b"v=0\r\no=b 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=sendrecv\r\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    A,
    B,
}

/// Which messages the network loses: (sender, message) -> drop?
type Filter = Box<dyn FnMut(Side, &Message) -> bool>;

struct Net {
    a: Endpoint,
    b: Endpoint,
    /// Where A's packets come from (may differ from what A advertises: NAT).
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    transport: Transport,
    t0: Instant,
    now: Instant,
    ev_a: Vec<Event>,
    ev_b: Vec<Event>,
    wire: Vec<(Duration, Side, Message)>,
    drop: Filter,
}

impl Net {
    fn new() -> Net {
        Net::with(
            Host::parse("192.0.2.1").unwrap(),
            "192.0.2.1:5060",
            Transport::Udp,
        )
    }

    fn with(a_host: Host, a_addr: &str, transport: Transport) -> Net {
        let t0 = Instant::now();
        let mut ca = EndpointConfig::new(a_host, Some(5060), 1);
        ca.contact_user = Some("alice".into());
        let mut cb = EndpointConfig::new(Host::parse("192.0.2.2").unwrap(), Some(5060), 2);
        cb.contact_user = Some("switchboard".into());
        Net {
            a: Endpoint::new(ca).unwrap(),
            b: Endpoint::new(cb).unwrap(),
            a_addr: a_addr.parse().unwrap(),
            b_addr: "192.0.2.2:5060".parse().unwrap(),
            transport,
            t0,
            now: t0,
            ev_a: Vec::new(),
            ev_b: Vec::new(),
            wire: Vec::new(),
            drop: Box::new(|_, _| false),
        }
    }

    fn flow_to_b(&self) -> Flow {
        match self.transport {
            Transport::Udp => Flow::udp(self.b_addr),
            _ => Flow::tcp(self.b_addr, ConnectionId(1)),
        }
    }

    fn flow_from(&self, remote: SocketAddr) -> Flow {
        match self.transport {
            Transport::Udp => Flow::udp(remote),
            _ => Flow::tcp(remote, ConnectionId(1)),
        }
    }

    /// Delivers everything both sides want to send, until both are quiet.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(o) = self.a.poll_output() {
                moved = true;
                match o {
                    Output::Event(e) => self.ev_a.push(e),
                    Output::Transmit(t) => {
                        assert_eq!(t.flow.remote, self.b_addr, "A sends to B");
                        let m = Message::parse(&t.payload).unwrap();
                        self.wire.push((self.now - self.t0, Side::A, m.clone()));
                        if !(self.drop)(Side::A, &m) {
                            let f = self.flow_from(self.a_addr);
                            self.b.handle_input(self.now, f, &t.payload);
                        }
                    }
                }
            }
            while let Some(o) = self.b.poll_output() {
                moved = true;
                match o {
                    Output::Event(e) => self.ev_b.push(e),
                    Output::Transmit(t) => {
                        assert_eq!(t.flow.remote, self.a_addr, "B sends to where A really is");
                        let m = Message::parse(&t.payload).unwrap();
                        self.wire.push((self.now - self.t0, Side::B, m.clone()));
                        if !(self.drop)(Side::B, &m) {
                            let f = self.flow_from(self.b_addr);
                            self.a.handle_input(self.now, f, &t.payload);
                        }
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Advances the virtual clock by `d`, firing timers on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn invite(&mut self, body: &[u8]) -> sip::transaction::ClientTxId {
        let mut req = self
            .a
            .new_request(
                Method::Invite,
                Uri::parse("sip:1000@192.0.2.2").unwrap(),
                &NameAddr::parse("<sip:alice@example.com>").unwrap(),
                &NameAddr::parse("<sip:1000@192.0.2.2>").unwrap(),
                self.transport,
            )
            .unwrap();
        req.set_body(Some("application/sdp"), Bytes::copy_from_slice(body))
            .unwrap();
        let flow = self.flow_to_b();
        let tx = self.a.send_request(self.now, req, flow).unwrap();
        self.pump();
        tx
    }

    fn take_a(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.ev_a)
    }

    fn take_b(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.ev_b)
    }

    /// Sets up a confirmed call A→B; returns (A's dialog, B's dialog).
    fn call(&mut self) -> (sip::dialog::DialogId, sip::dialog::DialogId) {
        self.invite(OFFER);
        let tx = incoming_invite(&self.take_b()).0;
        let db = self
            .b
            .reply(
                self.now,
                tx,
                StatusCode::OK,
                Some(("application/sdp", Bytes::from_static(ANSWER))),
            )
            .unwrap()
            .unwrap();
        self.pump();
        let da = self
            .take_a()
            .iter()
            .find_map(|e| match e {
                Event::Response {
                    dialog: Some(d),
                    response,
                    ..
                } if response.status() == StatusCode::OK => Some(*d),
                _ => None,
            })
            .unwrap();
        assert!(self.take_b().iter().any(|e| matches!(e, Event::Ack { .. })));
        self.wire.clear();
        (da, db)
    }

    fn wire_from(&self, side: Side) -> Vec<(Duration, String)> {
        self.wire
            .iter()
            .filter(|(_, s, _)| *s == side)
            .map(|(t, _, m)| (*t, summary(m)))
            .collect()
    }
}

fn summary(m: &Message) -> String {
    match m {
        Message::Request(r) => r.method().to_string(),
        Message::Response(r) => format!("{} {}", r.status(), r.headers().cseq().unwrap().method),
    }
}

fn incoming_invite(ev: &[Event]) -> (sip::transaction::ServerTxId, Request) {
    ev.iter()
        .find_map(|e| match e {
            Event::IncomingInvite { tx, request, .. } => Some((*tx, request.clone())),
            _ => None,
        })
        .expect("an IncomingInvite")
}

/// Responses reported to the TU, without the `100 Trying` every INVITE gets.
fn finals(ev: &[Event]) -> Vec<(u16, Method)> {
    statuses(ev)
        .into_iter()
        .filter(|(c, _)| *c != 100)
        .collect()
}

fn statuses(ev: &[Event]) -> Vec<(u16, Method)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Response { response, .. } => Some((
                response.status().code(),
                response.headers().cseq().unwrap().method,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn basic_call_invite_ringing_answer_ack_bye() {
    let mut n = Net::new();
    n.invite(OFFER);
    let (tx, req) = incoming_invite(&n.take_b());
    assert_eq!(req.body().as_ref(), OFFER);
    n.b.reply(n.now, tx, StatusCode::RINGING, None).unwrap();
    let db =
        n.b.reply(
            n.now,
            tx,
            StatusCode::OK,
            Some(("application/sdp", Bytes::from_static(ANSWER))),
        )
        .unwrap()
        .expect("a 2xx to INVITE creates the dialog");
    n.pump();
    let ev = n.take_a();
    assert_eq!(
        statuses(&ev),
        [
            (100, Method::Invite),
            (180, Method::Invite),
            (200, Method::Invite)
        ]
    );
    let da = match &ev[2] {
        Event::Response {
            dialog: Some(d),
            response,
            ..
        } => {
            assert_eq!(response.body().as_ref(), ANSWER);
            *d
        }
        e => panic!("{e:?}"),
    };
    assert!(matches!(n.take_b()[..], [Event::Ack { dialog, .. }] if dialog == db));
    let (ta, tb) = (n.a.dialog(da).unwrap(), n.b.dialog(db).unwrap());
    assert_eq!(ta.call_id(), tb.call_id());
    assert_eq!(
        (ta.local_tag(), ta.remote_tag()),
        (tb.remote_tag(), tb.local_tag())
    );
    // The 180 and 200 carry the same To tag.
    let tags: Vec<_> = n
        .wire
        .iter()
        .filter_map(|(_, s, m)| match (s, m) {
            (Side::B, Message::Response(r)) if r.status() != StatusCode::TRYING => {
                r.headers().to().unwrap().tag().map(str::to_string)
            }
            _ => None,
        })
        .collect();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0], tags[1]);

    n.a.bye(n.now, da).unwrap();
    n.pump();
    assert!(matches!(n.take_b()[..], [Event::Bye { dialog, .. }] if dialog == db));
    let ev = n.take_a();
    assert_eq!(statuses(&ev), [(200, Method::Bye)]);
    assert!(ev.contains(&Event::DialogTerminated {
        dialog: da,
        reason: TerminationReason::ByeSent
    }));
    assert_eq!(n.a.dialogs().count() + n.b.dialogs().count(), 0);
}

#[test]
fn cancel_before_answer_gets_487_and_the_transaction_acks_it() {
    let mut n = Net::new();
    let itx = n.invite(OFFER);
    let (stx, _) = incoming_invite(&n.take_b());
    n.b.reply(n.now, stx, StatusCode::RINGING, None).unwrap();
    n.pump();
    n.take_a();
    n.wire.clear();
    n.a.cancel(n.now, itx).unwrap();
    n.pump();
    assert_eq!(n.take_b(), [Event::Cancelled { tx: stx }]);
    let mut st = statuses(&n.take_a());
    st.sort_by_key(|s| s.1.to_string());
    assert_eq!(st, [(200, Method::Cancel), (487, Method::Invite)]);
    assert_eq!(
        n.wire
            .iter()
            .map(|(_, s, m)| (*s, summary(m)))
            .collect::<Vec<_>>(),
        [
            (Side::A, "CANCEL".to_string()),
            (Side::B, "200 CANCEL".to_string()),
            (Side::B, "487 INVITE".to_string()),
            (Side::A, "ACK".to_string()),
        ]
    );
    // Answering after the CANCEL is refused: the INVITE has its final response.
    assert!(n.b.reply(n.now, stx, StatusCode::OK, None).is_err());
    assert_eq!(n.b.dialogs().count(), 0);
}

#[test]
fn cancel_waits_for_a_provisional_response() {
    let mut n = Net::new();
    // Lose B's 100 Trying so that A is still in Calling when it cancels.
    n.drop = Box::new(|side, m| {
        side == Side::B && matches!(m, Message::Response(r) if r.status() == StatusCode::TRYING)
    });
    let itx = n.invite(OFFER);
    let (stx, _) = incoming_invite(&n.take_b());
    n.a.cancel(n.now, itx).unwrap();
    n.pump();
    assert!(
        !n.wire.iter().any(|(_, _, m)| summary(m) == "CANCEL"),
        "no CANCEL before a provisional"
    );
    n.b.reply(n.now, stx, StatusCode::RINGING, None).unwrap();
    n.pump();
    assert!(n.wire.iter().any(|(_, _, m)| summary(m) == "CANCEL"));
    assert_eq!(n.take_b(), [Event::Cancelled { tx: stx }]);
}

#[test]
fn cancel_for_an_unknown_invite_gets_481() {
    let mut n = Net::new();
    let raw = "CANCEL sip:1000@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnothere\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1000@192.0.2.2>\r\nCall-ID: nope@x\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    n.b.handle_input(n.now, Flow::udp(n.a_addr), raw.as_bytes());
    n.pump();
    assert_eq!(
        n.wire_from(Side::B),
        [(Duration::ZERO, "481 CANCEL".to_string())]
    );
}

#[test]
fn the_same_request_by_another_path_gets_482() {
    let mut n = Net::new();
    let invite = |branch: &str| {
        format!(
            "INVITE sip:1000@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{branch}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1000@192.0.2.2>\r\nCall-ID: loop@x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@192.0.2.1>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    n.b.handle_input(n.now, Flow::udp(n.a_addr), invite("first").as_bytes());
    n.pump();
    // A retransmission (same branch) is absorbed; the same request with another branch
    // (it came round a loop) is refused.
    n.b.handle_input(n.now, Flow::udp(n.a_addr), invite("first").as_bytes());
    n.b.handle_input(n.now, Flow::udp(n.a_addr), invite("looped").as_bytes());
    n.pump();
    let invites = n
        .take_b()
        .into_iter()
        .filter(|e| matches!(e, Event::IncomingInvite { .. }))
        .count();
    assert_eq!(invites, 1, "the TU sees the call once");
    let sent = n.wire_from(Side::B);
    assert!(sent.iter().any(|(_, m)| m == "482 INVITE"), "{sent:?}");
    // Another CSeq (a new request of the caller) is not a merge.
    let options = |branch: &str, cseq: u32| {
        format!(
            "OPTIONS sip:1000@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{branch}\r\nFrom: <sip:a@x>;tag=9\r\nTo: <sip:1000@192.0.2.2>\r\nCall-ID: opt@x\r\nCSeq: {cseq} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    n.b.handle_input(n.now, Flow::udp(n.a_addr), options("o1", 1).as_bytes());
    n.b.handle_input(n.now, Flow::udp(n.a_addr), options("o2", 2).as_bytes());
    n.pump();
    let requests = n
        .take_b()
        .into_iter()
        .filter(|e| matches!(e, Event::IncomingRequest { .. }))
        .count();
    assert_eq!(requests, 2);
}

#[test]
fn request_for_an_unknown_dialog_gets_481() {
    let mut n = Net::new();
    let raw = "BYE sip:switchboard@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKbye1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:1000@192.0.2.2>;tag=gone\r\nCall-ID: nope@x\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    n.b.handle_input(n.now, Flow::udp(n.a_addr), raw.as_bytes());
    n.pump();
    assert_eq!(
        n.wire_from(Side::B),
        [(Duration::ZERO, "481 BYE".to_string())]
    );
    assert!(n.take_b().is_empty(), "the TU is not bothered");
}

#[test]
fn lost_acks_make_the_uas_retransmit_its_2xx_then_report_ack_timeout() {
    let mut n = Net::new();
    n.drop = Box::new(|side, m| side == Side::A && summary(m) == "ACK");
    n.invite(OFFER);
    let (tx, _) = incoming_invite(&n.take_b());
    let db =
        n.b.reply(
            n.now,
            tx,
            StatusCode::OK,
            Some(("application/sdp", Bytes::from_static(ANSWER))),
        )
        .unwrap()
        .unwrap();
    n.pump();
    n.advance(T1 * 64);
    let sent_2xx: Vec<Duration> = n
        .wire_from(Side::B)
        .into_iter()
        .filter(|(_, s)| s == "200 INVITE")
        .map(|(t, _)| t)
        .collect();
    let expected: Vec<Duration> = [
        0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .iter()
    .map(|m| Duration::from_millis(*m))
    .collect();
    assert_eq!(sent_2xx, expected, "T1 doubling to T2");
    let acks = n
        .wire_from(Side::A)
        .iter()
        .filter(|(_, s)| s == "ACK")
        .count();
    assert_eq!(acks, expected.len(), "A re-ACKs every 2xx retransmission");
    assert_eq!(
        statuses(&n.take_a()),
        [(100, Method::Invite), (200, Method::Invite)],
        "retransmissions are not reported"
    );
    assert!(n.take_b().contains(&Event::AckTimeout { dialog: db }));
    n.b.bye(n.now, db).unwrap();
}

#[test]
fn one_lost_ack_is_repaired_by_the_retransmitted_2xx() {
    let mut n = Net::new();
    let mut lost = false;
    n.drop = Box::new(move |side, m| {
        if side == Side::A && summary(m) == "ACK" && !lost {
            lost = true;
            return true;
        }
        false
    });
    n.invite(OFFER);
    let (tx, _) = incoming_invite(&n.take_b());
    let db = n.b.reply(n.now, tx, StatusCode::OK, None).unwrap().unwrap();
    n.pump();
    assert!(n.take_b().is_empty());
    n.advance(T1);
    assert!(matches!(n.take_b()[..], [Event::Ack { dialog, .. }] if dialog == db));
    n.advance(T1 * 64);
    let sent_2xx = n
        .wire_from(Side::B)
        .iter()
        .filter(|(_, s)| s == "200 INVITE")
        .count();
    assert_eq!(sent_2xx, 2, "retransmission stops at the ACK");
}

#[test]
fn reinvite_to_hold_and_resume_carries_bodies_and_advances_cseq() {
    let mut n = Net::new();
    let (da, db) = n.call();
    let hold = Bytes::from_static(b"v=0\r\na=sendonly\r\n");
    let rtx =
        n.a.send_in_dialog(
            n.now,
            da,
            Method::Invite,
            Some(("application/sdp", hold.clone())),
        )
        .unwrap();
    n.pump();
    let ev = n.take_b();
    let (stx, req) = match &ev[..] {
        [
            Event::ReInvite {
                dialog,
                tx,
                request,
            },
        ] if *dialog == db => (*tx, request.clone()),
        e => panic!("{e:?}"),
    };
    assert_eq!(req.body(), &hold);
    let first_seq = req.headers().cseq().unwrap().seq;
    n.b.reply(
        n.now,
        stx,
        StatusCode::OK,
        Some((
            "application/sdp",
            Bytes::from_static(b"v=0\r\na=recvonly\r\n"),
        )),
    )
    .unwrap();
    n.pump();
    match &n.take_a()[..] {
        [
            ..,
            Event::Response {
                tx,
                dialog: Some(d),
                response,
            },
        ] => {
            assert_eq!((*tx, *d), (rtx, da));
            assert_eq!(response.body().as_ref(), b"v=0\r\na=recvonly\r\n");
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(n.take_b()[..], [Event::Ack { .. }]));
    // Resume.
    n.a.send_in_dialog(
        n.now,
        da,
        Method::Invite,
        Some((
            "application/sdp",
            Bytes::from_static(b"v=0\r\na=sendrecv\r\n"),
        )),
    )
    .unwrap();
    n.pump();
    let stx = match &n.take_b()[..] {
        [Event::ReInvite { tx, request, .. }] => {
            assert_eq!(request.headers().cseq().unwrap().seq, first_seq + 1);
            *tx
        }
        e => panic!("{e:?}"),
    };
    n.b.reply(
        n.now,
        stx,
        StatusCode::OK,
        Some(("application/sdp", Bytes::from_static(ANSWER))),
    )
    .unwrap();
    n.pump();
    assert!(matches!(n.take_b()[..], [Event::Ack { .. }]));
    assert_eq!(n.b.dialog(db).unwrap().remote_seq(), Some(first_seq + 1));
}

#[test]
fn reinvite_glare_gets_491_on_both_sides() {
    let mut n = Net::new();
    let (da, db) = n.call();
    // Both sides send a re-INVITE before seeing the other's.
    n.a.send_in_dialog(n.now, da, Method::Invite, None).unwrap();
    n.b.send_in_dialog(n.now, db, Method::Invite, None).unwrap();
    n.pump();
    assert_eq!(finals(&n.take_a()), [(491, Method::Invite)]);
    assert_eq!(finals(&n.take_b()), [(491, Method::Invite)]);
    // The owner of the Call-ID waits 2.1–4 s, the other side 0–2 s.
    let wa = n.a.glare_retry_delay(da).unwrap();
    let wb = n.b.glare_retry_delay(db).unwrap();
    assert!(
        (Duration::from_millis(2100)..=Duration::from_secs(4)).contains(&wa),
        "{wa:?}"
    );
    assert!(wb <= Duration::from_secs(2), "{wb:?}");
    // After the 491s, a retry goes through.
    n.a.send_in_dialog(n.now, da, Method::Invite, None).unwrap();
    n.pump();
    assert!(matches!(n.take_b()[..], [Event::ReInvite { .. }]));
}

#[test]
fn a_second_invite_while_one_is_pending_gets_500_with_retry_after() {
    let mut n = Net::new();
    let (da, db) = n.call();
    n.a.send_in_dialog(n.now, da, Method::Invite, None).unwrap();
    n.pump();
    let first = match &n.take_b()[..] {
        [Event::ReInvite { request, .. }] => request.clone(),
        e => panic!("{e:?}"),
    };
    // The TU cannot start another INVITE in either direction meanwhile.
    assert_eq!(
        n.a.send_in_dialog(n.now, da, Method::Invite, None)
            .unwrap_err(),
        Error::RequestPending
    );
    assert_eq!(
        n.b.send_in_dialog(n.now, db, Method::Invite, None)
            .unwrap_err(),
        Error::RequestPending
    );
    // A peer that does it anyway gets 500 + Retry-After.
    let raw = String::from_utf8(first.to_bytes().to_vec())
        .unwrap()
        .replacen(";branch=z9hG4bK", ";branch=z9hG4bKsecond", 1)
        .replace(
            &format!("CSeq: {} INVITE", first.headers().cseq().unwrap().seq),
            &format!("CSeq: {} INVITE", first.headers().cseq().unwrap().seq + 1),
        );
    n.b.handle_input(n.now, Flow::udp(n.a_addr), raw.as_bytes());
    let out: Vec<_> = std::iter::from_fn(|| n.b.poll_output()).collect();
    let resp = out
        .iter()
        .filter_map(|o| match o {
            Output::Transmit(t) => Message::parse(&t.payload)
                .ok()
                .and_then(|m| m.as_response().cloned()),
            _ => None,
        })
        .find(|r| r.status() != StatusCode::TRYING)
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVER_INTERNAL_ERROR);
    assert!(resp.headers().retry_after().unwrap().unwrap().seconds <= 10);
}

#[test]
fn bye_while_a_reinvite_is_pending_answers_the_reinvite_487() {
    let mut n = Net::new();
    let (da, db) = n.call();
    let rtx = n.a.send_in_dialog(n.now, da, Method::Invite, None).unwrap();
    n.pump();
    assert!(matches!(n.take_b()[..], [Event::ReInvite { .. }]));
    // Only INVITEs are serialized: A may hang up while its re-INVITE is unanswered.
    n.a.bye(n.now, da).unwrap();
    n.pump();
    assert!(matches!(n.take_b()[..], [Event::Bye { dialog, .. }] if dialog == db));
    let ev = n.take_a();
    let mut st = finals(&ev);
    st.sort_by_key(|s| s.0);
    assert_eq!(st, [(200, Method::Bye), (487, Method::Invite)]);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Response { tx, .. } if *tx == rtx))
    );
    assert!(ev.contains(&Event::DialogTerminated {
        dialog: da,
        reason: TerminationReason::ByeSent
    }));
}

#[test]
fn our_bye_answers_the_peers_pending_reinvite_487() {
    let mut n = Net::new();
    let (da, db) = n.call();
    n.b.send_in_dialog(n.now, db, Method::Invite, None).unwrap();
    n.pump();
    assert!(matches!(n.take_a()[..], [Event::ReInvite { .. }]));
    // A's TU hangs up instead of answering the re-INVITE.
    n.a.bye(n.now, da).unwrap();
    n.pump();
    let ev_b = n.take_b();
    assert_eq!(finals(&ev_b), [(487, Method::Invite)]);
    assert!(
        ev_b.iter()
            .any(|e| matches!(e, Event::Bye { dialog, .. } if *dialog == db))
    );
    assert_eq!(statuses(&n.take_a()), [(200, Method::Bye)]);
}

#[test]
fn in_dialog_request_with_lower_cseq_gets_500() {
    let mut n = Net::new();
    let (da, _db) = n.call();
    n.a.send_in_dialog(n.now, da, Method::Info, None).unwrap();
    n.pump();
    let info = n
        .wire
        .iter()
        .find_map(|(_, s, m)| match (s, m) {
            (Side::A, Message::Request(r)) if r.method() == &Method::Info => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    let seq = info.headers().cseq().unwrap().seq;
    let raw = String::from_utf8(info.to_bytes().to_vec())
        .unwrap()
        .replacen(";branch=z9hG4bK", ";branch=z9hG4bKold", 1)
        .replace(
            &format!("CSeq: {seq} INFO"),
            &format!("CSeq: {} INFO", seq - 1),
        );
    n.wire.clear();
    n.b.handle_input(n.now, Flow::udp(n.a_addr), raw.as_bytes());
    n.pump();
    assert_eq!(
        n.wire_from(Side::B),
        [(Duration::ZERO, "500 INFO".to_string())]
    );
}

#[test]
fn unsupported_required_extension_gets_420() {
    let mut n = Net::new();
    let mut req =
        n.a.new_request(
            Method::Invite,
            Uri::parse("sip:1000@192.0.2.2").unwrap(),
            &NameAddr::parse("<sip:alice@example.com>").unwrap(),
            &NameAddr::parse("<sip:1000@192.0.2.2>").unwrap(),
            Transport::Udp,
        )
        .unwrap();
    req.headers_mut()
        .append(sip::HeaderName::Require, "100rel")
        .unwrap();
    let flow = n.flow_to_b();
    n.a.send_request(n.now, req, flow).unwrap();
    n.pump();
    assert!(n.take_b().is_empty());
    let st = statuses(&n.take_a());
    assert!(st.contains(&(420, Method::Invite)), "{st:?}");
}

#[test]
fn malformed_request_gets_400_and_the_next_call_still_works() {
    let mut n = Net::new();
    let raw = std::fs::read(format!(
        "{}/tests/torture/invalid/mismatch01.sip",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    n.b.handle_input(n.now, Flow::udp(n.a_addr), &raw);
    let out: Vec<_> = std::iter::from_fn(|| n.b.poll_output()).collect();
    assert!(
        matches!(&out[..], [Output::Transmit(t), Output::Event(Event::Malformed { .. })]
        if Message::parse(&t.payload).unwrap().as_response().unwrap().status() == StatusCode::BAD_REQUEST)
    );
    let (da, _) = n.call();
    assert!(n.a.dialog(da).is_some());
}

#[test]
fn options_outside_a_dialog_is_offered_to_the_tu() {
    let mut n = Net::new();
    let req =
        n.a.new_request(
            Method::Options,
            Uri::parse("sip:192.0.2.2").unwrap(),
            &NameAddr::parse("<sip:alice@example.com>").unwrap(),
            &NameAddr::parse("<sip:192.0.2.2>").unwrap(),
            Transport::Udp,
        )
        .unwrap();
    let flow = n.flow_to_b();
    n.a.send_request(n.now, req, flow).unwrap();
    n.pump();
    let tx = match &n.take_b()[..] {
        [Event::IncomingRequest { tx, request, .. }] if request.method() == &Method::Options => *tx,
        e => panic!("{e:?}"),
    };
    n.b.reply(n.now, tx, StatusCode::OK, None).unwrap();
    n.pump();
    assert_eq!(statuses(&n.take_a()), [(200, Method::Options)]);
}

#[test]
fn nat_phone_is_answered_where_it_really_is() {
    // A advertises a private address; its packets come from a public one. `Net` asserts that
    // every message B sends goes to the public address.
    let mut n = Net::with(
        Host::parse("10.0.0.5").unwrap(),
        "203.0.113.5:40000",
        Transport::Udp,
    );
    n.invite(OFFER);
    let (tx, req) = incoming_invite(&n.take_b());
    let via = req.headers().top_via().unwrap();
    assert_eq!(via.received(), Some("203.0.113.5"));
    assert_eq!(via.rport(), Some(Some(40000)));
    let db = n.b.reply(n.now, tx, StatusCode::OK, None).unwrap().unwrap();
    n.pump();
    n.b.bye(n.now, db).unwrap();
    n.pump();
    assert!(n.take_a().iter().any(|e| matches!(e, Event::Bye { .. })));
}

#[test]
fn over_tcp_the_2xx_is_not_retransmitted_but_the_ack_is_still_awaited() {
    let mut n = Net::with(
        Host::parse("192.0.2.1").unwrap(),
        "192.0.2.1:5060",
        Transport::Tcp,
    );
    n.drop = Box::new(|side, m| side == Side::A && summary(m) == "ACK");
    n.invite(OFFER);
    let (tx, _) = incoming_invite(&n.take_b());
    let db = n.b.reply(n.now, tx, StatusCode::OK, None).unwrap().unwrap();
    n.pump();
    n.advance(T1 * 64);
    assert_eq!(
        n.wire_from(Side::B)
            .iter()
            .filter(|(_, s)| s == "200 INVITE")
            .count(),
        1
    );
    assert!(n.take_b().contains(&Event::AckTimeout { dialog: db }));
    let contact = n.b.dialog(db).unwrap().local_contact().uri().transport();
    assert_eq!(
        contact,
        Some(Transport::Tcp),
        "our Contact names the transport"
    );
}

#[test]
fn bye_that_times_out_still_ends_the_dialog() {
    let mut n = Net::new();
    let (da, _) = n.call();
    n.drop = Box::new(|side, _| side == Side::B);
    let tx = n.a.bye(n.now, da).unwrap();
    n.advance(T1 * 64);
    let ev = n.take_a();
    assert!(ev.contains(&Event::Timeout {
        tx: TxId::Client(tx)
    }));
    assert!(ev.contains(&Event::DialogTerminated {
        dialog: da,
        reason: TerminationReason::ByeSent
    }));
    assert!(n.a.dialog(da).is_none());
}

#[test]
fn a_481_to_an_in_dialog_request_ends_the_dialog() {
    let mut n = Net::new();
    let (da, db) = n.call();
    // B hangs up but A never hears the BYE.
    n.drop = Box::new(|side, m| side == Side::B && summary(m) == "BYE");
    n.b.bye(n.now, db).unwrap();
    n.pump();
    n.advance(T1 * 64);
    n.take_a();
    n.drop = Box::new(|_, _| false);
    n.a.send_in_dialog(n.now, da, Method::Info, None).unwrap();
    n.pump();
    let ev = n.take_a();
    assert_eq!(statuses(&ev), [(481, Method::Info)]);
    assert!(ev.contains(&Event::DialogTerminated {
        dialog: da,
        reason: TerminationReason::PeerGone
    }));
}

#[test]
fn same_seed_same_bytes() {
    let run = || {
        let mut n = Net::new();
        n.call();
        let da = n.a.dialogs().next().unwrap().id();
        n.a.bye(n.now, da).unwrap();
        n.pump();
        n.wire
            .iter()
            .map(|(_, _, m)| m.to_bytes())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn a_reinvite_with_a_new_contact_moves_the_remote_target() {
    let mut n = Net::new();
    let (_da, db) = n.call();
    let old_target = n.b.dialog(db).unwrap().remote_target().clone();
    // A's phone moved (new Contact in a re-INVITE); build it by hand from A's dialog state.
    let d = n.a.dialogs().next().unwrap();
    let mut req = d.build_request(Method::Invite, d.local_seq() + 1).unwrap();
    req.headers_mut()
        .set(sip::HeaderName::Contact, "<sip:alice@192.0.2.1:5099>")
        .unwrap();
    req.headers_mut().push_front_of_name(
        sip::Header::new(
            sip::HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKmoved",
        )
        .unwrap(),
    );
    n.b.handle_input(n.now, Flow::udp(n.a_addr), &req.to_bytes());
    n.pump();
    let tx = match &n.take_b()[..] {
        [Event::ReInvite { tx, .. }] => *tx,
        e => panic!("{e:?}"),
    };
    n.b.reply(n.now, tx, StatusCode::OK, None).unwrap();
    let target = n.b.dialog(db).unwrap().remote_target().clone();
    assert_ne!(target, old_target);
    assert_eq!(target.as_str(), "sip:alice@192.0.2.1:5099");
    // B's next request is addressed to the new target.
    n.b.send_in_dialog(n.now, db, Method::Info, None).unwrap();
    let info = std::iter::from_fn(|| n.b.poll_output())
        .filter_map(|o| match o {
            Output::Transmit(t) => Message::parse(&t.payload).ok(),
            Output::Event(_) => None,
        })
        .find_map(|m| {
            m.as_request()
                .filter(|r| r.method() == &Method::Info)
                .cloned()
        })
        .unwrap();
    assert_eq!(info.uri().as_str(), "sip:alice@192.0.2.1:5099");
}

#[test]
fn digest_challenges_are_readable_from_a_401() {
    let t0 = Instant::now();
    let mut server = sip::digest::DigestServer::new("switchboard", [3; 32], t0);
    let raw = std::fs::read(format!(
        "{}/tests/vectors/sipp/sipp_register.sip",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let req = Request::parse(&raw).unwrap();
    let mut resp = sip::builder::response_to(&req, StatusCode::UNAUTHORIZED, Some("t"));
    let sent = server.challenges(t0, false);
    for c in sent.clone() {
        resp.headers_mut()
            .append(sip::HeaderName::WwwAuthenticate, &c.to_header_value())
            .unwrap();
    }
    let back = sip::Response::parse(&resp.to_bytes()).unwrap();
    assert_eq!(back.headers().challenges(false), sent);
    assert!(back.headers().challenges(true).is_empty());
}

#[test]
fn a_bad_configuration_is_refused_up_front() {
    let mut c = EndpointConfig::new(Host::parse("192.0.2.2").unwrap(), None, 1);
    c.contact_user = Some("has space".into());
    assert!(Endpoint::new(c).is_err());
    let mut c = EndpointConfig::new(Host::parse("192.0.2.2").unwrap(), None, 1);
    c.timers.t1 = Duration::ZERO;
    assert!(Endpoint::new(c).is_err());
}

#[test]
fn a_send_failure_in_dialog_ends_the_dialog() {
    let mut n = Net::new();
    let (da, _db) = n.call();
    let tx = n.a.send_in_dialog(n.now, da, Method::Info, None).unwrap();
    // The driver could not send it (e.g. the TCP connection is gone).
    n.a.transport_error(n.now, TxId::Client(tx));
    let ev: Vec<_> = std::iter::from_fn(|| n.a.poll_output())
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            Output::Transmit(_) => None,
        })
        .collect();
    assert_eq!(
        ev,
        [
            Event::TransportError {
                tx: TxId::Client(tx)
            },
            Event::DialogTerminated {
                dialog: da,
                reason: TerminationReason::PeerGone
            },
        ]
    );
}
