//! A minimal Messaging Agent API client for the simulator's tests: login over HTTP, JSON frames
//! over a real websocket on 127.0.0.1, requests correlated by id, notifications kept in order.

use std::collections::VecDeque;
use std::time::Duration;

use actix_codec::Framed;
use awc::ws;
use awc::BoxedSocket;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use botvisor::sim::SimHandle;

pub async fn control(handle: &SimHandle, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    crate::common::control_call(handle, method, path, body).await
}

/// POSTs to the control API and expects success.
pub async fn post(handle: &SimHandle, path: &str, body: Value) -> Value {
    let (status, body) = control(handle, "POST", path, Some(body)).await;
    assert!((200..300).contains(&status), "POST {path}: {status} {body}");
    body
}

pub async fn get(handle: &SimHandle, path: &str) -> Value {
    let (status, body) = control(handle, "GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

pub async fn login(handle: &SimHandle, body: Value) -> (u16, Value, Option<String>) {
    let url = format!("{}/api/account/{}/login?v=1.3", handle.platform_url(), handle.account);
    let mut response = awc::Client::default().post(url).send_json(&body).await.expect("login answers");
    let cookie = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).map(str::to_owned);
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null), cookie)
}

pub struct Agent {
    pub bearer: String,
    pub pid: String,
    pub user_id: String,
    framed: Framed<BoxedSocket, ws::Codec>,
    notifications: VecDeque<Value>,
    next_id: u64,
    pub closed: Option<(u16, String)>,
}

impl Agent {
    /// Logs in with a password and opens the websocket.
    pub async fn connect(handle: &SimHandle, login_name: &str, password: &str) -> Agent {
        let (status, body, _) = login(handle, json!({"username": login_name, "password": password})).await;
        assert_eq!(status, 200, "login: {body}");
        let bearer = body["bearer"].as_str().unwrap().to_owned();
        let framed = open_socket(handle, &bearer).await.expect("the websocket opens");
        Agent {
            bearer,
            pid: body["config"]["userPid"].as_str().unwrap().to_owned(),
            user_id: body["config"]["userId"].as_str().unwrap().to_owned(),
            framed,
            notifications: VecDeque::new(),
            next_id: 0,
            closed: None,
        }
    }

    pub fn old_id(&self, handle: &SimHandle) -> String {
        format!("{}.{}", handle.account, self.user_id)
    }

    pub async fn send_text(&mut self, text: String) {
        self.framed.send(ws::Message::Text(text.into())).await.expect("frame sent");
    }

    /// The next frame, or `None` when the socket closed (then `closed` holds the code).
    async fn next_frame(&mut self) -> Option<Value> {
        loop {
            let frame = actix_rt::time::timeout(Duration::from_secs(10), self.framed.next()).await.expect("a frame within 10 s");
            match frame {
                Some(Ok(ws::Frame::Text(bytes))) => return Some(serde_json::from_slice(&bytes).expect("JSON frame")),
                Some(Ok(ws::Frame::Close(reason))) => {
                    self.closed = reason.map(|r| (u16::from(r.code), r.description.unwrap_or_default()));
                    return None;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Sends a request and returns its response; notifications on the way are kept.
    pub async fn request(&mut self, kind: &str, body: Value) -> Value {
        self.next_id += 1;
        let id = format!("req-{}", self.next_id);
        self.send_text(json!({"kind": "req", "id": id, "type": kind, "body": body}).to_string()).await;
        self.response_to(&id).await
    }

    /// Sends a whole request frame (frame-level fields included) under a fresh id and returns
    /// its response.
    pub async fn request_frame(&mut self, mut frame: Value) -> Value {
        self.next_id += 1;
        let id = format!("req-{}", self.next_id);
        frame["kind"] = json!("req");
        frame["id"] = json!(id);
        self.send_text(frame.to_string()).await;
        self.response_to(&id).await
    }

    /// The response to a frame whose id could not be read (`reqId: null`).
    pub async fn response_to_null(&mut self) -> Value {
        loop {
            let frame = self.next_frame().await.expect("the socket stays open");
            if frame["kind"] == "resp" && frame["reqId"].is_null() {
                return frame;
            }
            self.notifications.push_back(frame);
        }
    }

    pub async fn response_to(&mut self, id: &str) -> Value {
        loop {
            let frame = self.next_frame().await.expect("the socket stays open");
            if frame["kind"] == "resp" && frame["reqId"] == id {
                return frame;
            }
            if frame["kind"] == "notification" {
                self.notifications.push_back(frame);
            }
        }
    }

    /// The next notification of `kind` (others are kept), waiting up to 10 s.
    pub async fn notification(&mut self, kind: &str) -> Value {
        if let Some(at) = self.notifications.iter().position(|n| n["type"] == kind) {
            return self.notifications.remove(at).unwrap();
        }
        loop {
            let frame = self.next_frame().await.unwrap_or_else(|| panic!("socket closed while waiting for {kind}: {:?}", self.closed));
            if frame["type"] == kind {
                return frame;
            }
            self.notifications.push_back(frame);
        }
    }

    /// Sends a ping and waits for its pong.
    pub async fn ping(&mut self) {
        self.framed.send(ws::Message::Ping("hello".into())).await.expect("ping sent");
        loop {
            match actix_rt::time::timeout(Duration::from_secs(5), self.framed.next()).await.expect("a pong within 5 s") {
                Some(Ok(ws::Frame::Pong(bytes))) => {
                    assert_eq!(&bytes[..], b"hello");
                    return;
                }
                Some(Ok(ws::Frame::Text(bytes))) => self.notifications.push_back(serde_json::from_slice(&bytes).unwrap()),
                other => panic!("expected a pong, got {other:?}"),
            }
        }
    }

    /// Waits for the socket to close; returns the close code.
    pub async fn close_code(&mut self) -> Option<u16> {
        while self.next_frame().await.is_some() {}
        self.closed.as_ref().map(|(code, _)| *code)
    }

    /// ONLINE, routing tasks and own conversations subscribed (as the SDK's example bots do).
    pub async fn go_online(&mut self, handle: &SimHandle) {
        let old_id = self.old_id(handle);
        assert_eq!(
            self.request(".ams.routing.SetAgentState", json!({"availability": "ONLINE", "channels": ["MESSAGING"], "agentUserId": old_id}))
                .await["code"],
            202
        );
        assert_eq!(
            self.request(".ams.aam.SubscribeExConversations", json!({"agentIds": [old_id], "convState": ["OPEN"]})).await["code"],
            200
        );
        self.notification(".ams.aam.ExConversationChangeNotification").await;
        let routing = self
            .request(
                ".ams.routing.SubscribeRoutingTasks",
                json!({"channelType": "MESSAGING", "agentId": old_id, "brandId": handle.account}),
            )
            .await;
        assert_eq!(routing["code"], 200);
    }
}

pub async fn open_socket(handle: &SimHandle, bearer: &str) -> Result<Framed<BoxedSocket, ws::Codec>, String> {
    let url = format!("ws://{}/ws_api/account/{}/messaging/brand/{bearer}?v=2.1", handle.platform_addr, handle.account);
    awc::Client::default().ws(url).max_frame_size(16 * 1024 * 1024).connect().await.map(|(_, framed)| framed).map_err(|e| e.to_string())
}
