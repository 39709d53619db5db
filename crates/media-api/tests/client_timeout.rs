//! A media handler that accepts the connection and never answers does not hold
//! the caller forever: control requests end with an error at their deadline.

use std::net::TcpListener;

use media_api::{ClientError, MediaClient, REQUEST_TIMEOUT};

#[tokio::test(start_paused = true)]
async fn a_handler_that_never_answers_times_out() {
    // A real socket that accepts and then says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let client = MediaClient::new(format!("http://{addr}"));
    let started = tokio::time::Instant::now();
    let err = tokio::time::timeout(REQUEST_TIMEOUT * 3, client.status())
        .await
        .expect("the request ends by itself")
        .expect_err("no answer");
    assert!(
        matches!(&err, ClientError::Transport(e) if e.is_timeout()),
        "{err:?}"
    );
    // The paused clock moved to the deadline, not beyond it.
    let waited = started.elapsed();
    assert!(
        waited >= REQUEST_TIMEOUT && waited < REQUEST_TIMEOUT * 2,
        "{waited:?}"
    );
}
