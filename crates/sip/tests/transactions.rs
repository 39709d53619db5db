//! Transaction state machines under a simulated clock: nothing sleeps, time only moves when
//! the test says so.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip::builder::{RequestBuilder, response_to};
use sip::transaction::{
    ClientState, ServerState, TimerConfig, TransactionLayer, TxEvent, TxId, TxOutput,
};
use sip::{ConnectionId, Flow, Message, Method, NameAddr, Request, Response, StatusCode, Uri, Via};

const T1: Duration = Duration::from_millis(500);

fn addr() -> SocketAddr {
    "192.0.2.20:5060".parse().unwrap()
}

fn request(method: Method, branch: &str, transport: &str) -> Request {
    RequestBuilder::new(method, Uri::parse("sip:bob@192.0.2.20").unwrap())
        .via(
            &Via::parse(&format!(
                "SIP/2.0/{transport} 192.0.2.1:5060;branch={branch}"
            ))
            .unwrap(),
        )
        .from(&NameAddr::parse("<sip:alice@192.0.2.1>;tag=a").unwrap())
        .to(&NameAddr::parse("<sip:bob@192.0.2.20>").unwrap())
        .call_id("call-1@192.0.2.1")
        .cseq(1)
        .build()
        .unwrap()
}

/// A transaction layer plus a simulated clock and a log of outputs with their times.
struct Sim {
    layer: TransactionLayer,
    t0: Instant,
    now: Instant,
    log: Vec<(Duration, TxOutput)>,
}

