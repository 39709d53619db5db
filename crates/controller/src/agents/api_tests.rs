//! The agent interface over real HTTP on loopback, with an in-memory store and the real
//! manager task.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use store::Store;
use tokio::sync::mpsc;

use super::manager::{ContactEvent, Enqueue, ManagerOptions};
use super::{Agents, AgentsApi, Auth, load_from_store};

const ADMIN: &str = "admin-secret";

struct Server {
    base: String,
    http: reqwest::Client,
    agents: Agents,
    store: Arc<dyn Store>,
}

impl Server {
    async fn start() -> Server {
        let store: Arc<dyn Store> = store::open("sqlite::memory:").await.expect("memory store");
        let agents = load_from_store(
            store.clone(),
            ManagerOptions::default(),
            &Default::default(),
        )
        .await
        .expect("load");
        let flows: super::api::FlowCheck = Arc::new(|name: &str| name == "demo");
        let api = AgentsApi::new(
            agents.manager.clone(),
            store.clone(),
            agents.directory.clone(),
            Auth::new(ADMIN),
            Some(flows),
        );
        let (router, _doc) = super::api::router::<()>(api).split_for_parts();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port");
        let addr = listener.local_addr().expect("bound");
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        Server {
            base: format!("http://{addr}/api/v1"),
            http: reqwest::Client::new(),
            agents,
            store,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, value)
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, Some(ADMIN), body).await
    }

    /// Creates queue `support` and agent `alice` (SIP user 1001, password pw-alice).
    async fn seed(&self) {
        let (s, q) = self
            .admin(
                "POST",
                "/queues",
                Some(
                    json!({"id": "support", "skills": {"english": 3}, "ring_timeout": "8s",
                            "wrap_up": 2, "record": true, "strategy": "longest_idle"}),
                ),
            )
            .await;
        assert_eq!(s, 201, "{q}");
        assert_eq!(q["ring_timeout"], 8.0);
        let (s, a) = self
            .admin(
                "POST",
                "/agents",
                Some(json!({"id": "alice", "name": "Alice", "sip_user": "1001",
                            "password": "pw-alice", "skills": {"english": 8}, "queues": ["support"]})),
            )
            .await;
        assert_eq!(s, 201, "{a}");
        assert_eq!(a["has_password"], true);
        assert!(a.get("password").is_none(), "never echo the password: {a}");
    }
}

fn assert_error(status: u16, body: &Value, want_status: u16, mention: &str) {
    assert_eq!(status, want_status, "{body}");
    assert!(body["error"].is_string(), "error code in {body}");
    let msg = body["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(mention),
        "message {msg:?} should mention {mention:?}"
    );
}

