//! Where a hub's state lives in Redis, and how an event is stored in a stream entry.
//!
//! Every key of one hub starts with `{<namespace>}` (default `{ssehub}`): the braces are a Redis
//! Cluster hash tag, so all of them live on one shard and the publish script may touch them
//! together. Channel names are arbitrary bytes after the prefix; no name can produce the fixed
//! keys, which have no `channel:` part.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{ns}:channel:<name>` | stream | the events of channel `<name>` |
//! | `{ns}:all` | stream | the events published to every stream |
//! | `{ns}:last-id` | string | the last entry id the publish script gave out |
//! | `{ns}:trimmed` | hash | stream key → the newest entry id trimmed from it |
//! | `{ns}:idem:<key>` | string, expiring | `<entry id> <fingerprint>`: what a publish's `Idempotency-Key` published |
//!
//! An entry's fields are the event's: `data`, `event` (its type), `retry` (milliseconds) and
//! `comment`, each when present (`empty` marks an event with none of them). The entry id is the event's id; an id set on a published event
//! is replaced.

use super::StreamId;
use super::reply::Fields;
use crate::event::Event;

/// The Redis key names of one hub. See the [module docs](self). Internal to the layout: only
/// the backplane's threads name keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// The keys of the hub called `namespace`.
    pub(crate) fn new(namespace: &str) -> Keys {
        Keys { prefix: format!("{{{namespace}}}") }
    }

    /// The stream of one channel.
    pub(crate) fn channel(&self, name: &str) -> String {
        format!("{}:channel:{name}", self.prefix)
    }

    /// The stream of publishes to every stream.
    pub(crate) fn all(&self) -> String {
        format!("{}:all", self.prefix)
    }

    /// The last id given out.
    pub(crate) fn last_id(&self) -> String {
        format!("{}:last-id", self.prefix)
    }

    /// The hash of trim points.
    pub(crate) fn trimmed(&self) -> String {
        format!("{}:trimmed", self.prefix)
    }

    /// What the idempotency key `key` published. (A publish without a key passes `""`: a key
    /// no publish writes, since keys are never empty.)
    pub(crate) fn idempotency(&self, key: &str) -> String {
        format!("{}:idem:{key}", self.prefix)
    }
}

/// The fields of the entry that stores `event` (its id is not stored: the entry id is).
pub fn fields(event: &Event) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::with_capacity(4);
    if let Some(data) = &event.data {
        out.push(("data", data.as_bytes().to_vec()));
    }
    if let Some(t) = &event.event {
        out.push(("event", t.as_bytes().to_vec()));
    }
    if let Some(ms) = event.retry {
        out.push(("retry", ms.to_string().into_bytes()));
    }
    if let Some(c) = &event.comment {
        out.push(("comment", c.as_bytes().to_vec()));
    }
    if out.is_empty() {
        // An entry needs a field: an event with none (only an id) is marked as such.
        out.push(("empty", Vec::new()));
    }
    out
}

/// The event stored in an entry with id `id`, or `None` for an entry this hub cannot have
/// written (none of the fields above, a field that is not UTF-8, an event type with a line
/// break, a bad `retry`): such an entry is skipped, never delivered half-understood.
pub fn event<'a>(id: &str, entry_fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Option<Event> {
    let mut event = Event::default().id(id);
    let mut known = false;
    for (name, value) in entry_fields {
        let text = std::str::from_utf8(value).ok();
        match name {
            b"data" => event.data = Some(text?.to_owned()),
            b"event" => event.event = Some(text?.to_owned()),
            b"retry" => event.retry = Some(text?.parse().ok()?),
            b"comment" => event.comment = Some(text?.to_owned()),
            b"empty" => {}
            _ => continue,
        }
        known = true;
    }
    (known && event.validate().is_ok()).then_some(event)
}

