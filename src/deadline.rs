//! How long the client waits for a reply.
//!
//! Ordinary commands wait `request_timeout`. Blocking commands carry their
//! own server-side timeout; the client waits that long plus
//! `blocking_timeout_buffer`, and forever when the server timeout is 0.

use std::time::Duration;

use crate::config::Config;
use crate::resp::{is_word, word};

/// Where a blocking command keeps its timeout, and in which unit.
enum TimeoutArg {
    /// The last argument, in seconds (BLPOP key… timeout).
    LastSeconds,
    /// The first argument after the name, in seconds (BLMPOP timeout …).
    FirstSeconds,
    /// The last argument, in milliseconds (WAIT numreplicas timeout).
    LastMillis,
    /// The value after a BLOCK keyword, in milliseconds (XREAD).
    BlockOptionMillis,
}

/// (Names and keywords compare as the server compares them: case and NUL.)
fn blocking_rule(name: &[u8]) -> Option<TimeoutArg> {
    let upper = word(name).to_ascii_uppercase();
    Some(match upper.as_slice() {
        b"BLPOP" | b"BRPOP" | b"BRPOPLPUSH" | b"BLMOVE" | b"BZPOPMIN" | b"BZPOPMAX" => {
            TimeoutArg::LastSeconds
        }
        b"BLMPOP" | b"BZMPOP" => TimeoutArg::FirstSeconds,
        b"WAIT" | b"WAITAOF" => TimeoutArg::LastMillis,
        b"XREAD" | b"XREADGROUP" => TimeoutArg::BlockOptionMillis,
        _ => return None,
    })
}