#[tokio::test]
async fn admin_crud_persists_and_applies_live() {
    let s = Server::start().await;
    s.seed().await;
    // Persisted.
    let stored = s
        .store
        .get_agent("alice")
        .await
        .expect("store")
        .expect("alice");
    assert_eq!(stored.origin, store::Origin::Api);
    // Live in the registrar's lookup.
    assert_eq!(
        s.agents.directory.password("1001").as_deref(),
        Some("pw-alice")
    );
    // Live in the ACD.
    let view = s
        .agents
        .manager
        .agent_view("alice")
        .await
        .expect("in the ACD");
    assert_eq!(view.state, "logged_out");

    // PUT without a password keeps it; a new SIP user replaces the old one.
    let (st, a) = s
        .admin(
            "PUT",
            "/agents/alice",
            Some(json!({"sip_user": "2001", "queues": ["support"], "skills": {"english": 2}})),
        )
        .await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(s.agents.directory.password("1001"), None);
    assert_eq!(
        s.agents.directory.password("2001").as_deref(),
        Some("pw-alice")
    );
    // english 2 < the queue's 3: alice no longer serves support.
    let view = s.agents.manager.agent_view("alice").await.expect("alice");
    assert!(view.queues.is_empty(), "{view:?}");

    let (st, list) = s.admin("GET", "/agents", None).await;
    assert_eq!(st, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (st, q) = s.admin("GET", "/queues/support", None).await;
    assert_eq!((st, q["strategy"].as_str()), (200, Some("longest_idle")));

    // Routes, checked against the flows.
    let (st, r) = s
        .admin(
            "POST",
            "/routes",
            Some(json!({"number": "1000", "flow": "demo"})),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(
        s.agents.directory.route("1000").map(|r| r.flow),
        Some("demo".into())
    );
    let (st, body) = s
        .admin(
            "POST",
            "/routes",
            Some(json!({"number": "2000", "flow": "nope"})),
        )
        .await;
    assert_error(st, &body, 422, "unknown flow \"nope\"");
    let (st, body) = s
        .admin(
            "POST",
            "/routes",
            Some(json!({"number": "1000", "flow": "demo"})),
        )
        .await;
    assert_error(st, &body, 409, "already exists");
    let (st, _) = s.admin("DELETE", "/routes/1000", None).await;
    assert_eq!(st, 204);
    assert!(s.agents.directory.route("1000").is_none());

    // Deleting.
    let (st, _) = s.admin("DELETE", "/agents/alice", None).await;
    assert_eq!(st, 204);
    assert_eq!(s.agents.directory.password("2001"), None);
    assert!(s.agents.manager.agent_view("alice").await.is_none());
    let (st, body) = s.admin("DELETE", "/agents/alice", None).await;
    assert_error(st, &body, 404, "alice");
    let (st, _) = s.admin("DELETE", "/queues/support", None).await;
    assert_eq!(st, 204);
    assert!(s.agents.manager.queue_stats("support").await.is_none());
}

#[tokio::test]
async fn bad_input_is_a_4xx_json_error_naming_the_problem() {
    let s = Server::start().await;
    s.seed().await;
    let cases = [
        (
            "POST",
            "/queues",
            json!({"id": "q2", "skills": {"english": 11}}),
            422,
            "skills.english",
        ),
        (
            "POST",
            "/queues",
            json!({"id": "q2", "strategy": "fastest"}),
            422,
            "unknown strategy \"fastest\"",
        ),
        (
            "POST",
            "/queues",
            json!({"id": "q2", "ring_timeout": 0}),
            422,
            "ring_timeout",
        ),
        (
            "POST",
            "/queues",
            json!({"id": "q2", "ring_timeout": "soon"}),
            422,
            "ring_timeout",
        ),
        ("POST", "/queues", json!({"id": "q 2"}), 422, "id"),
        (
            "POST",
            "/queues",
            json!({"id": "q2", "colour": "red"}),
            422,
            "colour",
        ),
        (
            "POST",
            "/queues",
            json!({"name": "no id"}),
            422,
            "id: required",
        ),
        (
            "POST",
            "/agents",
            json!({"id": "bob", "password": "x", "queues": ["sales"]}),
            422,
            "unknown queue \"sales\"",
        ),
        (
            "POST",
            "/agents",
            json!({"id": "bob", "queues": []}),
            422,
            "password",
        ),
        (
            "POST",
            "/agents",
            json!({"id": "bob", "password": "x", "sip_user": "1001"}),
            409,
            "conflict",
        ),
        (
            "POST",
            "/agents",
            json!({"id": "alice", "password": "x"}),
            409,
            "already exists",
        ),
        (
            "PUT",
            "/agents/bob",
            json!({"id": "carol", "password": "x"}),
            422,
            "the path says \"bob\"",
        ),
        (
            "POST",
            "/agents/alice/not-ready",
            json!({"reason": ""}),
            422,
            "reason",
        ),
    ];
    for (method, path, body, status, mention) in cases {
        let (st, b) = s.admin(method, path, Some(body.clone())).await;
        assert!(b["error"].is_string(), "{method} {path} {body}: {b}");
        assert_eq!(st, status, "{method} {path} {body}: {b}");
        let msg = b["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(mention),
            "{method} {path} {body}: {msg:?} should mention {mention:?}"
        );
    }
    // Not JSON at all.
    let resp = s
        .http
        .post(format!("{}/queues", s.base))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    let b: Value = resp.json().await.expect("JSON error body");
    assert_eq!(b["error"], "bad_request");
}

#[tokio::test]
async fn tokens_separate_admin_agents_and_strangers() {
    let s = Server::start().await;
    s.seed().await;
    let (st, b) = s.call("GET", "/agents", None, None).await;
    assert_error(st, &b, 401, "missing token");
    let (st, b) = s.call("GET", "/agents", Some("guess"), None).await;
    assert_error(st, &b, 401, "unknown");

    let (st, b) = s
        .call(
            "POST",
            "/agents/alice/login",
            None,
            Some(json!({"password": "wrong"})),
        )
        .await;
    assert_error(st, &b, 401, "wrong password");
    let (st, b) = s
        .call(
            "POST",
            "/agents/alice/login",
            None,
            Some(json!({"password": "pw-alice", "ready": false})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["agent"]["state"], "not_ready");
    assert_eq!(b["agent"]["reason"], "login");
    let token = b["token"].as_str().expect("token").to_string();

    // The agent's token manages its own state only, and no configuration.
    let (st, b) = s
        .call("POST", "/agents/alice/ready", Some(&token), None)
        .await;
    assert_eq!((st, b["state"].as_str()), (200, Some("available")), "{b}");
    let (st, b) = s.call("GET", "/agents", Some(&token), None).await;
    assert_error(st, &b, 403, "admin token");
    s.admin(
        "POST",
        "/agents",
        Some(json!({"id": "bob", "password": "pw-bob", "queues": ["support"], "skills": {"english": 5}})),
    )
    .await;
    let (st, b) = s
        .call("POST", "/agents/bob/ready", Some(&token), None)
        .await;
    assert_error(st, &b, 403, "own state");
    // Statistics are for everyone logged in.
    let (st, b) = s
        .call("GET", "/queues/support/stats", Some(&token), None)
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["agents"]["available"], 1);

    // The ACD's refusals keep their meaning.
    let (st, b) = s
        .call("POST", "/agents/alice/hold", Some(&token), None)
        .await;
    assert_error(st, &b, 409, "cannot hold while available");
    let (st, b) = s
        .call(
            "POST",
            "/agents/alice/not-ready",
            Some(&token),
            Some(json!({"reason": "lunch"})),
        )
        .await;
    assert_eq!((st, b["reason"].as_str()), (200, Some("lunch")), "{b}");

    let (st, b) = s
        .call("POST", "/agents/alice/logout", Some(&token), None)
        .await;
    assert_eq!((st, b["state"].as_str()), (200, Some("logged_out")), "{b}");
    let (st, b) = s
        .call("GET", "/agents/alice/state", Some(&token), None)
        .await;
    assert_error(st, &b, 401, "unknown");
}

#[tokio::test]
async fn queue_stats_and_the_websocket_follow_a_contact() {
    let s = Server::start().await;
    s.seed().await;
    let (_, b) = s
        .call(
            "POST",
            "/agents/alice/login",
            None,
            Some(json!({"password": "pw-alice"})),
        )
        .await;
    let token = b["token"].as_str().expect("token").to_string();

    let ws_url = format!(
        "{}/stats/ws?token={ADMIN}",
        s.base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .expect("websocket");
    let mut next_json = async || -> Value {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("valid frame");
        serde_json::from_str(msg.to_text().expect("text")).expect("JSON")
    };
    let first = next_json().await;
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(first["queues"][0]["queue"], "support");
    assert_eq!(first["agents"][0]["state"], "available");

    // A customer arrives (the contact side writes its record first); the fake dialer answers.
    s.store
        .create_contact(&store::NewContact {
            id: "c-1".into(),
            arrived_at: jiff::Timestamp::now(),
            caller: None,
            dialed: None,
            flow: None,
        })
        .await
        .expect("record");
    let (tx, mut rx) = mpsc::unbounded_channel();
    s.agents.manager.enqueue(Enqueue {
        contact: "c-1".into(),
        queue: Some("support".into()),
        priority: None,
        agent: None,
        events: tx,
    });
    loop {
        match rx.recv().await.expect("event") {
            ContactEvent::Offer { agent, .. } => {
                assert_eq!(agent, "alice");
                break;
            }
            ContactEvent::Position { .. } => {}
            other => panic!("expected an offer, got {other:?}"),
        }
    }
    s.agents.manager.offer_answered("c-1", "alice");
    assert!(matches!(
        rx.recv().await,
        Some(ContactEvent::Connected { .. })
    ));

    // The WebSocket saw the agent ring and go on call, and the queue answer it.
    let mut saw = (false, false, false);
    while !(saw.0 && saw.1 && saw.2) {
        let m = next_json().await;
        match m["type"].as_str() {
            Some("agent") if m["state"] == "ringing" => saw.0 = true,
            Some("agent") if m["state"] == "on_call" && m["contact"] == "c-1" => saw.1 = true,
            Some("queue") if m["answered"] == 1 => saw.2 = true,
            _ => {}
        }
    }
    let (st, q) = s
        .call("GET", "/queues/support/stats", Some(&token), None)
        .await;
    assert_eq!(st, 200);
    for field in [
        "waiting",
        "offered",
        "answered",
        "abandoned",
        "service_level",
        "asa_seconds",
        "aht_seconds",
        "longest_wait_seconds",
    ] {
        assert!(q.get(field).is_some(), "{field} in {q}");
    }
    assert_eq!(
        (q["offered"].as_u64(), q["answered"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(q["last_15_minutes"]["offered"], 1);
    assert_eq!(q["agents"]["on_call"], 1);

    // The agent hangs up from its desktop: the contact is told, wrap-up starts, and the
    // disposition lands in the call record.
    let (st, b) = s
        .call("POST", "/agents/alice/hangup", Some(&token), None)
        .await;
    assert_eq!((st, b["state"].as_str()), (200, Some("wrap_up")), "{b}");
    assert_eq!(
        rx.recv().await,
        Some(ContactEvent::HangUp {
            agent: "alice".into()
        })
    );
    let (st, b) = s
        .call(
            "POST",
            "/agents/alice/wrap-up",
            Some(&token),
            Some(json!({"disposition": "resolved"})),
        )
        .await;
    assert_eq!((st, b["state"].as_str()), (200, Some("available")), "{b}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rec = s
            .store
            .get_contact("c-1")
            .await
            .expect("store")
            .expect("record");
        if rec.contact.disposition.as_deref() == Some("resolved") {
            assert_eq!(rec.contact.queue.as_deref(), Some("support"));
            assert_eq!(rec.contact.agent.as_deref(), Some("alice"));
            assert_eq!(rec.offers.len(), 1);
            assert_eq!(rec.offers[0].result, Some(store::OfferResult::Answered));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "record never completed: {rec:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
