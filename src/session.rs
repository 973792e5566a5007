//! Connection state that ordinary commands change and a reconnect must
//! restore. The handshake replays the configured user, database and client
//! name; a SELECT, CLIENT SETNAME or AUTH sent as a command changes them on
//! the live connection only, so a reconnect would quietly put the client
//! back on the old database (writes landing in the wrong place). Once the
//! server answers such a command with OK, its change is made to the
//! configuration the next handshake uses. (Inside MULTI the answer is
//! QUEUED, and nothing is remembered: the transaction may be discarded, or
//! the command fail inside EXEC.)

use crate::config::Config;
use crate::resp::Value;

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

impl SessionChange {
    /// The change a command would make, if it is one of those.
    pub fn from_args(args: &[&[u8]]) -> Option<SessionChange> {
        let name = args.first()?;
        if name.eq_ignore_ascii_case(b"SELECT") && args.len() == 2 {
            let db: i64 = std::str::from_utf8(args[1]).ok()?.parse().ok()?;
            return (db >= 0).then_some(SessionChange::Database(db));
        }
        if name.eq_ignore_ascii_case(b"CLIENT")
            && args.len() == 3
            && args[1].eq_ignore_ascii_case(b"SETNAME")
        {
            let value = (!args[2].is_empty()).then(|| args[2].to_vec());
            return Some(SessionChange::ClientName(value));
        }
        if name.eq_ignore_ascii_case(b"AUTH") && (args.len() == 2 || args.len() == 3) {
            return Some(SessionChange::Auth {
                username: (args.len() == 3).then(|| args[1].to_vec()),
                password: args[args.len() - 1].to_vec(),
            });
        }
        None
    }

    /// Whether a reply says the server made the change (+OK; not QUEUED,
    /// not an error).
    pub fn accepted_by(reply: &Value) -> bool {
        matches!(reply, Value::Bytes(text) if text == b"OK")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn change(args: &[&str]) -> Option<SessionChange> {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        SessionChange::from_args(&bytes)
    }

    #[test]
    fn recognises_the_commands_the_handshake_replays() {
        assert_eq!(change(&["select", "3"]), Some(SessionChange::Database(3)));
        assert_eq!(change(&["SELECT", "-1"]), None);
        assert_eq!(change(&["SELECT", "x"]), None);
        assert_eq!(change(&["SELECT", "1", "2"]), None);
        assert_eq!(
            change(&["client", "setname", "w1"]),
            Some(SessionChange::ClientName(Some(b"w1".to_vec())))
        );
        assert_eq!(
            change(&["CLIENT", "SETNAME", ""]),
            Some(SessionChange::ClientName(None))
        );
        assert_eq!(change(&["CLIENT", "GETNAME"]), None);
        assert_eq!(
            change(&["AUTH", "pw"]),
            Some(SessionChange::Auth {
                username: None,
                password: b"pw".to_vec()
            })
        );
        assert_eq!(
            change(&["auth", "u", "pw"]),
            Some(SessionChange::Auth {
                username: Some(b"u".to_vec()),
                password: b"pw".to_vec()
            })
        );
        assert_eq!(change(&["GET", "k"]), None);
        assert_eq!(
            SessionChange::from_args(&[b"AUTH", b"\xff\x00"]),
            Some(SessionChange::Auth {
                username: None,
                password: b"\xff\x00".to_vec()
            })
        );
    }

    #[test]
    fn only_ok_is_accepted() {
        assert!(SessionChange::accepted_by(&Value::Bytes(b"OK".to_vec())));
        assert!(!SessionChange::accepted_by(&Value::Bytes(
            b"QUEUED".to_vec()
        )));
        assert!(!SessionChange::accepted_by(&Value::Error(
            b"ERR DB index is out of range".to_vec()
        )));
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
