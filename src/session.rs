//! Connection state that ordinary commands change and a reconnect must
//! restore. The handshake replays the configured user, database and client
//! name; a SELECT, CLIENT SETNAME or AUTH sent as a command changes them on
//! the live connection only, so a reconnect would quietly put the client
//! back on the old database (writes landing in the wrong place). Once the
//! server answers such a command with OK, its change is made to the
//! configuration the next handshake uses.
//!
//! Inside MULTI the answer is QUEUED: the change is held until the EXEC
//! reply shows every queued command ran (then it is kept), or the
//! transaction is discarded or aborted (then it is dropped). When some
//! command failed inside EXEC, which one is not known here, so the client
//! resets the connection rather than guess.
//!
//! Words are compared as the server compares them: ASCII case-insensitive
//! and only up to a NUL byte (strcasecmp), so "SELECT\0x", which the server
//! may run as SELECT, counts as SELECT.

use crate::config::Config;
use crate::resp::{is_word, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum SessionChange {
    Database(i64),
    /// `None`: CLIENT SETNAME "" clears the name.
    ClientName(Option<Vec<u8>>),
    Auth {
        username: Option<Vec<u8>>,
        password: Vec<u8>,
    },
}

/// What a command means for the session state.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Change(SessionChange),
    /// EXEC: settles the changes queued since MULTI.
    Exec,
    /// DISCARD: drops them.
    Discard,
}

/// The reply a session change waits for, and what it says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    Accepted,
    Queued,
    Other,
}

impl Effect {
    /// The effect a command has, if any.
    pub fn from_args(args: &[&[u8]]) -> Option<Effect> {
        let name = *args.first()?;
        if is_word(name, b"EXEC") {
            return Some(Effect::Exec);
        }
        if is_word(name, b"DISCARD") {
            return Some(Effect::Discard);
        }
        if is_word(name, b"SELECT") && args.len() == 2 {
            let db: i64 = std::str::from_utf8(args[1]).ok()?.parse().ok()?;
            return (db >= 0).then_some(Effect::Change(SessionChange::Database(db)));
        }
        if is_word(name, b"CLIENT") && args.len() == 3 && is_word(args[1], b"SETNAME") {
            let value = (!args[2].is_empty()).then(|| args[2].to_vec());
            return Some(Effect::Change(SessionChange::ClientName(value)));
        }
        if is_word(name, b"AUTH") && (args.len() == 2 || args.len() == 3) {
            return Some(Effect::Change(SessionChange::Auth {
                username: (args.len() == 3).then(|| args[1].to_vec()),
                password: args[args.len() - 1].to_vec(),
            }));
        }
        None
    }
}

impl SessionChange {
    /// Whether a reply says the server made the change (+OK), queued it
    /// (+QUEUED, inside MULTI), or neither.
    pub fn answer(reply: &Value) -> Answer {
        match reply {
            Value::Bytes(text) if text == b"OK" => Answer::Accepted,
            Value::Bytes(text) if text == b"QUEUED" => Answer::Queued,
            _ => Answer::Other,
        }
    }

    /// Makes the change to the configuration of future handshakes.
    pub fn apply(self, cfg: &mut Config) {
        match self {
            SessionChange::Database(db) => cfg.database = db,
            SessionChange::ClientName(name) => cfg.client_name = name,
            SessionChange::Auth { username, password } => {
                cfg.username = username;
                cfg.password = Some(password);
            }
        }
    }
}

/// What EXEC's reply means for the changes queued in its transaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExecOutcome {
    /// Every queued command ran: keep the changes.
    Keep,
    /// Nothing ran (aborted by WATCH, EXECABORT, no MULTI): drop them.
    Drop,
    /// Some command failed and which is unknown: reset the connection.
    Unknown,
}

pub fn exec_outcome(reply: &Value) -> ExecOutcome {
    match reply {
        Value::Array(items) if items.iter().any(|v| matches!(v, Value::Error(_))) => {
            ExecOutcome::Unknown
        }
        Value::Array(_) => ExecOutcome::Keep,
        _ => ExecOutcome::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(args: &[&[u8]]) -> Option<Effect> {
        Effect::from_args(args)
    }

    fn change(c: SessionChange) -> Option<Effect> {
        Some(Effect::Change(c))
    }

    #[test]
    fn recognises_the_commands_the_handshake_replays() {
        assert_eq!(
            effect(&[b"select", b"3"]),
            change(SessionChange::Database(3))
        );
        assert_eq!(
            effect(&[b"SELECT\0junk", b"3"]),
            change(SessionChange::Database(3)),
            "compared as the server does, up to a NUL"
        );
        assert_eq!(effect(&[b"SELECTX", b"3"]), None);
        assert_eq!(effect(&[b"SELECT", b"-1"]), None);
        assert_eq!(effect(&[b"SELECT", b"x"]), None);
        assert_eq!(effect(&[b"SELECT", b"1", b"2"]), None);
        assert_eq!(
            effect(&[b"client", b"setname\0", b"w1"]),
            change(SessionChange::ClientName(Some(b"w1".to_vec())))
        );
        assert_eq!(
            effect(&[b"CLIENT", b"SETNAME", b""]),
            change(SessionChange::ClientName(None))
        );
        assert_eq!(effect(&[b"CLIENT", b"GETNAME"]), None);
        assert_eq!(
            effect(&[b"AUTH", b"pw"]),
            change(SessionChange::Auth {
                username: None,
                password: b"pw".to_vec()
            })
        );
        assert_eq!(
            effect(&[b"auth", b"u", b"\xff\x00"]),
            change(SessionChange::Auth {
                username: Some(b"u".to_vec()),
                password: b"\xff\x00".to_vec()
            })
        );
        assert_eq!(effect(&[b"exec"]), Some(Effect::Exec));
        assert_eq!(effect(&[b"DISCARD"]), Some(Effect::Discard));
        assert_eq!(effect(&[b"GET", b"k"]), None);
    }

    #[test]
    fn answers() {
        let text = |t: &[u8]| Value::Bytes(t.to_vec());
        assert_eq!(SessionChange::answer(&text(b"OK")), Answer::Accepted);
        assert_eq!(SessionChange::answer(&text(b"QUEUED")), Answer::Queued);
        assert_eq!(
            SessionChange::answer(&Value::Error(b"ERR DB index is out of range".to_vec())),
            Answer::Other
        );
        assert_eq!(
            exec_outcome(&Value::Array(vec![text(b"OK"), Value::Int(1)])),
            ExecOutcome::Keep
        );
        assert_eq!(
            exec_outcome(&Value::Array(vec![
                text(b"OK"),
                Value::Error(b"ERR".to_vec())
            ])),
            ExecOutcome::Unknown
        );
        assert_eq!(exec_outcome(&Value::Nil), ExecOutcome::Drop);
    }

    #[test]
    fn applies_to_the_next_handshake() {
        let mut cfg = Config {
            username: Some(b"old".to_vec()),
            ..Config::default()
        };
        SessionChange::Database(4).apply(&mut cfg);
        SessionChange::ClientName(Some(b"n".to_vec())).apply(&mut cfg);
        SessionChange::Auth {
            username: None,
            password: b"p".to_vec(),
        }
        .apply(&mut cfg);
        assert_eq!(cfg.database, 4);
        assert_eq!(cfg.client_name.as_deref(), Some(&b"n"[..]));
        assert_eq!(cfg.username, None);
        assert_eq!(cfg.password.as_deref(), Some(&b"p"[..]));
    }
}
