//! Connection state that ordinary commands change and a reconnect must
//! restore. The handshake replays the configured user, database and client
//! name; a SELECT, CLIENT SETNAME or AUTH sent as a command changes them on
//! the live connection only, so a reconnect would quietly put the client
//! back on the old database (writes landing in the wrong place). Once the
//! server accepts such a command, its change is made to the configuration
//! the next handshake uses.

use crate::config::Config;

#[derive(Debug, Clone, PartialEq)]
pub enum SessionChange {
    Database(i64),
    /// `None`: CLIENT SETNAME "" clears the name.
    ClientName(Option<Vec<u8>>),
    Auth {
        username: Option<String>,
        password: String,
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
            // The handshake sends credentials as text; bytes that are not
            // UTF-8 are left to this connection alone.
            let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_owned);
            let password = text(args[args.len() - 1])?;
            let username = if args.len() == 3 {
                Some(text(args[1])?)
            } else {
                None
            };
            return Some(SessionChange::Auth { username, password });
        }
        None
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
                password: "pw".to_owned()
            })
        );
        assert_eq!(
            change(&["auth", "u", "pw"]),
            Some(SessionChange::Auth {
                username: Some("u".to_owned()),
                password: "pw".to_owned()
            })
        );
        assert_eq!(change(&["GET", "k"]), None);
        assert_eq!(SessionChange::from_args(&[b"AUTH", b"\xff"]), None);
    }

    #[test]
    fn applies_to_the_next_handshake() {
        let mut cfg = Config {
            username: Some("old".to_owned()),
            ..Config::default()
        };
        SessionChange::Database(4).apply(&mut cfg);
        SessionChange::ClientName(Some(b"n".to_vec())).apply(&mut cfg);
        SessionChange::Auth {
            username: None,
            password: "p".to_owned(),
        }
        .apply(&mut cfg);
        assert_eq!(cfg.database, 4);
        assert_eq!(cfg.client_name.as_deref(), Some(&b"n"[..]));
        assert_eq!(cfg.username, None);
        assert_eq!(cfg.password.as_deref(), Some("p"));
    }
}
