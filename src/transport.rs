//! Opens one Redis connection: socket (TCP on every resolved address, unix,
//! TLS), then the handshake (HELLO/AUTH, SELECT, CLIENT SETNAME), all
//! within `connect_timeout`.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use crate::config::{Config, Endpoint};
use crate::connection::{self, Connection, Driver};
use crate::error::{CoreError, Reason};
use crate::pubsub::Sink;
use crate::resp::{self, Parser};
use crate::tls;

/// Any byte stream we can run Redis over.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Opens a connection; its pub/sub traffic will go to `sink`.
pub async fn open(cfg: &Config, sink: Sink) -> Result<(Connection, Driver), CoreError> {
    let work = async {
        let stream = open_stream(cfg).await?;
        handshake(cfg, stream, sink).await
    };
    match cfg.connect_timeout {
        None => work.await,
        Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(CoreError::Timeout {
                message: format!(
                    "connect to {} timed out after {}s",
                    cfg.describe(),
                    limit.as_secs_f64()
                ),
                seconds: limit.as_secs_f64(),
                maybe_executed: false,
            })
        }),
    }
}

async fn open_stream(cfg: &Config) -> Result<Box<dyn Stream>, CoreError> {
    match &cfg.endpoint {
        Endpoint::Unix(path) => {
            let stream = UnixStream::connect(path).await.map_err(|e| {
                CoreError::Connection(
                    Reason::of_connect(&e),
                    format!("cannot connect to {}: {e}", path.display()),
                )
            })?;
            Ok(Box::new(stream))
        }
        Endpoint::Tcp { host, port } => {
            let tcp = connect_tcp(host, *port).await?;
            match &cfg.tls {
                None => Ok(Box::new(tcp)),
                Some(options) => Ok(Box::new(tls::wrap(tcp, host, options).await?)),
            }
        }
    }
}

/// Resolves on tokio's blocking pool (never the Perl thread) and tries
/// every address in turn, as getaddrinfo orders them.
async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, CoreError> {
    let where_ = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let addrs = tokio::net::lookup_host((host, port)).await.map_err(|e| {
        CoreError::Connection(Reason::Resolve, format!("cannot resolve {host}: {e}"))
    })?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Small commands must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => CoreError::Connection(
            Reason::of_connect(&e),
            format!("cannot connect to {where_}: {e}"),
        ),
        None => CoreError::Connection(
            Reason::Resolve,
            format!("cannot connect to {where_}: no addresses"),
        ),
    })
}

/// Says who we are and sets the connection up, in one round trip.
async fn handshake(
    cfg: &Config,
    mut stream: Box<dyn Stream>,
    sink: Sink,
) -> Result<(Connection, Driver), CoreError> {
    let commands = handshake_commands(cfg);
    let mut packed = Vec::new();
    for (args, _) in &commands {
        resp::pack(&mut packed, args);
    }
    let must_succeed: Vec<bool> = commands.iter().map(|(_, must)| *must).collect();
    let mut parser = Parser::new();
    let (replies, leftover) =
        connection::exchange(&mut stream, &mut parser, &packed, &must_succeed).await?;
    // The first refusal says why (a wrong password makes the rest fail
    // with NOAUTH); the server never echoes a password.
    if let Some(refused) = connection::first_refusal(&replies, &must_succeed) {
        return Err(refused);
    }
    Ok(connection::start(stream, parser, leftover, sink))
}

/// The handshake's commands, each with whether it must succeed: HELLO 3
/// (with AUTH) or AUTH, SELECT, CLIENT SETNAME, and CLIENT SETINFO (whose
/// errors are ignored: servers before 7.2 lack it).
pub fn handshake_commands(cfg: &Config) -> Vec<(Vec<Vec<u8>>, bool)> {
    let mut commands: Vec<(Vec<Vec<u8>>, bool)> = Vec::new();
    let auth = cfg.password.is_some() || cfg.username.is_some();
    // A user without a password is sent with an empty one: accepted for a
    // `nopass` user, refused (visibly) otherwise, never silently dropped.
    let user = cfg.username.clone().unwrap_or_else(|| b"default".to_vec());
    let password = cfg.password.clone().unwrap_or_default();
    if cfg.protocol == 3 {
        let mut hello = words(&["HELLO", "3"]);
        if auth {
            hello.extend([b"AUTH".to_vec(), user, password]);
        }
        commands.push((hello, true));
    } else if auth {
        let mut words_ = words(&["AUTH"]);
        if cfg.username.is_some() {
            words_.push(user);
        }
        words_.push(password);
        commands.push((words_, true));
    }
    if cfg.database != 0 {
        commands.push((words(&["SELECT", &cfg.database.to_string()]), true));
    }
    if let Some(name) = &cfg.client_name {
        let mut setname = words(&["CLIENT", "SETNAME"]);
        setname.push(name.clone());
        commands.push((setname, true));
    }
    commands.push((
        words(&["CLIENT", "SETINFO", "LIB-NAME", "future-io-redis"]),
        false,
    ));
    commands.push((
        words(&["CLIENT", "SETINFO", "LIB-VER", env!("CARGO_PKG_VERSION")]),
        false,
    ));
    commands
}

fn words(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|w| w.as_bytes().to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs(pairs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))).expect("config")
    }

    fn words_of(commands: &[(Vec<Vec<u8>>, bool)]) -> Vec<String> {
        commands
            .iter()
            .map(|(args, _)| {
                let args: Vec<String> = args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                args.join(" ")
            })
            .collect()
    }

    #[test]
    fn the_handshake_says_who_we_are_and_sets_the_connection_up() {
        let plain = handshake_commands(&cfg(&[]));
        assert_eq!(
            words_of(&plain)[0],
            "CLIENT SETINFO LIB-NAME future-io-redis"
        );
        assert!(plain.iter().all(|(_, must)| !must), "SETINFO may fail");

        let full = handshake_commands(&cfg(&[
            ("protocol", "3"),
            ("password", "pw"),
            ("database", "2"),
            ("client_name", "app"),
        ]));
        let words = words_of(&full);
        assert_eq!(words[0], "HELLO 3 AUTH default pw");
        assert_eq!(words[1], "SELECT 2");
        assert_eq!(words[2], "CLIENT SETNAME app");
        assert_eq!(
            full.iter().map(|(_, must)| *must).collect::<Vec<_>>()[..3],
            [true, true, true]
        );

        let acl = handshake_commands(&cfg(&[("username", "u"), ("password", "p")]));
        assert_eq!(words_of(&acl)[0], "AUTH u p");
    }
}
