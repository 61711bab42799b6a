//! Decoding the RESP replies of the stream commands the backplane sends (`XRANGE`,
//! `XREVRANGE`, `XREAD`, and the `GET`/`HGET` of an id) into entries and ids.
//!
//! ```text
//! XRANGE / XREVRANGE ─► [[id, [field, value, ...]], ...]          ─► entries_of ─► Entries
//! XREAD              ─► nil | [[key, entries], ...] | {key: entries} ─► streams_of
//! GET / HGET         ─► nil | id                                   ─► id_of
//! ```
//!
//! Redis is outside input (another client may have written to our keys, or a proxy may answer
//! oddly): a reply of another shape is a [`BadReply`], never a panic, and what decodes keeps
//! Redis's order. The rules, each tested below and fuzzed by `fuzz/fuzz_targets/reply.rs`:
//!
//! * an entry id is a bulk or simple string that parses as a [`StreamId`]; an entry whose id
//!   does not is a [`BadReply`] (the reply cannot be placed in any order);
//! * an entry whose fields are not an array (nil: deleted under a reader) is left out;
//! * fields are read in pairs of bulk or simple strings, kept as bytes (UTF-8 or not: that is
//!   [`keys::event`](super::keys::event)'s concern); a pair with another kind of value, and an
//!   odd field at the end, are left out;
//! * a stream key that is not UTF-8 is decoded lossily (it then matches no stream we read).
//!
//! Public so that the fuzz target can drive it; [`redis::Value`] is the `redis` crate's.

use std::fmt;

use redis::Value;

use super::StreamId;

/// An entry's field/value pairs, as stored.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;
/// A stream's entries, in the order of the reply (oldest first for `XRANGE` and `XREAD`).
pub type Entries = Vec<(StreamId, Fields)>;

/// A reply of another shape than the command's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadReply {
    what: &'static str,
}

impl BadReply {
    /// Which part of the reply was wrong (`"entries"`, `"entry"`, `"entry id"`, `"streams"`,
    /// `"stream"`, `"key"`, `"id"`, `"replies"`).
    pub fn what(&self) -> &'static str {
        self.what
    }

    pub(crate) fn new(what: &'static str) -> BadReply {
        BadReply { what }
    }
}

impl fmt::Display for BadReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected reply from Redis ({})", self.what)
    }
}

impl std::error::Error for BadReply {}

fn text(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// An `XRANGE`-shaped reply: `[[id, [field, value, ...]], ...]`, or nil for none. See the
/// [module docs](self) for what is left out.
///
/// ```
/// use redis::Value;
/// use ssehub::backplane::{StreamId, reply::entries_of};
/// let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
/// let reply = Value::Array(vec![
///     Value::Array(vec![bulk("5-1"), Value::Array(vec![bulk("data"), bulk("hi")])]),
///     Value::Array(vec![bulk("6-0"), Value::Nil]), // deleted: left out
/// ]);
/// let id = StreamId { ms: 5, seq: 1 };
/// assert_eq!(entries_of(&reply), Ok(vec![(id, vec![(b"data".to_vec(), b"hi".to_vec())])]));
/// assert!(entries_of(&Value::Int(3)).is_err());
/// ```
pub fn entries_of(reply: &Value) -> Result<Entries, BadReply> {
    let Value::Array(entries) = reply else {
        return if matches!(reply, Value::Nil) { Ok(Vec::new()) } else { Err(BadReply::new("entries")) };
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(parts) = entry else { return Err(BadReply::new("entry")) };
        let [id, fields] = parts.as_slice() else { return Err(BadReply::new("entry")) };
        let id = text(id)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.parse::<StreamId>().ok())
            .ok_or(BadReply::new("entry id"))?;
        let Value::Array(flat) = fields else { continue };
        let pairs = flat
            .chunks_exact(2)
            .filter_map(|kv| Some((text(&kv[0])?.to_vec(), text(&kv[1])?.to_vec())))
            .collect();
        out.push((id, pairs));
    }
    Ok(out)
}

/// An `XREAD` reply: nil (nothing new), or `[[key, entries], ...]` (a map under RESP3), each
/// stream's entries as [`entries_of`] reads them, in the order of the reply.
///
/// ```
/// use redis::Value;
/// use ssehub::backplane::reply::streams_of;
/// let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
/// let resp3 = Value::Map(vec![(bulk("{ssehub}:all"), Value::Array(vec![]))]);
/// assert_eq!(streams_of(&resp3), Ok(vec![("{ssehub}:all".to_owned(), vec![])]));
/// assert_eq!(streams_of(&Value::Nil), Ok(vec![]));
/// ```
pub fn streams_of(reply: &Value) -> Result<Vec<(String, Entries)>, BadReply> {
    let pairs: Vec<(&Value, &Value)> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .iter()
            .map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => Ok((&kv[0], &kv[1])),
                _ => Err(BadReply::new("stream")),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(kv) => kv.iter().map(|(k, v)| (k, v)).collect(),
        _ => return Err(BadReply::new("streams")),
    };
    pairs
        .into_iter()
        .map(|(key, entries)| {
            let key =
                text(key).map(|b| String::from_utf8_lossy(b).into_owned()).ok_or(BadReply::new("key"))?;
            Ok((key, entries_of(entries)?))
        })
        .collect()
}

