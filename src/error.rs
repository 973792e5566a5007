//! The one error type of the core.
//!
//! Every error leaves the core as (kind, server code, message); the Perl
//! layer turns that into a `Future::IO::Redis::Error::*` object once.

/// What went wrong, in the categories the Perl API exposes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CoreError {
    /// The transport failed: refused, reset, TLS, name resolution.
    #[error("{1}")]
    Connection(Reason, String),
    /// A deadline passed; `maybe_executed` says whether the server may have
    /// run the command.
    #[error("{message}")]
    Timeout {
        message: String,
        /// The deadline that passed, in seconds (0 when unknown).
        seconds: f64,
        maybe_executed: bool,
    },
    /// No connection, and none coming (closed by the user, reconnect off or
    /// exhausted).
    #[error("{0}")]
    Disconnected(String),
    /// The server said something we cannot parse.
    #[error("{0}")]
    Protocol(String),
    /// The server answered with an error reply (`code` such as WRONGTYPE).
    #[error("{message}")]
    Redis { code: String, message: String },
    /// Bad options or arguments handed to the core.
    #[error("{0}")]
    Invalid(String),
    /// A bug: a panic caught at the boundary or in a task.
    #[error("{0}")]
    Internal(String),
}

/// Why a connection failed, in a word (`Error::Connection->reason`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason {
    /// The host name did not resolve.
    Resolve,
    /// Nothing listens there.
    Refused,
    /// Any other failure to connect (unreachable, no such socket file …).
    Connect,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The server closed the connection.
    Eof,
    /// Reading or writing failed (reset, broken pipe …).
    Io,
    /// The connection ended while the command was waiting.
    Lost,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Resolve => "resolve",
            Reason::Refused => "refused",
            Reason::Connect => "connect",
            Reason::Tls => "tls",
            Reason::Eof => "eof",
            Reason::Io => "io",
            Reason::Lost => "lost",
        }
    }

    /// A failed connect, classified by what the system said.
    pub fn of_connect(err: &std::io::Error) -> Reason {
        if err.kind() == std::io::ErrorKind::ConnectionRefused {
            Reason::Refused
        } else {
            Reason::Connect
        }
    }
}

/// Kind numbers shared with the C glue (`fior.h`, `FIOR_ERR_*`).
pub mod kind {
    pub const CONNECTION: u8 = 1;
    pub const TIMEOUT: u8 = 2;
    pub const DISCONNECTED: u8 = 3;
    pub const PROTOCOL: u8 = 4;
    pub const REDIS: u8 = 5;
    pub const INVALID: u8 = 6;
    pub const INTERNAL: u8 = 7;
}

impl CoreError {
    pub fn kind(&self) -> u8 {
        match self {
            CoreError::Connection(..) => kind::CONNECTION,
            CoreError::Timeout { .. } => kind::TIMEOUT,
            CoreError::Disconnected(_) => kind::DISCONNECTED,
            CoreError::Protocol(_) => kind::PROTOCOL,
            CoreError::Redis { .. } => kind::REDIS,
            CoreError::Invalid(_) => kind::INVALID,
            CoreError::Internal(_) => kind::INTERNAL,
        }
    }

    /// The server's error code, empty for non-server errors.
    pub fn code(&self) -> &str {
        match self {
            CoreError::Redis { code, .. } => code,
            _ => "",
        }
    }

    /// The kind-specific detail sent to Perl: the server's error code for
    /// server errors, the deadline in seconds for timeouts, the short
    /// reason for connection errors.
    pub fn detail(&self) -> String {
        match self {
            CoreError::Redis { code, .. } => code.clone(),
            CoreError::Connection(reason, _) => reason.as_str().to_owned(),
            CoreError::Timeout { seconds, .. } => seconds.to_string(),
            _ => String::new(),
        }
    }

    pub fn maybe_executed(&self) -> bool {
        matches!(
            self,
            CoreError::Timeout {
                maybe_executed: true,
                ..
            }
        )
    }

    /// Builds a server error from the raw reply text ("WRONGTYPE Operation …").
    pub fn from_server_message(message: String) -> Self {
        let code = server_code(&message).to_owned();
        CoreError::Redis { code, message }
    }
}

/// The error code is the first word when it is all upper-case (as Redis
/// sends it); anything else is a generic ERR.
pub fn server_code(message: &str) -> &str {
    let first = message.split(' ').next().unwrap_or("");
    let is_code = !first.is_empty()
        && first
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if is_code {
        first
    } else {
        "ERR"
    }
}

/// Rebuilds the server's own wording ("CODE detail") of a server error.
pub fn server_text(code: &str, detail: Option<&str>) -> String {
    match detail {
        Some(detail) if !detail.is_empty() => format!("{code} {detail}"),
        _ => code.to_owned(),
    }
}

impl From<std::io::Error> for CoreError {
    fn from(err: std::io::Error) -> Self {
        CoreError::Connection(Reason::Io, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upper_case_first_words() {
        assert_eq!(
            server_code("WRONGTYPE Operation against a key"),
            "WRONGTYPE"
        );
        assert_eq!(server_code("NOSCRIPT No matching script"), "NOSCRIPT");
        assert_eq!(server_code("unknown thing"), "ERR");
        assert_eq!(server_code(""), "ERR");
    }

    #[test]
    fn server_text_joins_code_and_detail() {
        assert_eq!(server_text("ERR", Some("bad")), "ERR bad");
        assert_eq!(server_text("LOADING", None), "LOADING");
    }
}
