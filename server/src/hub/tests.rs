//! The hub's ordering rules, without Redis: cursors (each position once, in order),
//! holding back while a socket joins, the requester's own copy with its ref, its own
//! answer before the pub/sub copy, and a bot reply after the ack.

use super::*;
use axum::extract::ws::Message;
use common::{
    game::model::Origin,
    protocol::{ChatMessage, RoomMessage, ServerMsg, Source},
};
use serde_json::Value;

const ROOM: &str = "room:{lobby}:events";

/// A socket registered on `hub`: its ID and what it was sent.
fn socket(hub: &Hub, token: &str) -> (u64, Frames) {
    let (outbox, rx) = Outbox::new(64);
    let id = hub
        .register(token, token, SocketKind::Ws, outbox, 0)
        .expect("no limit and not shutting down");
    (id, rx)
}

/// Every frame queued for a socket so far, as JSON.
fn sent(rx: &mut Frames) -> Vec<Value> {
    let mut frames = Vec::new();
    while let Some(msg) = rx.try_next() {
        if let Message::Text(text) = msg {
            frames.push(serde_json::from_str(text.as_str()).unwrap());
        }
    }
    frames
}

fn message(text: &str) -> ServerMsg {
    ServerMsg::RoomMessage {
        reference: None,
        message: RoomMessage {
            room: "lobby".into(),
            id: "1-0".into(),
            from: "ann".into(),
            text: text.into(),
            timestamp: "t".into(),
        },
    }
}

/// `text` as the answer to the request `reference`.
fn answer(text: &str, reference: &str) -> ServerMsg {
    let ServerMsg::RoomMessage { message, .. } = message(text) else {
        unreachable!()
    };
    ServerMsg::RoomMessage {
        reference: Some(reference.into()),
        message,
    }
}

/// Publishes `text` at `position` on the room, from `origin`.
fn publish(hub: &Hub, position: Position, text: &str, origin: Option<&Origin>) {
    let plain = message(text);
    let reference = origin.and_then(|o| o.reference.clone());
    hub.publish(ROOM, position, "node", origin, None, &plain, || {
        let ServerMsg::RoomMessage { message, .. } = message(text) else {
            unreachable!()
        };
        ServerMsg::RoomMessage {
            reference: reference.clone(),
            message,
        }
    });
}

fn texts(frames: &[Value]) -> Vec<&str> {
    frames
        .iter()
        .map(|f| f["text"].as_str().unwrap_or("?"))
        .collect()
}

#[test]
fn stream_ids_order_as_positions() {
    let a = stream_position("1700000000000-3").unwrap();
    let b = stream_position("1700000000000-10").unwrap();
    let c = stream_position("1700000000001-0").unwrap();
    assert!(a < b && b < c);
    assert!(stream_position("nope").is_none());
}

#[test]
fn a_follower_gets_each_position_once_and_never_an_older_one() {
    let hub = Hub::default();
    let (id, mut rx) = socket(&hub, "ann");
    hub.follow(ROOM, id, false);
    publish(&hub, 5, "five", None);
    publish(&hub, 5, "five again", None);
    publish(&hub, 3, "three", None);
    publish(&hub, 7, "seven", None);
    assert_eq!(texts(&sent(&mut rx)), ["five", "seven"]);
}

#[test]
fn while_joining_events_wait_and_only_those_after_the_answer_follow_it_in_order() {
    let hub = Hub::default();
    let (id, mut rx) = socket(&hub, "ann");
    hub.follow(ROOM, id, true);
    publish(&hub, 9, "nine", None);
    publish(&hub, 5, "five", None);
    publish(&hub, 7, "seven", None);
    assert!(sent(&mut rx).is_empty(), "held back while joining");
    let answer = ServerMsg::Ack {
        reference: Some("j".into()),
        id: None,
    };
    // The join's history ends at position 6: "five" is in it, the others follow it.
    hub.joined(ROOM, id, Some(6), &answer);
    let frames = sent(&mut rx);
    assert_eq!(frames[0]["type"], "ack");
    assert_eq!(texts(&frames[1..]), ["seven", "nine"], "in order, once");
}

#[test]
fn the_requester_gets_its_copy_with_its_ref_and_the_others_without() {
    let hub = Hub::default();
    let (ann, mut ann_rx) = socket(&hub, "ann");
    let (ben, mut ben_rx) = socket(&hub, "ben");
    hub.follow(ROOM, ann, false);
    hub.follow(ROOM, ben, false);
    let origin = Origin {
        node: "node".into(),
        conn: ann,
        reference: Some("r1".into()),
    };
    publish(&hub, 1, "hi", Some(&origin));
    assert_eq!(sent(&mut ann_rx)[0]["ref"], "r1");
    assert!(sent(&mut ben_rx)[0].get("ref").is_none());
    // The same socket ID on another node is another socket.
    let elsewhere = Origin {
        node: "other".into(),
        ..origin
    };
    publish(&hub, 2, "again", Some(&elsewhere));
    assert!(sent(&mut ann_rx)[0].get("ref").is_none());
}

#[test]
fn the_requesters_own_answer_makes_the_pub_sub_copy_a_duplicate() {
    let hub = Hub::default();
    let (id, mut rx) = socket(&hub, "ann");
    hub.follow(ROOM, id, false);
    hub.answer_change(ROOM, id, 4, &message("mine"), false);
    publish(&hub, 4, "mine, through pub/sub", None);
    publish(&hub, 3, "older, still on its way", None);
    assert_eq!(texts(&sent(&mut rx)), ["mine"]);
}

