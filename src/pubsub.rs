//! Pub/sub traffic on a client's connection.
//!
//! SUBSCRIBE and its kin are not answered one reply per command: the server
//! confirms each channel in turn (an array under RESP2, a push under RESP3)
//! and then sends messages whenever they come. The connection driver counts
//! a command's confirmations off it (see `connection::Expect::PubSub`) and
//! hands every piece of pub/sub traffic, confirmations included, to the
//! client's `Sink`: it goes to Perl as a `P` completion, and the sink keeps
//! the set of subscriptions the server confirmed, which a reconnect replays.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::completion::Completions;
use crate::resp::{is_word, Value};

/// The six commands that change subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Subscribe,
    Psubscribe,
    Ssubscribe,
    Unsubscribe,
    Punsubscribe,
    Sunsubscribe,
}

const KINDS: [Kind; 6] = [
    Kind::Subscribe,
    Kind::Psubscribe,
    Kind::Ssubscribe,
    Kind::Unsubscribe,
    Kind::Punsubscribe,
    Kind::Sunsubscribe,
];

impl Kind {
    /// The word the server confirms with (and the command's name).
    pub fn word(self) -> &'static [u8] {
        match self {
            Kind::Subscribe => b"subscribe",
            Kind::Psubscribe => b"psubscribe",
            Kind::Ssubscribe => b"ssubscribe",
            Kind::Unsubscribe => b"unsubscribe",
            Kind::Punsubscribe => b"punsubscribe",
            Kind::Sunsubscribe => b"sunsubscribe",
        }
    }

    /// The kind of a command, its name compared as the server compares it
    /// (ASCII case-insensitive, up to a NUL).
    pub fn of_command(name: &[u8]) -> Option<Kind> {
        KINDS.into_iter().find(|k| is_word(name, k.word()))
    }

    /// The command that undoes this one's subscriptions.
    pub fn undo(self) -> Kind {
        match self {
            Kind::Subscribe | Kind::Unsubscribe => Kind::Unsubscribe,
            Kind::Psubscribe | Kind::Punsubscribe => Kind::Punsubscribe,
            Kind::Ssubscribe | Kind::Sunsubscribe => Kind::Sunsubscribe,
        }
    }

    fn of_reply(word: &[u8]) -> Option<Kind> {
        KINDS.into_iter().find(|k| word == k.word())
    }
}

/// What a value read on a connection is, as pub/sub traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Traffic {
    /// `[kind, name, count]`: one name subscribed or unsubscribed.
    Confirmation(Kind),
    /// message, pmessage, smessage.
    Message,
}

/// Pub/sub traffic is an array (or push) that starts with one of the
/// words the server uses for it.
pub fn classify(value: &Value) -> Option<Traffic> {
    let (Value::Array(items) | Value::Push(items)) = value else {
        return None;
    };
    let Some(Value::Bytes(word)) = items.first() else {
        return None;
    };
    if let Some(kind) = Kind::of_reply(word) {
        return Some(Traffic::Confirmation(kind));
    }
    matches!(word.as_slice(), b"message" | b"pmessage" | b"smessage").then_some(Traffic::Message)
}

/// The subscriptions the server confirmed, by kind.
#[derive(Debug, Default)]
pub struct Subscriptions {
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    shard_channels: BTreeSet<Vec<u8>>,
}

impl Subscriptions {
    fn confirm(&mut self, kind: Kind, name: &[u8]) {
        let name = name.to_vec();
        match kind {
            Kind::Subscribe => self.channels.insert(name),
            Kind::Psubscribe => self.patterns.insert(name),
            Kind::Ssubscribe => self.shard_channels.insert(name),
            Kind::Unsubscribe => self.channels.remove(&name),
            Kind::Punsubscribe => self.patterns.remove(&name),
            Kind::Sunsubscribe => self.shard_channels.remove(&name),
        };
    }

    /// The commands that restore these subscriptions on a new connection.
    pub fn replay(&self) -> Vec<(Kind, Vec<Vec<u8>>)> {
        [
            (Kind::Subscribe, &self.channels),
            (Kind::Psubscribe, &self.patterns),
            (Kind::Ssubscribe, &self.shard_channels),
        ]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(kind, names)| (kind, names.iter().cloned().collect()))
        .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Subscriptions::default();
    }
}

/// Where a client's pub/sub traffic goes; shared by its connections.
#[derive(Debug, Clone)]
pub struct Sink {
    out: Arc<Completions>,
    client: u64,
    subscriptions: Arc<Mutex<Subscriptions>>,
}

