//! Redis stream entry ids (`<milliseconds>-<sequence>`), which are also the event ids clients
//! see and send back in `Last-Event-ID`.

use std::fmt;
use std::str::FromStr;

/// A stream entry id. Ordered as Redis orders them: by milliseconds, then sequence.
///
/// ```
/// use ssehub::backplane::StreamId;
/// let id: StreamId = "1732550000000-3".parse().unwrap();
/// assert_eq!(id, StreamId { ms: 1732550000000, seq: 3 });
/// assert!(id < "1732550000001-0".parse().unwrap());
/// assert_eq!(id.to_string(), "1732550000000-3");
/// assert!("1732550000000".parse::<StreamId>().is_err()); // clients send back what we sent
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part (the Redis server's clock when the entry was added).
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

impl StreamId {
    /// The id before any entry (`0-0`): reading after it reads everything.
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest id: nothing can follow it.
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Why a string is not a [`StreamId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadStreamId;

impl fmt::Display for BadStreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a stream entry id (<milliseconds>-<sequence>)")
    }
}

impl std::error::Error for BadStreamId {}

impl FromStr for StreamId {
    type Err = BadStreamId;

    /// Exactly two runs of ASCII digits joined by `-`, each fitting a `u64`: the form Redis
    /// writes. Anything else (signs, spaces, a lone number) is refused, so an id a client made
    /// up is treated as unknown, never as a guess.
    fn from_str(s: &str) -> Result<StreamId, BadStreamId> {
        let (ms, seq) = s.split_once('-').ok_or(BadStreamId)?;
        let number = |part: &str| {
            if part.is_empty() || part.len() > 20 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BadStreamId);
            }
            part.parse::<u64>().map_err(|_| BadStreamId)
        };
        Ok(StreamId { ms: number(ms)?, seq: number(seq)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_what_redis_writes() {
        assert_eq!("0-0".parse(), Ok(StreamId::ZERO));
        assert_eq!("18446744073709551615-1".parse(), Ok(StreamId { ms: u64::MAX, seq: 1 }));
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "1",
            "1-2-3",
            "+1-2",
            "1-+2",
            " 1-2",
            "1-2 ",
            "a-1",
            "18446744073709551616-0",
        ] {
            assert_eq!(bad.parse::<StreamId>(), Err(BadStreamId), "{bad:?}");
        }
    }

    #[test]
    fn orders_like_redis() {
        let ids: Vec<StreamId> =
            ["1-0", "1-1", "1-10", "2-0", "10-0"].iter().map(|s| s.parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
}