fn parse_number(arg: &[u8]) -> Option<f64> {
    std::str::from_utf8(arg)
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

/// What the client should wait for this command: `None` = forever.
pub fn reply_timeout<A: AsRef<[u8]>>(cfg: &Config, args: &[A]) -> Option<Duration> {
    let Some((name, rest)) = args.split_first() else {
        return cfg.request_timeout;
    };
    let Some(rule) = blocking_rule(name.as_ref()) else {
        return cfg.request_timeout;
    };
    let server_seconds = match rule {
        TimeoutArg::LastSeconds => rest.last().and_then(|a| parse_number(a.as_ref())),
        TimeoutArg::FirstSeconds => rest.first().and_then(|a| parse_number(a.as_ref())),
        TimeoutArg::LastMillis => rest
            .last()
            .and_then(|a| parse_number(a.as_ref()))
            .map(|ms| ms / 1000.0),
        TimeoutArg::BlockOptionMillis => {
            // Options come before STREAMS; after it are keys and ids, and
            // a stream may well be called "block".
            let options = rest
                .iter()
                .position(|a| is_word(a.as_ref(), b"STREAMS"))
                .map_or(rest, |end| &rest[..end]);
            let block = options
                .iter()
                .position(|a| is_word(a.as_ref(), b"BLOCK"))
                .and_then(|i| options.get(i + 1));
            match block {
                // XREAD without BLOCK does not block: ordinary deadline.
                None => return cfg.request_timeout,
                Some(ms) => parse_number(ms.as_ref()).map(|ms| ms / 1000.0),
            }
        }
    };
    match server_seconds {
        // An unparseable timeout is the server's to reject; wait normally.
        None => cfg.request_timeout,
        Some(0.0) => None,
        // A timeout no clock can hold is the server's to reject ("timeout
        // is out of range"); the client just does not add a deadline.
        Some(s) => Duration::try_from_secs_f64(s)
            .ok()
            .and_then(|d| d.checked_add(cfg.blocking_timeout_buffer)),
    }
}

/// What the client should wait for a batch: request_timeout for the lot,
/// plus each blocking command's own wait (it may block that long on its
/// turn; not inside MULTI, where nothing blocks); `None` = forever.
pub fn batch_timeout<A: AsRef<[u8]>>(cfg: &Config, commands: &[Vec<A>]) -> Option<Duration> {
    let mut total = cfg.request_timeout?;
    let mut in_multi = false;
    for args in commands {
        let Some(name) = args.first().map(AsRef::as_ref) else {
            continue;
        };
        if is_word(name, b"MULTI") {
            in_multi = true;
        } else if is_word(name, b"EXEC") || is_word(name, b"DISCARD") {
            in_multi = false;
        } else if !in_multi && blocks(args) {
            total = total.checked_add(reply_timeout(cfg, args)?)?;
        }
    }
    Some(total)
}

/// Whether a command can block: a blocking command (XREAD only with BLOCK).
fn blocks<A: AsRef<[u8]>>(args: &[A]) -> bool {
    let Some((name, rest)) = args.split_first() else {
        return false;
    };
    match blocking_rule(name.as_ref()) {
        None => false,
        Some(TimeoutArg::BlockOptionMillis) => rest
            .iter()
            .take_while(|a| !is_word(a.as_ref(), b"STREAMS"))
            .any(|a| is_word(a.as_ref(), b"BLOCK")),
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|w| w.as_bytes().to_vec()).collect()
    }

    fn cfg() -> Config {
        Config::default()
    }

    #[test]
    fn ordinary_commands_use_request_timeout() {
        assert_eq!(
            reply_timeout(&cfg(), &words("GET k")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            reply_timeout(&cfg(), &words("XREAD STREAMS s 0")),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn blocking_commands_add_the_buffer() {
        assert_eq!(
            reply_timeout(&cfg(), &words("BLPOP a b 3")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            reply_timeout(&cfg(), &words("blmpop 1.5 1 a LEFT")),
            Some(Duration::from_secs_f64(3.5))
        );
        assert_eq!(
            reply_timeout(&cfg(), &words("WAIT 1 1000")),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            reply_timeout(&cfg(), &words("XREADGROUP GROUP g c BLOCK 500 STREAMS s >")),
            Some(Duration::from_secs_f64(2.5))
        );
    }

    #[test]
    fn absurd_timeouts_do_not_panic() {
        assert_eq!(reply_timeout(&cfg(), &words("BLPOP k 1e300")), None);
        assert_eq!(reply_timeout(&cfg(), &words("WAIT 1 1e300")), None);
        assert_eq!(
            reply_timeout(&cfg(), &words("BLPOP k inf")),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn a_stream_named_block_is_not_the_option() {
        assert_eq!(
            reply_timeout(&cfg(), &words("XREAD STREAMS block 0")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            reply_timeout(&cfg(), &words("XREAD COUNT 1 BLOCK 100 STREAMS block 0")),
            Some(Duration::from_secs_f64(2.1))
        );
    }

    #[test]
    fn names_compare_as_the_server_does() {
        assert_eq!(
            reply_timeout(&cfg(), &words("blpop k 0")),
            None,
            "lower case"
        );
        let nul: Vec<&[u8]> = vec![b"BLPOP\0x", b"k", b"0"];
        assert_eq!(reply_timeout(&cfg(), &nul), None, "up to a NUL");
        let block: Vec<&[u8]> = vec![b"XREAD", b"block\0", b"0", b"STREAMS", b"s", b"$"];
        assert_eq!(reply_timeout(&cfg(), &block), None);
    }

    #[test]
    fn batches_add_their_blocking_waits() {
        let batch = |cmds: &[&str]| cmds.iter().map(|c| words(c)).collect::<Vec<_>>();
        assert_eq!(
            batch_timeout(&cfg(), &batch(&["GET a", "SET a b"])),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            batch_timeout(&cfg(), &batch(&["GET a", "BLPOP k 1", "BZMPOP 2 1 z MIN"])),
            Some(Duration::from_secs(5 + 3 + 4))
        );
        assert_eq!(batch_timeout(&cfg(), &batch(&["GET a", "BLPOP k 0"])), None);
        assert_eq!(
            batch_timeout(&cfg(), &batch(&["MULTI", "BLPOP k 0", "BLPOP k 9", "EXEC"])),
            Some(Duration::from_secs(5)),
            "nothing blocks inside MULTI"
        );
        assert_eq!(
            batch_timeout(&cfg(), &batch(&["MULTI", "EXEC", "BLPOP k 1"])),
            Some(Duration::from_secs(5 + 3))
        );
        assert_eq!(
            batch_timeout(
                &cfg(),
                &batch(&["XREAD STREAMS s 0", "XREAD BLOCK 1000 STREAMS s $"])
            ),
            Some(Duration::from_secs(5 + 3)),
            "XREAD blocks only with BLOCK"
        );
        let none = Config {
            request_timeout: None,
            ..Config::default()
        };
        assert_eq!(batch_timeout(&none, &batch(&["GET a"])), None);
    }

    #[test]
    fn zero_means_forever() {
        assert_eq!(reply_timeout(&cfg(), &words("BRPOP a 0")), None);
        assert_eq!(
            reply_timeout(&cfg(), &words("XREAD BLOCK 0 STREAMS s $")),
            None
        );
    }
}
