//! Issue 2, item 5: ports return to the pool on every exit path. 10,000 sessions are created
//! and deleted (with legs, routes, a recording now and then, and failing requests after a
//! port was taken) through a pool of 64 pairs; afterwards the pool is full.

mod common;

use media_handler::IoMode;

use common::*;
use media_api::*;
use media_handler::pool::PortRange;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sessions_leave_the_pool_full() {
    // io_uring where the kernel allows it (the default): its requests on a leg's sockets are
    // cancelled before the sockets close, or the ports would stay bound.
    sessions_leave_the_pool_full(IoMode::Auto, 23600).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sessions_leave_the_pool_full_with_epoll() {
    // The fallback loop, used where io_uring is unavailable.
    sessions_leave_the_pool_full(IoMode::Epoll, 24800).await;
}

async fn sessions_leave_the_pool_full(io: IoMode, first_port: u16) {
    let (h, _dir) = handler(first_port, |c| {
        c.io = io;
        c.rtp_ports = PortRange {
            first: first_port,
            last: first_port + 127,
        }
    })
    .await;
    let c = h.client();
    let total = c.status().await.expect("status").ports_total;
    assert_eq!(total, 64);
    let g722 = Codec {
        name: "G722".into(),
        payload_type: 9,
        clock_rate: 8000,
        channels: 1,
        fmtp: None,
    };
    let workers: Vec<_> = (0..8u32)
        .map(|w| {
            let c = c.clone();
            let g722 = g722.clone();
            tokio::spawn(async move {
                for k in 0..1250u32 {
                    let s = session(&c, vec![ServiceType::Route, ServiceType::Record]).await;
                    let a = c
                        .add_leg(s.id, &leg(None, vec![pcmu()], Some(101)))
                        .await
                        .expect("leg a");
                    let b = c
                        .add_leg(s.id, &leg(None, vec![pcma()], None))
                        .await
                        .expect("leg b");
                    c.create_route(s.id, &CreateRoute { a: a.id, b: b.id })
                        .await
                        .expect("route");
                    match (w + k) % 50 {
                        // A leg that fails after its ports were taken.
                        0 => {
                            let err = c
                                .add_leg(s.id, &leg(None, vec![g722.clone()], None))
                                .await
                                .expect_err("G.722");
                            assert_eq!(
                                err.api_error().expect("api").error,
                                ErrorCode::UnsupportedCodec
                            );
                        }
                        // A leg removed on its own.
                        1 => c.remove_leg(s.id, b.id).await.expect("remove leg"),
                        // A recording finalized by the delete.
                        2 => {
                            c.start_recording(
                                s.id,
                                &StartRecording {
                                    source: RecordSource::Leg { leg: a.id },
                                    path: None,
                                },
                            )
                            .await
                            .expect("record");
                        }
                        _ => {}
                    }
                    c.delete_session(s.id).await.expect("delete");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let st = c.status().await.expect("status");
    assert_eq!((st.sessions, st.legs, st.recordings), (0, 0, 0));
    assert_eq!(st.ports_free, st.ports_total, "every port pair is back");
    // And they are usable: 64 legs fit again.
    let s = session(&c, vec![ServiceType::Route]).await;
    for _ in 0..64 {
        c.add_leg(s.id, &leg(None, vec![pcmu()], None))
            .await
            .expect("a pair is free");
    }
    h.shutdown().await;
}