/// [`event`] of an entry as [`reply`](super::reply) decodes it.
pub(crate) fn entry_event(id: StreamId, entry_fields: &Fields) -> Option<Event> {
    event(&id.to_string(), entry_fields.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
}

/// The script that publishes one event to one or more streams, atomically, under one new id.
///
/// `KEYS`: the last-id key, the trimmed hash, the idempotency key's key, then the streams.
/// `ARGV`: the number of entries to keep per stream, the idempotency window in milliseconds (0:
/// no key), then the entry's field/value pairs. Returns `[id, 0]`, or for a key published
/// within its window `[first id, 1]` (the same publish: nothing new) or `[first id, 2]` (a
/// different one: refused). See [`reply::publish_of`](super::reply::publish_of).
///
/// A key's record is checked and written in the same script as the publish, so two nodes
/// retrying the same key at once publish once. Its fingerprint is the SHA-1 of the streams and
/// fields, each length-prefixed, computed here so that every node agrees on it.
///
/// The id is the Redis server's time in milliseconds, made strictly greater than every id this
/// hub gave out before and than each stream's newest entry. So ids increase across all channels
/// in publish order, which is what lets a client on several channels resume all of them from one
/// `Last-Event-ID`, and lets a node deliver an event published to several channels once.
///
/// Each stream is trimmed to exactly the retention, and the newest id trimmed is recorded: a
/// client resuming from an older id than that missed events and is told so; any other resume is
/// exact. (Exact trimming rather than `MAXLEN ~`: the approximate form trims whole nodes and does
/// not say which ids it dropped, which would turn exact gap reports into guesses.)
pub(crate) const PUBLISH_SCRIPT: &str = r#"
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local window = tonumber(ARGV[2])
local fp = ''
if window > 0 then
  local parts = {}
  for i = 4, #KEYS do parts[#parts + 1] = #KEYS[i] .. ':' .. KEYS[i] end
  parts[#parts + 1] = '|'
  for i = 3, #ARGV do parts[#parts + 1] = #ARGV[i] .. ':' .. ARGV[i] end
  fp = redis.sha1hex(table.concat(parts))
  local prior = redis.call('GET', KEYS[3])
  if prior then
    local first, was = string.match(prior, '^(%S+) (%S+)$')
    if first then
      if was == fp then return {first, 1} end
      return {first, 2}
    end
  end
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = 0
local function at_least(id)
  local lms, lseq = parse(id)
  if lms > ms or (lms == ms and lseq >= seq) then
    ms = lms
    seq = lseq + 1
  end
end
local last = redis.call('GET', KEYS[1])
if last then at_least(last) end
for i = 4, #KEYS do
  local top = redis.call('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
  if #top > 0 then at_least(top[1][1]) end
end
local id = string.format('%d-%d', ms, seq)
local keep = tonumber(ARGV[1])
for i = 4, #KEYS do
  redis.call('XADD', KEYS[i], id, unpack(ARGV, 3))
  local excess = redis.call('XLEN', KEYS[i]) - keep
  if excess > 0 then
    local old = redis.call('XRANGE', KEYS[i], '-', '+', 'COUNT', excess)
    redis.call('XTRIM', KEYS[i], 'MAXLEN', keep)
    redis.call('HSET', KEYS[2], KEYS[i], old[#old][1])
  end
end
redis.call('SET', KEYS[1], id)
if window > 0 then redis.call('SET', KEYS[3], id .. ' ' .. fp, 'PX', window) end
return {id, 0}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        let k = Keys::new("ssehub");
        assert_eq!(k.channel("room:1"), "{ssehub}:channel:room:1");
        assert_eq!(k.all(), "{ssehub}:all");
        assert_eq!(k.last_id(), "{ssehub}:last-id");
        assert_eq!(k.trimmed(), "{ssehub}:trimmed");
        assert_eq!(k.idempotency("k-1"), "{ssehub}:idem:k-1");
    }

    fn stored(event: &Event) -> Vec<(Vec<u8>, Vec<u8>)> {
        fields(event).into_iter().map(|(k, v)| (k.as_bytes().to_vec(), v)).collect()
    }

    fn read(id: &str, f: &[(Vec<u8>, Vec<u8>)]) -> Option<Event> {
        event(id, f.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
    }

    #[test]
    fn an_event_with_only_an_id_is_stored_as_empty() {
        assert_eq!(read("1-0", &stored(&Event::default())).unwrap(), Event::default().id("1-0"));
    }

    #[test]
    fn events_roundtrip_with_the_entry_id_as_their_id() {
        let full = Event::new("x").event("t").retry(500).comment("c").id("mine");
        for e in [Event::new("a\nb"), Event::new("").event("up"), full, Event::default().retry(9)] {
            let back = read("5-1", &stored(&e)).unwrap();
            assert_eq!(back, Event { id: Some("5-1".into()), ..e });
        }
    }

    #[test]
    fn entries_this_hub_cannot_have_written_are_skipped() {
        let f = |pairs: &[(&str, &[u8])]| -> Vec<(Vec<u8>, Vec<u8>)> {
            pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.to_vec())).collect()
        };
        assert!(read("1-0", &f(&[("other", b"x")])).is_none(), "no known field");
        assert!(read("1-0", &f(&[("data", b"\xff")])).is_none(), "not UTF-8");
        assert!(read("1-0", &f(&[("data", b"x"), ("event", b"a\nb")])).is_none(), "line break in type");
        assert!(read("1-0", &f(&[("data", b"x"), ("retry", b"soon")])).is_none(), "bad retry");
        assert!(read("1-0", &f(&[("data", b"x"), ("other", b"ignored")])).is_some(), "unknown fields");
    }
}