/// A `GET` or `HGET` reply that holds an id: `None` when it is nil or a string that is not an
/// entry id (not UTF-8 included), a [`BadReply`] when it is not a string at all.
///
/// ```
/// use redis::Value;
/// use ssehub::backplane::{StreamId, reply::id_of};
/// assert_eq!(id_of(&Value::BulkString(b"7-2".to_vec())), Ok(Some(StreamId { ms: 7, seq: 2 })));
/// assert_eq!(id_of(&Value::Nil), Ok(None));
/// assert_eq!(id_of(&Value::BulkString(b"soon".to_vec())), Ok(None));
/// assert!(id_of(&Value::Array(vec![])).is_err());
/// ```
pub fn id_of(reply: &Value) -> Result<Option<StreamId>, BadReply> {
    match reply {
        Value::Nil => Ok(None),
        _ => {
            let bytes = text(reply).ok_or(BadReply::new("id"))?;
            Ok(std::str::from_utf8(bytes).ok().and_then(|s| s.parse().ok()))
        }
    }
}

/// What the publish script ([`keys`](super::keys)) answered for one publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Published under this entry id.
    Published(StreamId),
    /// Its idempotency key published the same event before, under this id: nothing new.
    Replayed(StreamId),
    /// Its idempotency key published a different event within its window.
    KeyReused,
}

