//! The decoder of Redis replies (`backplane::reply`) on arbitrary `redis::Value` trees: nil,
//! integers, bulk strings (any bytes, not UTF-8 included), simple strings, arrays, maps, sets and
//! the other RESP3 kinds, nested, shaped like the replies of `XRANGE`, `XREAD` and `GET` or not
//! at all, with ids that parse and ids that almost do.
//!
//! Invariants (each a rule of the module docs):
//! * `entries_of`, `streams_of` and `id_of` never panic;
//! * `entries_of` succeeds exactly on nil and on arrays of two-element arrays whose first element
//!   is a string that parses as an entry id; then it returns, in the order given, one entry per
//!   element whose fields are an array (nil-field entries left out), with that id, and as fields
//!   the consecutive pairs of strings (a pair holding anything else, or an odd last one, left out);
//! * `streams_of` succeeds exactly on nil, on arrays of `[string key, entries]` and on maps of
//!   string keys, when every stream's entries decode; then it returns every stream in order, the
//!   key decoded lossily, the entries as `entries_of` reads them;
//! * `id_of` succeeds exactly on nil and strings, and gives an id exactly when the string is
//!   UTF-8 and parses as one (an id that prints back to itself);
//! * every decoded entry goes through `keys::event` without a panic.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use redis::{Value, VerbatimFormat};
use ssehub::backplane::reply::{Entries, Fields, entries_of, id_of, publish_of, streams_of};
use ssehub::backplane::{StreamId, keys};

/// Deep enough for every reply shape (streams ─► entries ─► entry ─► fields ─► field) and one
/// more level of nonsense; shallow enough that no tree is expensive.
const DEPTH: u32 = 6;
/// Children of one array or map, at most.
const WIDTH: usize = 8;

/// Text that is an entry id, or nearly: the decoder must tell them apart.
fn id_text(u: &mut Unstructured) -> Result<String> {
    Ok(match u.choose_index(6)? {
        0 => format!("{}-{}", u.int_in_range(0..=3u8)?, u.int_in_range(0..=3u8)?),
        1 => format!("{}-{}", u.arbitrary::<u64>()?, u.arbitrary::<u64>()?),
        2 => format!("{}", u.arbitrary::<u64>()?),
        3 => format!("{}-{}-{}", u.arbitrary::<u8>()?, u.arbitrary::<u8>()?, u.arbitrary::<u8>()?),
        4 => format!(
            "{}{}-{}",
            ["+", " ", "0", "-"][u.choose_index(4)?],
            u.arbitrary::<u8>()?,
            u.arbitrary::<u8>()?
        ),
        _ => u.arbitrary()?,
    })
}

fn string(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.choose_index(5)? {
        0 => Value::BulkString(u.arbitrary()?), // any bytes
        1 => Value::BulkString(id_text(u)?.into_bytes()),
        2 => Value::SimpleString(id_text(u)?),
        3 => Value::SimpleString(u.arbitrary()?),
        _ => Value::BulkString(["data", "event", "retry", "comment", "empty"][u.choose_index(5)?].into()),
    })
}

fn list(
    u: &mut Unstructured,
    depth: u32,
    item: fn(&mut Unstructured, u32) -> Result<Value>,
) -> Result<Vec<Value>> {
    let n = u.int_in_range(0..=WIDTH)?;
    (0..n).map(|_| item(u, depth)).collect()
}

/// Any value: every kind, nested.
fn value(u: &mut Unstructured, depth: u32) -> Result<Value> {
    if depth == 0 {
        return leaf(u);
    }
    let d = depth - 1;
    Ok(match u.choose_index(8)? {
        0 => Value::Array(list(u, d, value)?),
        1 => Value::Map(
            (0..u.int_in_range(0..=WIDTH)?)
                .map(|_| Ok((value(u, d)?, value(u, d)?)))
                .collect::<Result<_>>()?,
        ),
        2 => Value::Set(list(u, d, value)?),
        3 => entry(u, d)?,
        4 => streams(u, d)?,
        5 => Value::Attribute { data: Box::new(value(u, d)?), attributes: vec![] },
        _ => leaf(u)?,
    })
}

fn leaf(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.choose_index(8)? {
        0 => Value::Nil,
        1 => Value::Int(u.arbitrary()?),
        2 => Value::Okay,
        3 => Value::Double(u.arbitrary()?),
        4 => Value::Boolean(u.arbitrary()?),
        5 => Value::VerbatimString { format: VerbatimFormat::Text, text: u.arbitrary()? },
        _ => string(u)?,
    })
}

/// An `XRANGE` entry, mostly well formed: `[id, [field, value, ...]]`.
fn entry(u: &mut Unstructured, depth: u32) -> Result<Value> {
    let id = if u.ratio(7, 8)? { string(u)? } else { value(u, depth)? };
    let fields = match u.choose_index(6)? {
        0 => Value::Nil,
        1 => value(u, depth)?,
        _ => Value::Array(list(u, depth, |u, d| if u.ratio(9, 10)? { string(u) } else { value(u, d) })?),
    };
    let mut parts = vec![id, fields];
    if u.ratio(1, 16)? {
        parts.truncate(u.choose_index(2)?);
    } else if u.ratio(1, 16)? {
        parts.push(value(u, depth)?);
    }
    Ok(Value::Array(parts))
}