impl Sim {
    fn new() -> Sim {
        let t0 = Instant::now();
        Sim {
            layer: TransactionLayer::new(TimerConfig::default()),
            t0,
            now: t0,
            log: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.layer.poll_output() {
            self.log.push((self.now - self.t0, o));
        }
    }

    /// Runs every timer up to `t0 + until`.
    fn run_until(&mut self, until: Duration) {
        let end = self.t0 + until;
        while let Some(at) = self.layer.poll_timeout() {
            if at > end {
                break;
            }
            self.now = at;
            self.layer.handle_timeout(at);
            self.drain();
        }
        self.now = end;
    }

    fn input(&mut self, msg: impl Into<Message>, flow: Flow) {
        self.layer.handle_message(self.now, msg.into(), flow);
        self.drain();
    }

    fn transmit_times(&self) -> Vec<Duration> {
        self.log
            .iter()
            .filter(|(_, o)| matches!(o, TxOutput::Transmit(_)))
            .map(|(t, _)| *t)
            .collect()
    }

    fn events(&self) -> Vec<(Duration, TxEvent)> {
        self.log
            .iter()
            .filter_map(|(t, o)| match o {
                TxOutput::Event(e) => Some((*t, e.clone())),
                TxOutput::Transmit(_) => None,
            })
            .collect()
    }

    fn transmitted(&self) -> Vec<Message> {
        self.log
            .iter()
            .filter_map(|(_, o)| match o {
                TxOutput::Transmit(t) => Some(Message::parse(&t.payload).unwrap()),
                TxOutput::Event(_) => None,
            })
            .collect()
    }

    fn clear(&mut self) {
        self.log.clear();
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn invite_over_udp_retransmits_with_doubling_and_timer_b_fires_at_64_t1() {
    let mut s = Sim::new();
    let id = s
        .layer
        .send_request(
            s.now,
            request(Method::Invite, "z9hG4bK1", "UDP"),
            Flow::udp(addr()),
        )
        .unwrap();
    s.drain();
    s.run_until(T1 * 64 - ms(1));
    // Sent at 0, then Timer A at T1, 3·T1, 7·T1, 15·T1, 31·T1, 63·T1.
    let expected: Vec<Duration> = [0, 1, 3, 7, 15, 31, 63].iter().map(|k| T1 * *k).collect();
    assert_eq!(s.transmit_times(), expected);
    assert_eq!(s.layer.client_state(id), Some(ClientState::Calling));
    s.run_until(T1 * 64);
    let ev = s.events();
    assert_eq!(
        ev[0],
        (
            T1 * 64,
            TxEvent::Timeout {
                tx: TxId::Client(id)
            }
        )
    );
    assert_eq!(
        ev[1],
        (
            T1 * 64,
            TxEvent::Terminated {
                tx: TxId::Client(id)
            }
        )
    );
    assert_eq!(s.layer.client_state(id), None);
    assert_eq!(s.layer.poll_timeout(), None);
}

#[test]
fn non_invite_retransmissions_double_up_to_t2_until_timer_f() {
    let mut s = Sim::new();
    let id = s
        .layer
        .send_request(
            s.now,
            request(Method::Options, "z9hG4bK2", "UDP"),
            Flow::udp(addr()),
        )
        .unwrap();
    s.drain();
    s.run_until(T1 * 64);
    let expected: Vec<Duration> = [
        0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .iter()
    .map(|m| ms(*m))
    .collect();
    assert_eq!(s.transmit_times(), expected);
    assert!(s.events().contains(&(
        T1 * 64,
        TxEvent::Timeout {
            tx: TxId::Client(id)
        }
    )));
}

#[test]
fn reliable_transport_never_retransmits_but_still_times_out() {
    let mut s = Sim::new();
    let flow = Flow::tcp(addr(), ConnectionId(1));
    let id = s
        .layer
        .send_request(s.now, request(Method::Invite, "z9hG4bK3", "TCP"), flow)
        .unwrap();
    s.drain();
    s.run_until(T1 * 64);
    assert_eq!(s.transmit_times(), vec![Duration::ZERO]);
    assert!(s.events().contains(&(
        T1 * 64,
        TxEvent::Timeout {
            tx: TxId::Client(id)
        }
    )));
}

#[test]
fn a_provisional_response_stops_invite_retransmissions_and_timer_b() {
    let mut s = Sim::new();
    let req = request(Method::Invite, "z9hG4bK4", "UDP");
    let id = s
        .layer
        .send_request(s.now, req.clone(), Flow::udp(addr()))
        .unwrap();
    s.drain();
    s.run_until(ms(1200));
    s.input(
        response_to(&req, StatusCode::RINGING, Some("b")),
        Flow::udp(addr()),
    );
    assert_eq!(s.layer.client_state(id), Some(ClientState::Proceeding));
    s.run_until(Duration::from_secs(600));
    assert_eq!(s.transmit_times(), vec![Duration::ZERO, T1]);
    assert!(matches!(s.events()[0].1, TxEvent::Response { .. }));
    assert_eq!(s.events().len(), 1, "no timeout while proceeding");
}

#[test]
fn non_2xx_final_is_acked_by_the_transaction_and_retransmissions_reacked() {
    let mut s = Sim::new();
    let req = request(Method::Invite, "z9hG4bK5", "UDP");
    let id = s
        .layer
        .send_request(s.now, req.clone(), Flow::udp(addr()))
        .unwrap();
    s.drain();
    s.clear();
    let busy = response_to(&req, StatusCode::BUSY_HERE, Some("b"));
    s.input(busy.clone(), Flow::udp(addr()));
    let sent = s.transmitted();
    assert_eq!(sent.len(), 1);
    let ack = sent[0].as_request().unwrap();
    assert_eq!(ack.method(), &Method::Ack);
    assert_eq!(ack.uri(), req.uri());
    assert_eq!(ack.headers().top_via().unwrap().branch(), Some("z9hG4bK5"));
    assert_eq!(ack.headers().to().unwrap().tag(), Some("b"));
    assert_eq!(ack.headers().cseq().unwrap().seq, 1);
    assert_eq!(ack.headers().cseq().unwrap().method, Method::Ack);
    assert_eq!(ack.headers().call_id().unwrap(), "call-1@192.0.2.1");
    assert_eq!(
        s.events().len(),
        1,
        "the final response goes to the TU once"
    );
    assert_eq!(s.layer.client_state(id), Some(ClientState::Completed));
    s.clear();
    s.input(busy, Flow::udp(addr()));
    assert_eq!(s.transmitted().len(), 1, "retransmitted 486 is re-ACKed");
    assert!(s.events().is_empty(), "and not passed up again");
    s.run_until(Duration::from_secs(32));
    assert_eq!(
        s.layer.client_state(id),
        None,
        "Timer D ends Completed after 32 s"
    );
}

#[test]
fn invite_2xx_moves_to_accepted_and_passes_retransmissions_up_until_timer_m() {
    let mut s = Sim::new();
    let req = request(Method::Invite, "z9hG4bK6", "UDP");
    let id = s
        .layer
        .send_request(s.now, req.clone(), Flow::udp(addr()))
        .unwrap();
    s.drain();
    s.clear();
    let ok = response_to(&req, StatusCode::OK, Some("b"));
    s.input(ok.clone(), Flow::udp(addr()));
    assert_eq!(s.layer.client_state(id), Some(ClientState::Accepted));
    assert!(
        s.transmitted().is_empty(),
        "the TU, not the transaction, ACKs a 2xx"
    );
    s.input(ok.clone(), Flow::udp(addr()));
    let responses = s
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::Response { .. }))
        .count();
    assert_eq!(responses, 2);
    s.run_until(T1 * 64);
    assert_eq!(s.layer.client_state(id), None);
    s.clear();
    s.input(ok, Flow::udp(addr()));
    assert!(matches!(s.events()[0].1, TxEvent::StrayResponse { .. }));
}

fn server_with_invite(
    s: &mut Sim,
    branch: &str,
    flow: Flow,
) -> (sip::transaction::ServerTxId, Request) {
    let req = request(
        Method::Invite,
        branch,
        if flow.transport.is_reliable() {
            "TCP"
        } else {
            "UDP"
        },
    );
    s.input(req.clone(), flow);
    let id = s
        .events()
        .iter()
        .find_map(|(_, e)| match e {
            TxEvent::Request { tx, .. } => Some(*tx),
            _ => None,
        })
        .unwrap();
    (id, req)
}

#[test]
fn invite_server_answers_100_at_once_and_absorbs_retransmissions() {
    let mut s = Sim::new();
    let (id, req) = server_with_invite(&mut s, "z9hG4bK7", Flow::udp(addr()));
    let sent = s.transmitted();
    assert_eq!(sent[0].as_response().unwrap().status(), StatusCode::TRYING);
    s.clear();
    s.input(req.clone(), Flow::udp(addr()));
    assert!(
        s.events().is_empty(),
        "the retransmission does not reach the TU"
    );
    assert_eq!(
        s.transmitted()[0].as_response().unwrap().status(),
        StatusCode::TRYING
    );
    s.layer
        .send_response(s.now, id, response_to(&req, StatusCode::RINGING, Some("b")))
        .unwrap();
    s.drain();
    s.clear();
    s.input(req, Flow::udp(addr()));
    assert_eq!(
        s.transmitted()[0].as_response().unwrap().status(),
        StatusCode::RINGING,
        "last response re-sent"
    );
}

#[test]
fn invite_server_retransmits_non_2xx_until_ack_then_confirms() {
    let mut s = Sim::new();
    let (id, req) = server_with_invite(&mut s, "z9hG4bK8", Flow::udp(addr()));
    s.clear();
    let busy = response_to(&req, StatusCode::BUSY_HERE, Some("b"));
    s.layer.send_response(s.now, id, busy.clone()).unwrap();
    s.drain();
    s.run_until(ms(16_000));
    // Sent at 0, then Timer G at 0.5, 1.5, 3.5, 7.5, 11.5, 15.5 s.
    let expected: Vec<Duration> = [0, 500, 1500, 3500, 7500, 11500, 15500]
        .iter()
        .map(|m| ms(*m))
        .collect();
    assert_eq!(s.transmit_times(), expected);
    let ack = sip::transaction::non_2xx_ack(&req, &busy);
    s.input(ack.clone(), Flow::udp(addr()));
    assert_eq!(s.layer.server_state(id), Some(ServerState::Confirmed));
    s.clear();
    s.run_until(ms(16_000) + Duration::from_secs(5));
    assert!(
        s.transmit_times().is_empty(),
        "no retransmission after the ACK"
    );
    assert_eq!(
        s.layer.server_state(id),
        None,
        "Timer I (T4) ends Confirmed"
    );
}

#[test]
fn invite_server_without_ack_times_out_with_timer_h() {
    let mut s = Sim::new();
    let (id, req) = server_with_invite(&mut s, "z9hG4bK9", Flow::udp(addr()));
    s.layer
        .send_response(
            s.now,
            id,
            response_to(&req, StatusCode::NOT_FOUND, Some("b")),
        )
        .unwrap();
    s.drain();
    s.clear();
    s.run_until(T1 * 64);
    assert!(s.events().contains(&(
        T1 * 64,
        TxEvent::Timeout {
            tx: TxId::Server(id)
        }
    )));
    assert_eq!(s.layer.server_state(id), None);
}

#[test]
fn invite_server_2xx_is_accepted_and_absorbs_invite_retransmissions() {
    let mut s = Sim::new();
    let (id, req) = server_with_invite(&mut s, "z9hG4bK10", Flow::udp(addr()));
    s.layer
        .send_response(s.now, id, response_to(&req, StatusCode::OK, Some("b")))
        .unwrap();
    s.drain();
    assert_eq!(s.layer.server_state(id), Some(ServerState::Accepted));
    s.clear();
    s.input(req.clone(), Flow::udp(addr()));
    assert!(
        s.log.is_empty(),
        "absorbed: the TU retransmits the 2xx itself"
    );
    // The TU's 2xx retransmissions go through the transaction.
    s.layer
        .send_response(s.now, id, response_to(&req, StatusCode::OK, Some("b")))
        .unwrap();
    s.drain();
    assert_eq!(s.transmitted().len(), 1);
    assert!(
        s.layer
            .send_response(
                s.now,
                id,
                response_to(&req, StatusCode::BUSY_HERE, Some("b"))
            )
            .is_err()
    );
    s.run_until(T1 * 64);
    assert_eq!(s.layer.server_state(id), None, "Timer L ends Accepted");
}

#[test]
fn non_invite_server_resends_its_final_and_ends_with_timer_j() {
    let mut s = Sim::new();
    let req = request(Method::Options, "z9hG4bK11", "UDP");
    s.input(req.clone(), Flow::udp(addr()));
    let id = match &s.events()[0].1 {
        TxEvent::Request { tx, .. } => *tx,
        e => panic!("{e:?}"),
    };
    assert!(
        s.transmitted().is_empty(),
        "no automatic 100 for non-INVITE"
    );
    s.input(req.clone(), Flow::udp(addr()));
    assert!(
        s.transmitted().is_empty(),
        "retransmission in Trying is absorbed"
    );
    s.layer
        .send_response(s.now, id, response_to(&req, StatusCode::OK, Some("b")))
        .unwrap();
    s.drain();
    s.clear();
    s.input(req.clone(), Flow::udp(addr()));
    assert_eq!(
        s.transmitted()[0].as_response().unwrap().status(),
        StatusCode::OK
    );
    assert!(s.events().is_empty());
    s.run_until(T1 * 64 - ms(1));
    assert_eq!(s.layer.server_state(id), Some(ServerState::Completed));
    s.run_until(T1 * 64);
    assert_eq!(s.layer.server_state(id), None);
}

#[test]
fn non_invite_server_over_tcp_ends_at_its_final_response() {
    let mut s = Sim::new();
    let req = request(Method::Options, "z9hG4bK12", "TCP");
    let flow = Flow::tcp(addr(), ConnectionId(4));
    s.input(req.clone(), flow);
    let id = match &s.events()[0].1 {
        TxEvent::Request { tx, .. } => *tx,
        e => panic!("{e:?}"),
    };
    s.layer
        .send_response(s.now, id, response_to(&req, StatusCode::OK, Some("b")))
        .unwrap();
    s.drain();
    assert_eq!(s.layer.server_state(id), None);
    let tx = s
        .log
        .iter()
        .find_map(|(_, o)| match o {
            TxOutput::Transmit(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        tx.flow.connection,
        Some(ConnectionId(4)),
        "answered on the same connection"
    );
}

#[test]
fn non_invite_client_keeps_t2_after_a_provisional() {
    let mut s = Sim::new();
    let req = request(Method::Bye, "z9hG4bK13", "UDP");
    s.layer
        .send_request(s.now, req.clone(), Flow::udp(addr()))
        .unwrap();
    s.drain();
    s.run_until(ms(600));
    s.input(
        response_to(&req, StatusCode::TRYING, None),
        Flow::udp(addr()),
    );
    s.clear();
    s.run_until(ms(10_000));
    // After the 100, Timer E (armed at 0.5 s for 1 s) fires at 1.5 s, then every T2.
    assert_eq!(s.transmit_times(), vec![ms(1500), ms(5500), ms(9500)]);
}

#[test]
fn cancel_finds_its_invite_by_branch_and_sent_by() {
    let mut s = Sim::new();
    let (id, req) = server_with_invite(&mut s, "z9hG4bK14", Flow::udp(addr()));
    let mut cancel = request(Method::Cancel, "z9hG4bK14", "UDP");
    cancel.set_uri(req.uri().clone());
    assert_eq!(s.layer.find_invite_for_cancel(&cancel), Some(id));
    let other = request(Method::Cancel, "z9hG4bKother", "UDP");
    assert_eq!(s.layer.find_invite_for_cancel(&other), None);
    // The CANCEL is its own transaction, not a retransmission of the INVITE.
    s.clear();
    s.input(cancel, Flow::udp(addr()));
    assert!(
        matches!(s.events()[0].1, TxEvent::Request { ref request, .. } if request.method() == &Method::Cancel)
    );
}

#[test]
fn transport_errors_end_the_transaction_and_tell_the_tu() {
    let mut s = Sim::new();
    let id = s
        .layer
        .send_request(
            s.now,
            request(Method::Options, "z9hG4bK15", "UDP"),
            Flow::udp(addr()),
        )
        .unwrap();
    s.drain();
    s.clear();
    s.layer.transport_error(s.now, TxId::Client(id));
    s.drain();
    assert_eq!(
        s.events().into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
        vec![
            TxEvent::TransportError {
                tx: TxId::Client(id)
            },
            TxEvent::Terminated {
                tx: TxId::Client(id)
            }
        ]
    );
    s.run_until(T1 * 64);
    assert_eq!(s.events().len(), 2, "no timeout after termination");
}

#[test]
fn ack_without_transaction_goes_to_the_tu() {
    let mut s = Sim::new();
    let mut ack = request(Method::Ack, "z9hG4bK16", "UDP");
    ack.headers_mut()
        .set(sip::HeaderName::To, "<sip:bob@192.0.2.20>;tag=b")
        .unwrap();
    s.input(ack, Flow::udp(addr()));
    assert!(matches!(s.events()[0].1, TxEvent::Ack { .. }));
    assert_eq!(s.layer.len(), (0, 0));
}

#[test]
fn handling_timeouts_early_or_twice_is_harmless() {
    let mut s = Sim::new();
    s.layer
        .send_request(
            s.now,
            request(Method::Invite, "z9hG4bK17", "UDP"),
            Flow::udp(addr()),
        )
        .unwrap();
    s.drain();
    s.clear();
    s.layer.handle_timeout(s.t0 + ms(100));
    s.layer.handle_timeout(s.t0 + ms(100));
    s.drain();
    assert!(s.log.is_empty());
    s.layer.handle_timeout(s.t0 + T1);
    s.layer.handle_timeout(s.t0 + T1);
    s.drain();
    assert_eq!(s.log.len(), 1, "one retransmission, not two");
}

#[test]
fn timers_follow_a_configured_t1() {
    let mut s = Sim::new();
    s.layer = TransactionLayer::new(TimerConfig {
        t1: ms(100),
        t2: ms(400),
        t4: ms(1000),
    });
    let id = s
        .layer
        .send_request(
            s.now,
            request(Method::Options, "z9hG4bK18", "UDP"),
            Flow::udp(addr()),
        )
        .unwrap();
    s.drain();
    s.run_until(ms(6400));
    assert_eq!(
        &s.transmit_times()[..5],
        &[ms(0), ms(100), ms(300), ms(700), ms(1100)]
    );
    assert!(s.events().contains(&(
        ms(6400),
        TxEvent::Timeout {
            tx: TxId::Client(id)
        }
    )));
}

#[test]
fn requests_without_magic_cookie_branches_still_match() {
    let mut s = Sim::new();
    let req = request(Method::Options, "oldstyle1", "UDP");
    s.input(req.clone(), Flow::udp(addr()));
    s.input(req, Flow::udp(addr()));
    let new_requests = s
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::Request { .. }))
        .count();
    assert_eq!(new_requests, 1);
}

#[test]
fn a_response_only_matches_its_method() {
    let mut s = Sim::new();
    let invite = request(Method::Invite, "z9hG4bK19", "UDP");
    let id = s
        .layer
        .send_request(s.now, invite.clone(), Flow::udp(addr()))
        .unwrap();
    s.drain();
    s.clear();
    // A 200 to a CANCEL with the INVITE's branch must not complete the INVITE.
    let mut cancel = request(Method::Cancel, "z9hG4bK19", "UDP");
    cancel.set_uri(invite.uri().clone());
    let r: Response = response_to(&cancel, StatusCode::OK, Some("b"));
    s.input(r, Flow::udp(addr()));
    assert_eq!(s.layer.client_state(id), Some(ClientState::Calling));
    assert!(matches!(s.events()[0].1, TxEvent::StrayResponse { .. }));
}