/// The publish script's reply: `[id, 0]` (published), `[id, 1]` (replayed), `[id, 2]` (the key
/// names a different publish).
///
/// ```
/// use redis::Value;
/// use ssehub::backplane::reply::{Publish, publish_of};
/// let reply = Value::Array(vec![Value::BulkString(b"5-1".to_vec()), Value::Int(1)]);
/// assert_eq!(publish_of(&reply), Ok(Publish::Replayed("5-1".parse().unwrap())));
/// ```
pub fn publish_of(reply: &Value) -> Result<Publish, BadReply> {
    let bad = BadReply::new("publish");
    let Value::Array(parts) = reply else { return Err(bad) };
    let [id, outcome] = parts.as_slice() else { return Err(bad) };
    let id = id_of(id)?.ok_or(bad)?;
    match outcome {
        Value::Int(0) => Ok(Publish::Published(id)),
        Value::Int(1) => Ok(Publish::Replayed(id)),
        Value::Int(2) => Ok(Publish::KeyReused),
        _ => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_replies() {
        let reply = |id: &[u8], n| Value::Array(vec![bulk(id), Value::Int(n)]);
        let id: StreamId = "7-0".parse().unwrap();
        assert_eq!(publish_of(&reply(b"7-0", 0)), Ok(Publish::Published(id)));
        assert_eq!(publish_of(&reply(b"7-0", 1)), Ok(Publish::Replayed(id)));
        assert_eq!(publish_of(&reply(b"7-0", 2)), Ok(Publish::KeyReused));
        assert!(publish_of(&reply(b"7-0", 3)).is_err());
        assert!(publish_of(&reply(b"nope", 0)).is_err());
        assert!(publish_of(&bulk(b"7-0")).is_err(), "the old script's bare id");
        assert!(publish_of(&Value::Array(vec![bulk(b"7-0")])).is_err());
        assert!(publish_of(&Value::Nil).is_err());
    }

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    fn arr(v: Vec<Value>) -> Value {
        Value::Array(v)
    }

    fn entry(id: &str, fields: &[&str]) -> Value {
        arr(vec![bulk(id.as_bytes()), arr(fields.iter().map(|f| bulk(f.as_bytes())).collect())])
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    fn pair(k: &str, v: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.to_vec())
    }

    #[test]
    fn nil_and_the_empty_array_are_no_entries() {
        assert_eq!(entries_of(&Value::Nil), Ok(vec![]));
        assert_eq!(entries_of(&arr(vec![])), Ok(vec![]));
    }

    #[test]
    fn entries_keep_the_order_of_the_reply() {
        // Not sorted here: XREVRANGE's newest-first order is the caller's to turn around.
        let reply = arr(vec![entry("9-0", &["data", "c"]), entry("2-5", &["data", "a"]), entry("7-1", &[])]);
        let got = entries_of(&reply).unwrap();
        assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), [id(9, 0), id(2, 5), id(7, 1)]);
        assert_eq!(got[0].1, [pair("data", b"c")]);
        assert_eq!(got[2].1, []);
    }

    #[test]
    fn an_entry_with_nil_fields_is_left_out() {
        let reply =
            arr(vec![entry("1-0", &["data", "a"]), arr(vec![bulk(b"2-0"), Value::Nil]), entry("3-0", &[])]);
        let got = entries_of(&reply).unwrap();
        assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), [id(1, 0), id(3, 0)]);
        // Any fields value that is not an array counts as nil.
        assert_eq!(entries_of(&arr(vec![arr(vec![bulk(b"4-0"), Value::Int(1)])])), Ok(vec![]));
    }

    #[test]
    fn fields_are_pairs_of_strings_kept_as_bytes() {
        let reply = arr(vec![arr(vec![
            bulk(b"1-0"),
            arr(vec![
                bulk(b"data"),
                bulk(b"\xff\xfe"), // not UTF-8: kept, keys::event decides
                Value::SimpleString("event".into()),
                Value::SimpleString("t".into()),
                bulk(b"comment"),
                Value::Nil, // not a string: the pair is left out
                Value::Int(3),
                bulk(b"x"),     // likewise
                bulk(b"retry"), // odd one at the end: left out
            ]),
        ])]);
        let got = entries_of(&reply).unwrap();
        assert_eq!(got, [(id(1, 0), vec![pair("data", b"\xff\xfe"), pair("event", b"t")])]);
    }

    #[test]
    fn ids_are_stream_ids_as_bulk_or_simple_strings() {
        let simple = arr(vec![arr(vec![Value::SimpleString("3-4".into()), arr(vec![])])]);
        assert_eq!(entries_of(&simple), Ok(vec![(id(3, 4), vec![])]));
        for bad in [bulk(b"3"), bulk(b"\xff-1"), bulk(b" 1-0"), Value::Int(1), Value::Nil, arr(vec![])] {
            let reply = arr(vec![entry("1-0", &[]), arr(vec![bad.clone(), arr(vec![])])]);
            assert_eq!(entries_of(&reply), Err(BadReply::new("entry id")), "{bad:?}");
        }
    }

    #[test]
    fn other_shapes_are_bad_replies() {
        assert_eq!(entries_of(&Value::Int(0)), Err(BadReply::new("entries")));
        assert_eq!(entries_of(&bulk(b"1-0")), Err(BadReply::new("entries")));
        assert_eq!(entries_of(&Value::Map(vec![])), Err(BadReply::new("entries")));
        assert_eq!(entries_of(&arr(vec![bulk(b"1-0")])), Err(BadReply::new("entry")));
        assert_eq!(entries_of(&arr(vec![arr(vec![bulk(b"1-0")])])), Err(BadReply::new("entry")));
        let three = arr(vec![arr(vec![bulk(b"1-0"), arr(vec![]), arr(vec![])])]);
        assert_eq!(entries_of(&three), Err(BadReply::new("entry")));
    }

    #[test]
    fn an_id_is_a_string_that_parses_or_none() {
        assert_eq!(id_of(&bulk(b"1-2")), Ok(Some(id(1, 2))));
        assert_eq!(id_of(&Value::SimpleString("0-0".into())), Ok(Some(StreamId::ZERO)));
        for none in [Value::Nil, bulk(b""), bulk(b"12"), bulk(b"\xff-1"), Value::SimpleString("x".into())] {
            assert_eq!(id_of(&none), Ok(None), "{none:?}");
        }
        for bad in [Value::Int(1), Value::Okay, arr(vec![bulk(b"1-0")]), Value::Map(vec![])] {
            assert_eq!(id_of(&bad), Err(BadReply::new("id")), "{bad:?}");
        }
    }

    #[test]
    fn streams_as_resp2_arrays_and_resp3_maps() {
        let entries = arr(vec![entry("1-0", &["data", "a"])]);
        let want =
            vec![("k1".to_owned(), vec![(id(1, 0), vec![pair("data", b"a")])]), ("k2".to_owned(), vec![])];
        let resp2 = arr(vec![arr(vec![bulk(b"k1"), entries.clone()]), arr(vec![bulk(b"k2"), Value::Nil])]);
        let resp3 = Value::Map(vec![(bulk(b"k1"), entries), (Value::SimpleString("k2".into()), arr(vec![]))]);
        assert_eq!(streams_of(&resp2).unwrap(), want);
        assert_eq!(streams_of(&resp3).unwrap(), want);
        assert_eq!(streams_of(&Value::Nil), Ok(vec![]));
    }

    #[test]
    fn a_stream_key_that_is_not_utf8_is_decoded_lossily() {
        let reply = arr(vec![arr(vec![bulk(b"k\xff"), arr(vec![])])]);
        assert_eq!(streams_of(&reply), Ok(vec![("k\u{fffd}".to_owned(), vec![])]));
    }

    #[test]
    fn streams_of_other_shapes_are_bad_replies() {
        assert_eq!(streams_of(&Value::Okay), Err(BadReply::new("streams")));
        assert_eq!(streams_of(&arr(vec![bulk(b"k")])), Err(BadReply::new("stream")));
        assert_eq!(streams_of(&arr(vec![arr(vec![bulk(b"k")])])), Err(BadReply::new("stream")));
        assert_eq!(streams_of(&arr(vec![arr(vec![Value::Int(1), arr(vec![])])])), Err(BadReply::new("key")));
        let bad_entries = Value::Map(vec![(bulk(b"k"), Value::Int(1))]);
        assert_eq!(streams_of(&bad_entries), Err(BadReply::new("entries")));
    }
}
