//! Opens one Redis connection: socket (TCP on every resolved address, unix,
//! TLS), then the handshake (HELLO/AUTH, SELECT through redis-rs, CLIENT
//! SETNAME ourselves), all within `connect_timeout`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, RedisConnectionInfo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use crate::config::{Config, Endpoint};
use crate::error::CoreError;
use crate::tls;

/// Any byte stream we can run Redis over.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// The task that moves bytes for a connection; it ends when the
/// connection is gone.
pub type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Replies queued inside redis-rs between our dispatcher and the socket.
const PIPELINE_BUFFER: usize = 1024;

pub async fn open(cfg: &Config) -> Result<(MultiplexedConnection, Driver), CoreError> {
    let work = async {
        let stream = open_stream(cfg).await?;
        handshake(cfg, stream).await
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
                CoreError::Connection(format!("cannot connect to {}: {e}", path.display()))
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
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| CoreError::Connection(format!("cannot resolve {host}: {e}")))?;
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
    Err(CoreError::Connection(match last {
        Some(e) => format!("cannot connect to {where_}: {e}"),
        None => format!("cannot connect to {where_}: no addresses"),
    }))
}

async fn handshake(
    cfg: &Config,
    stream: Box<dyn Stream>,
) -> Result<(MultiplexedConnection, Driver), CoreError> {
    let mut info = RedisConnectionInfo::default()
        .set_db(cfg.database)
        .set_lib_name("future-io-redis", env!("CARGO_PKG_VERSION"))
        .set_protocol(if cfg.protocol == 3 {
            ProtocolVersion::RESP3
        } else {
            ProtocolVersion::RESP2
        });
    if let Some(user) = &cfg.username {
        info = info.set_username(user);
    }
    if let Some(password) = &cfg.password {
        info = info.set_password(password);
    }
    // Our own deadlines rule; redis-rs's 500 ms default would fail slow
    // commands behind our back.
    let options = AsyncConnectionConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(None)
        .set_pipeline_buffer_size(PIPELINE_BUFFER);
    let (mut conn, driver) = MultiplexedConnection::new_with_config(&info, stream, options)
        .await
        .map_err(handshake_error)?;
    let mut driver: Driver = Box::pin(driver);
    if let Some(name) = &cfg.client_name {
        let mut cmd = redis::cmd("CLIENT");
        cmd.arg("SETNAME").arg(name.as_slice());
        // The driver must run while we wait for our own reply.
        tokio::select! {
            reply = conn.send_packed_command(&cmd) => { reply.map_err(handshake_error)?; }
            _ = &mut driver => {
                return Err(CoreError::Connection("connection closed during handshake".to_owned()));
            }
        }
    }
    Ok((conn, driver))
}

fn handshake_error(err: redis::RedisError) -> CoreError {
    CoreError::from(err)
}

/// Shared, immutable config for a client's connection attempts.
pub type SharedConfig = Arc<Config>;