#[test]
fn a_requester_whose_change_came_without_its_ref_gets_the_answer_all_the_same() {
    let hub = Hub::default();
    let (id, mut rx) = socket(&hub, "ann");
    hub.follow(ROOM, id, false);
    // A catch-up after a lost subscription read the change before the request's answer.
    publish(&hub, 4, "mine", None);
    hub.answer_change(ROOM, id, 4, &answer("mine", "r1"), true);
    let frames = sent(&mut rx);
    assert_eq!(texts(&frames), ["mine", "mine"]);
    assert_eq!(frames[1]["ref"], "r1");
    hub.answer_change(ROOM, id, 4, &answer("mine", "r1"), true);
    assert!(sent(&mut rx).is_empty(), "answered once");
}

#[test]
fn a_request_without_a_ref_is_answered_by_the_plain_copy() {
    let hub = Hub::default();
    let (id, mut rx) = socket(&hub, "ann");
    hub.follow(ROOM, id, false);
    publish(&hub, 4, "mine", None);
    hub.answer_change(ROOM, id, 4, &message("mine"), false);
    assert_eq!(texts(&sent(&mut rx)), ["mine"]);
}

#[test]
fn a_requester_whose_change_came_with_its_ref_gets_it_once() {
    let hub = Hub::default();
    let (id, mut rx) = socket(&hub, "ann");
    hub.follow(ROOM, id, false);
    let origin = Origin {
        node: "node".into(),
        conn: id,
        reference: Some("r1".into()),
    };
    publish(&hub, 4, "mine", Some(&origin));
    hub.answer_change(ROOM, id, 4, &answer("mine", "r1"), true);
    let frames = sent(&mut rx);
    assert_eq!(texts(&frames), ["mine"]);
    assert_eq!(frames[0]["ref"], "r1");
}

#[test]
fn a_bot_reply_that_comes_before_the_ack_waits_for_it() {
    let hub = Hub::default();
    let (id, mut rx) = socket(&hub, "ann");
    hub.hold_replies(id);
    let reply = ChatMessage {
        id: "r".into(),
        source: Source::Bot,
        msg: "hello".into(),
        timestamp: "t".into(),
        in_reply_to: Some("m".into()),
    };
    hub.deliver_reply("ann", &reply);
    assert!(sent(&mut rx).is_empty(), "held until the ack is queued");
    let ack = ServerMsg::Ack {
        reference: None,
        id: Some("m".into()),
    };
    hub.release_replies(id, &ack);
    let frames = sent(&mut rx);
    assert_eq!(frames[0]["type"], "ack");
    assert_eq!(frames[1]["type"], "bot.reply");
    assert_eq!(frames.len(), 2);
}

#[test]
fn a_token_past_its_socket_limit_is_not_registered() {
    let hub = Hub::default();
    let (outbox, _rx) = Outbox::new(4);
    assert!(hub
        .register("ann", "ann", SocketKind::Ws, outbox.clone(), 1)
        .is_ok());
    assert_eq!(
        hub.register("ann", "ann", SocketKind::Ws, outbox.clone(), 1),
        Err(Refused::TooMany)
    );
    assert!(hub
        .register("ben", "ben", SocketKind::Ws, outbox, 1)
        .is_ok());
}

#[test]
fn closing_all_sends_the_close_before_what_is_queued_and_lets_no_socket_in() {
    let hub = Hub::default();
    let (outbox, mut ann_frames) = Outbox::new(4);
    hub.register("ann", "ann", SocketKind::Ws, outbox.clone(), 0)
        .expect("no limit");
    outbox.send(Message::Text("queued first".into()));
    let closed = hub.close_all(&close_frame(1001, "server shutting down"));
    assert_eq!(closed, 1);
    let Some(Message::Close(Some(frame))) = ann_frames.try_next() else {
        panic!("the close frame should come first");
    };
    assert_eq!(frame.code, 1001);
    assert!(
        ann_frames.try_next().is_none(),
        "nothing goes out after the close"
    );
    let (outbox, _rx) = Outbox::new(4);
    assert_eq!(
        hub.register("ben", "ben", SocketKind::Ws, outbox, 0),
        Err(Refused::ShuttingDown)
    );
}

#[test]
fn a_full_queue_closes_the_socket_as_too_slow() {
    let (outbox, mut frames) = Outbox::new(2);
    for text in ["one", "two", "three"] {
        outbox.send(Message::Text(text.into()));
    }
    let Some(Message::Close(Some(frame))) = frames.try_next() else {
        panic!("an overflow closes the socket before what is queued");
    };
    assert_eq!(frame.code, 4008);
    assert!(frames.try_next().is_none());
}

#[test]
fn the_keepalive_pings_a_share_of_the_sockets_each_turn_and_closes_silent_ones() {
    let hub = Hub::default();
    let (ann, mut ann_frames) = socket(&hub, "ann");
    let (ben, mut ben_frames) = socket(&hub, "ben");
    assert_ne!(ann % 2, ben % 2);
    let now = now_ms();
    assert_eq!(hub.keepalive(now, 60_000, ann, 2), 0);
    assert!(matches!(ann_frames.try_next(), Some(Message::Ping(_))));
    assert!(
        ben_frames.try_next().is_none(),
        "ben's turn is the next one"
    );
    assert_eq!(hub.keepalive(now + 1_000, 60_000, ben, 2), 0);
    assert!(matches!(ben_frames.try_next(), Some(Message::Ping(_))));

    assert_eq!(hub.keepalive(now + 60_000, 60_000, ann, 2), 2);
    for frames in [&mut ann_frames, &mut ben_frames] {
        let Some(Message::Close(Some(frame))) = frames.try_next() else {
            panic!("a socket silent for 60 s is closed");
        };
        assert_eq!(
            (frame.code, frame.reason.as_str()),
            (4000, "no traffic for 60 s")
        );
    }
}
