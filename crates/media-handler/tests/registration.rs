//! A handler started with a controller URL posts its registration periodically, with the
//! controller's token when it has one, and keeps running when the controller is absent.

mod common;

use std::time::Duration;

use axum::Json;
use axum::routing::post;
use common::*;
use media_api::Registration;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_registers_with_its_controller() {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Option<String>, Registration)>();
    let app = axum::Router::new().route(
        media_api::REGISTRATION_PATH,
        post(
            move |headers: axum::http::HeaderMap, Json(r): Json<Registration>| {
                let tx = tx.clone();
                async move {
                    let auth = headers
                        .get(axum::http::header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let _ = tx.send((auth, r));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let controller = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (h, _dir) = handler(23_900, |c| {
        c.controller = Some(controller);
        c.controller_token = Some("the-admin-token".into());
        c.register_every = Duration::from_millis(100);
        c.capacity_kbps = 4321;
    })
    .await;
    for _ in 0..2 {
        let (auth, r) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("registration")
            .expect("open");
        assert_eq!(auth.as_deref(), Some("Bearer the-admin-token"));
        assert_eq!(r.url, h.url);
        assert_eq!(r.status.capacity_kbps, 4321);
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_controller_does_not_stop_the_handler() {
    let (h, _dir) = handler(24_100, |c| {
        c.controller = Some("http://127.0.0.1:9".into());
        c.register_every = Duration::from_millis(50);
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.client().status().await.is_ok());
    h.shutdown().await;
}
