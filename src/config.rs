//! Connection options, parsed from the flat key/value list the Perl layer
//! hands over (Perl has validated them already; we check again because the
//! core must never trust its input).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::CoreError;

#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsOptions {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub verify: bool,
    pub verify_hostname: bool,
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub delay: Duration,
    pub max: Duration,
    pub jitter: f64,
    /// 0 = unlimited.
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub endpoint: Endpoint,
    pub tls: Option<TlsOptions>,
    /// Credentials are bytes: Redis takes any (ACL passwords are binary-safe).
    pub username: Option<Vec<u8>>,
    pub password: Option<Vec<u8>>,
    pub database: i64,
    pub client_name: Option<Vec<u8>>,
    pub protocol: u8,
    pub connect_timeout: Option<Duration>,
    pub request_timeout: Option<Duration>,
    pub blocking_timeout_buffer: Duration,
    pub reconnect: bool,
    pub backoff: Backoff,
    /// Telemetry is on in Perl: report each request's time on the wire and
    /// each handshake's commands (see `completion`).
    pub observe: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: Endpoint::Tcp {
                host: "localhost".to_owned(),
                port: 6379,
            },
            tls: None,
            username: None,
            password: None,
            database: 0,
            client_name: None,
            protocol: 2,
            connect_timeout: Some(Duration::from_secs(10)),
            request_timeout: Some(Duration::from_secs(5)),
            blocking_timeout_buffer: Duration::from_secs(2),
            reconnect: false,
            observe: false,
            backoff: Backoff {
                delay: Duration::from_millis(100),
                max: Duration::from_secs(60),
                jitter: 0.25,
                max_attempts: 10,
            },
        }
    }
}

fn text(key: &str, value: &[u8]) -> Result<String, CoreError> {
    String::from_utf8(value.to_vec())
        .map_err(|_| CoreError::Invalid(format!("option '{key}' must be valid UTF-8")))
}

fn number(key: &str, value: &[u8]) -> Result<f64, CoreError> {
    let n: f64 = text(key, value)?
        .trim()
        .parse()
        .map_err(|_| CoreError::Invalid(format!("option '{key}' must be a number")))?;
    if !n.is_finite() || n < 0.0 {
        return Err(CoreError::Invalid(format!(
            "option '{key}' must be a non-negative number"
        )));
    }
    Ok(n)
}

fn flag(value: &[u8]) -> bool {
    !(value.is_empty() || value == b"0")
}

/// The longest wait an option may ask for (about 68 years): anything
/// longer is surely a mistake, and must not overflow a clock later.
pub const MAX_SECONDS: f64 = 2_147_483_647.0;

/// Seconds → Duration, rejecting what no clock can hold.
fn seconds(key: &str, value: &[u8]) -> Result<Duration, CoreError> {
    let n = number(key, value)?;
    if n > MAX_SECONDS {
        return Err(CoreError::Invalid(format!(
            "option '{key}' must be at most {MAX_SECONDS} seconds"
        )));
    }
    Duration::try_from_secs_f64(n)
        .map_err(|_| CoreError::Invalid(format!("option '{key}' is out of range")))
}

/// Seconds → Duration, with 0 meaning "no deadline".
fn seconds_or_none(key: &str, value: &[u8]) -> Result<Option<Duration>, CoreError> {
    let d = seconds(key, value)?;
    Ok((!d.is_zero()).then_some(d))
}

fn integer<T: std::str::FromStr>(key: &str, value: &[u8]) -> Result<T, CoreError> {
    text(key, value)?
        .trim()
        .parse()
        .map_err(|_| CoreError::Invalid(format!("option '{key}' must be an integer in range")))
}

