//! Decoding the RESP replies of the stream commands the backplane sends (`XRANGE`,
//! `XREVRANGE`, `XREAD`) into entries. Redis is outside input: a reply of another shape is an
//! error, never a panic.

use redis::Value;

use super::StreamId;

/// An entry's field/value pairs, as stored.
pub(crate) type Fields = Vec<(Vec<u8>, Vec<u8>)>;
/// A stream's entries, oldest first.
pub(crate) type Entries = Vec<(StreamId, Fields)>;

fn bad_reply(what: &str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Parse, "unexpected reply", what.to_owned()))
}

fn text(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// An `XRANGE`-shaped reply: `[[id, [field, value, ...]], ...]`. Entries whose fields are nil
/// (deleted under a reader) are left out.
pub(crate) fn entries_of(reply: &Value) -> redis::RedisResult<Entries> {
    let Value::Array(entries) = reply else {
        return if matches!(reply, Value::Nil) { Ok(Vec::new()) } else { Err(bad_reply("entries")) };
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(parts) = entry else { return Err(bad_reply("entry")) };
        let [id, fields] = parts.as_slice() else { return Err(bad_reply("entry")) };
        let id = text(id)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.parse::<StreamId>().ok())
            .ok_or_else(|| bad_reply("entry id"))?;
        let Value::Array(flat) = fields else { continue };
        let pairs = flat
            .chunks_exact(2)
            .filter_map(|kv| Some((text(&kv[0])?.to_vec(), text(&kv[1])?.to_vec())))
            .collect();
        out.push((id, pairs));
    }
    Ok(out)
}

/// An `XREAD` reply: nil (nothing new), or `[[key, entries], ...]` (a map under RESP3).
pub(crate) fn streams_of(reply: &Value) -> redis::RedisResult<Vec<(String, Entries)>> {
    let pairs: Vec<(&Value, &Value)> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .iter()
            .map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => Ok((&kv[0], &kv[1])),
                _ => Err(bad_reply("stream")),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(kv) => kv.iter().map(|(k, v)| (k, v)).collect(),
        _ => return Err(bad_reply("streams")),
    };
    pairs
        .into_iter()
        .map(|(key, entries)| {
            let key =
                text(key).map(|b| String::from_utf8_lossy(b).into_owned()).ok_or_else(|| bad_reply("key"))?;
            Ok((key, entries_of(entries)?))
        })
        .collect()
}