impl Sink {
    pub fn new(out: Arc<Completions>, client: u64) -> Sink {
        Sink {
            out,
            client,
            subscriptions: Arc::default(),
        }
    }

    pub fn subscriptions(&self) -> MutexGuard<'_, Subscriptions> {
        // Each change is one insert or remove: a panic cannot leave it half
        // made, so a poisoned lock is safe to use.
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets subscriptions the server will not restore (a reconnect's
    /// SUBSCRIBE refused), telling Perl as the server would have: with an
    /// unsubscribe confirmation for each.
    pub fn drop_names(&self, kind: Kind, names: &[Vec<u8>]) {
        for name in names {
            self.forward(&Value::Array(vec![
                Value::Bytes(kind.undo().word().to_vec()),
                Value::Bytes(name.clone()),
                Value::Int(0),
            ]));
        }
    }

    /// Forgets every subscription (nothing will restore them), telling Perl.
    pub fn drop_all(&self) {
        // (The lock is let go first: dropping a name takes it again.)
        let replay = self.subscriptions().replay();
        for (kind, names) in replay {
            self.drop_names(kind, &names);
        }
    }

    /// Notes a confirmation, and passes it on to Perl, as it does a
    /// message while anything is subscribed. Anything else (other pushes,
    /// a server sending messages nobody asked for) stops here: it must not
    /// flood Perl.
    pub fn forward(&self, value: &Value) {
        match classify(value) {
            Some(Traffic::Confirmation(kind)) => {
                if let Value::Array(items) | Value::Push(items) = value {
                    if let Some(Value::Bytes(name)) = items.get(1) {
                        self.subscriptions().confirm(kind, name);
                    }
                }
            }
            Some(Traffic::Message) if !self.subscriptions().is_empty() => {}
            _ => return,
        }
        self.out.pubsub(self.client, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &[u8]) -> Value {
        Value::Bytes(t.to_vec())
    }

    #[test]
    fn commands_and_replies() {
        assert_eq!(Kind::of_command(b"SUBSCRIBE"), Some(Kind::Subscribe));
        assert_eq!(
            Kind::of_command(b"sUnSubscribe\0x"),
            Some(Kind::Sunsubscribe)
        );
        assert_eq!(Kind::of_command(b"PUBLISH"), None);
        let confirm = Value::Push(vec![text(b"psubscribe"), text(b"p*"), Value::Int(1)]);
        assert_eq!(
            classify(&confirm),
            Some(Traffic::Confirmation(Kind::Psubscribe))
        );
        let message = Value::Array(vec![text(b"message"), text(b"c"), text(b"x")]);
        assert_eq!(classify(&message), Some(Traffic::Message));
        assert_eq!(classify(&Value::Array(vec![text(b"MESSAGE")])), None);
        assert_eq!(classify(&text(b"subscribe")), None);
    }

    #[test]
    fn confirmations_keep_the_set_a_reconnect_replays() {
        let sink = Sink::new(Completions::new().expect("wake fd"), 1);
        let confirm =
            |kind: &[u8], name: &[u8]| Value::Array(vec![text(kind), text(name), Value::Int(1)]);
        sink.forward(&confirm(b"subscribe", b"a"));
        sink.forward(&confirm(b"subscribe", b"b"));
        sink.forward(&confirm(b"psubscribe", b"p*"));
        sink.forward(&confirm(b"unsubscribe", b"a"));
        sink.forward(&Value::Array(vec![
            text(b"unsubscribe"),
            Value::Nil,
            Value::Int(0),
        ]));
        assert_eq!(
            sink.subscriptions().replay(),
            vec![
                (Kind::Subscribe, vec![b"b".to_vec()]),
                (Kind::Psubscribe, vec![b"p*".to_vec()]),
            ]
        );
        sink.drop_all();
        assert!(sink.subscriptions().replay().is_empty(), "dropped");
    }

    #[test]
    fn only_traffic_for_our_subscriptions_reaches_perl() {
        let out = Completions::new().expect("wake fd");
        let sink = Sink::new(Arc::clone(&out), 1);
        let message = Value::Push(vec![text(b"message"), text(b"c"), text(b"x")]);
        sink.forward(&message);
        sink.forward(&Value::Push(vec![text(b"invalidate"), Value::Nil]));
        assert!(out.take().is_empty(), "nothing subscribed: dropped");
        sink.forward(&Value::Push(vec![
            text(b"subscribe"),
            text(b"c"),
            Value::Int(1),
        ]));
        sink.forward(&message);
        assert_eq!(out.take().iter().filter(|b| **b == b'P').count(), 2);
    }
}