/// An `XRANGE` reply, mostly: an array of entries.
fn entries(u: &mut Unstructured, depth: u32) -> Result<Value> {
    if u.ratio(1, 8)? {
        return value(u, depth);
    }
    Ok(Value::Array(list(u, depth, |u, d| if u.ratio(15, 16)? { entry(u, d) } else { value(u, d) })?))
}

/// An `XREAD` reply, mostly: RESP2 `[[key, entries], ...]` or a RESP3 map.
fn streams(u: &mut Unstructured, depth: u32) -> Result<Value> {
    let n = u.int_in_range(0..=4)?;
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let key = if u.ratio(7, 8)? { string(u)? } else { value(u, depth)? };
        pairs.push((key, entries(u, depth)?));
    }
    Ok(match u.choose_index(4)? {
        0 => Value::Map(pairs),
        1 => Value::Nil,
        _ => Value::Array(pairs.into_iter().map(|(k, v)| Value::Array(vec![k, v])).collect()),
    })
}

fn text(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn parsed_id(v: &Value) -> Option<StreamId> {
    std::str::from_utf8(text(v)?).ok()?.parse().ok()
}

/// What `entries_of` must return: the rules of the module docs, written out.
fn expected_entries(reply: &Value) -> Option<Entries> {
    let elements = match reply {
        Value::Nil => return Some(Vec::new()),
        Value::Array(elements) => elements,
        _ => return None,
    };
    let mut out = Vec::new();
    for element in elements {
        let Value::Array(parts) = element else { return None };
        if parts.len() != 2 {
            return None;
        }
        let id = parsed_id(&parts[0])?;
        if let Value::Array(flat) = &parts[1] {
            let mut fields: Fields = Vec::new();
            let mut i = 0;
            while i + 1 < flat.len() {
                if let (Some(k), Some(v)) = (text(&flat[i]), text(&flat[i + 1])) {
                    fields.push((k.to_vec(), v.to_vec()));
                }
                i += 2;
            }
            out.push((id, fields));
        }
    }
    Some(out)
}

fn check_entries(reply: &Value) -> Option<Entries> {
    let got = entries_of(reply);
    assert_eq!(got.clone().ok(), expected_entries(reply), "{reply:?} -> {got:?}");
    let entries = got.ok()?;
    for (id, fields) in &entries {
        assert_eq!(id.to_string().parse::<StreamId>(), Ok(*id));
        let _ = keys::event(&id.to_string(), fields.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
    }
    Some(entries)
}

fn check_streams(reply: &Value) {
    let got = streams_of(reply);
    let pairs: Option<Vec<(&Value, &Value)>> = match reply {
        Value::Nil => Some(Vec::new()),
        Value::Array(streams) => streams
            .iter()
            .map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => Some((&kv[0], &kv[1])),
                _ => None,
            })
            .collect(),
        Value::Map(kv) => Some(kv.iter().map(|(k, v)| (k, v)).collect()),
        _ => None,
    };
    let expected: Option<Vec<(String, Entries)>> = pairs.and_then(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| Some((String::from_utf8_lossy(text(k)?).into_owned(), check_entries(v)?)))
            .collect()
    });
    assert_eq!(got.ok(), expected, "{reply:?}");
}

fn check_id(reply: &Value) {
    let got = id_of(reply);
    match reply {
        Value::Nil => assert_eq!(got, Ok(None)),
        _ => match text(reply) {
            None => assert!(got.is_err(), "{reply:?} -> {got:?}"),
            Some(_) => {
                assert_eq!(got, Ok(parsed_id(reply)), "{reply:?}");
                if let Ok(Some(id)) = got {
                    assert_eq!(id.to_string().parse::<StreamId>(), Ok(id));
                }
            }
        },
    }
}

/// The publish script's `[id, outcome]`: an id and 0, 1 or 2, anything else a `BadReply`.
fn check_publish(reply: &Value) {
    use ssehub::backplane::reply::Publish;
    let expected = match reply {
        Value::Array(parts) if parts.len() == 2 => match (parsed_id(&parts[0]), &parts[1]) {
            (Some(id), Value::Int(0)) => Some(Publish::Published(id)),
            (Some(id), Value::Int(1)) => Some(Publish::Replayed(id)),
            (Some(_), Value::Int(2)) => Some(Publish::KeyReused),
            _ => None,
        },
        _ => None,
    };
    assert_eq!(publish_of(reply).ok(), expected, "{reply:?}");
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(reply) = (match u.choose_index(5) {
        Ok(0) => streams(&mut u, DEPTH),
        Ok(1) => value(&mut u, DEPTH),
        Ok(2) => string(&mut u),
        Ok(3) => (|| Ok(Value::Array(vec![string(&mut u)?, Value::Int(u.int_in_range(-1..=3)?)])))(),
        _ => entries(&mut u, DEPTH),
    }) else {
        return;
    };
    check_entries(&reply);
    check_streams(&reply);
    check_id(&reply);
    check_publish(&reply);
});