impl Config {
    /// Builds a config from `key => value` byte pairs. Unknown keys are an
    /// error: the Perl layer only passes keys the core understands.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<Config, CoreError>
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        let mut cfg = Config::default();
        let mut host = "localhost".to_owned();
        let mut port = 6379u16;
        let mut path = None;
        let mut tls = TlsOptions {
            verify: true,
            verify_hostname: true,
            ..TlsOptions::default()
        };
        let mut use_tls = false;
        for (key, value) in pairs {
            let key = std::str::from_utf8(key)
                .map_err(|_| CoreError::Invalid("option names must be UTF-8".to_owned()))?;
            match key {
                "host" => host = text(key, value)?,
                "port" => port = integer(key, value)?,
                "path" => path = Some(PathBuf::from(text(key, value)?)),
                "database" => cfg.database = integer(key, value)?,
                "username" => cfg.username = Some(value.to_vec()),
                "password" => cfg.password = Some(value.to_vec()),
                "client_name" => cfg.client_name = Some(value.to_vec()),
                "protocol" => cfg.protocol = integer(key, value)?,
                "connect_timeout" => cfg.connect_timeout = seconds_or_none(key, value)?,
                "request_timeout" => cfg.request_timeout = seconds_or_none(key, value)?,
                "blocking_timeout_buffer" => cfg.blocking_timeout_buffer = seconds(key, value)?,
                "reconnect" => cfg.reconnect = flag(value),
                "observe" => cfg.observe = flag(value),
                "reconnect_delay" => cfg.backoff.delay = seconds(key, value)?,
                "reconnect_delay_max" => cfg.backoff.max = seconds(key, value)?,
                "reconnect_jitter" => cfg.backoff.jitter = number(key, value)?,
                "reconnect_max_attempts" => cfg.backoff.max_attempts = integer(key, value)?,
                "tls" => use_tls = flag(value),
                "tls_ca_file" => tls.ca_file = Some(PathBuf::from(text(key, value)?)),
                "tls_cert_file" => tls.cert_file = Some(PathBuf::from(text(key, value)?)),
                "tls_key_file" => tls.key_file = Some(PathBuf::from(text(key, value)?)),
                "tls_verify" => tls.verify = flag(value),
                "tls_verify_hostname" => tls.verify_hostname = flag(value),
                "tls_server_name" => tls.server_name = Some(text(key, value)?),
                other => return Err(CoreError::Invalid(format!("unknown option '{other}'"))),
            }
        }
        if cfg.protocol != 2 && cfg.protocol != 3 {
            return Err(CoreError::Invalid(
                "option 'protocol' must be 2 or 3".to_owned(),
            ));
        }
        if port == 0 {
            return Err(CoreError::Invalid(
                "option 'port' must be 1..65535".to_owned(),
            ));
        }
        cfg.endpoint = match path {
            Some(path) => Endpoint::Unix(path),
            None => Endpoint::Tcp { host, port },
        };
        cfg.tls = use_tls.then_some(tls);
        Ok(cfg)
    }

    /// Where we connect, for error messages (never includes credentials).
    pub fn describe(&self) -> String {
        match &self.endpoint {
            Endpoint::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Endpoint::Tcp { host, port } => format!("{host}:{port}"),
            Endpoint::Unix(path) => path.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, CoreError> {
        Config::from_pairs(pairs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())))
    }

    #[test]
    fn defaults_match_the_spec() {
        let cfg = parse(&[]).expect("defaults");
        assert_eq!(cfg.describe(), "localhost:6379");
        assert_eq!(cfg.request_timeout, Some(Duration::from_secs(5)));
        assert_eq!(cfg.backoff.max_attempts, 10);
        assert!(cfg.tls.is_none());
    }

    #[test]
    fn zero_timeout_means_none() {
        let cfg = parse(&[("request_timeout", "0"), ("connect_timeout", "0.5")]).expect("ok");
        assert_eq!(cfg.request_timeout, None);
        assert_eq!(cfg.connect_timeout, Some(Duration::from_millis(500)));
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(parse(&[("port", "x")]).is_err());
        assert!(parse(&[("port", "70000")]).is_err());
        assert!(parse(&[("request_timeout", "-1")]).is_err());
        assert!(parse(&[("protocol", "4")]).is_err());
        assert!(parse(&[("request_timeout", "1e300")]).is_err());
        assert!(parse(&[("request_timeout", "1.6e19")]).is_err());
        assert!(parse(&[("reconnect_delay_max", "1e300")]).is_err());
        assert!(parse(&[("nope", "1")]).is_err());
    }

    #[test]
    fn unix_path_and_ipv6_description() {
        let cfg = parse(&[("path", "/tmp/r.sock")]).expect("ok");
        assert_eq!(cfg.endpoint, Endpoint::Unix(PathBuf::from("/tmp/r.sock")));
        let cfg = parse(&[("host", "::1"), ("port", "6380")]).expect("ok");
        assert_eq!(cfg.describe(), "[::1]:6380");
    }
}
