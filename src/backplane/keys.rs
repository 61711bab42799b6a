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
//! | `{ns}:presence-live` | sorted set | node → when it counts as gone (ms): nodes holding presence |
//! | `{ns}:presence-held:<node>` | set | the node's presence holds, `CHANNEL\tDATA` ([`presence_script`]) |
//! | `{ns}:presence-holders` | hash | presence hold → how many nodes hold it |
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

/// The script that publishes a batch of events, each to one or more streams, atomically, each
/// under a new id.
///
/// `KEYS`: the last-id key, the trimmed hash, then per event its idempotency key's key (`""`'s
/// when it has none) and its streams. `ARGV`: the number of entries to keep per stream, the
/// idempotency window in milliseconds, then per event: its number of streams, its number of
/// field/value arguments, `1` if it has an idempotency key (else `0`), and the field/value
/// pairs. Returns one `[id, outcome]` per event, in order: `[id, 0]` published, or for a key
/// published within its window `[first id, 1]` (the same publish: nothing new) or `[first id,
/// 2]` (a different one: refused). See [`reply::publish_of`](super::reply::publish_of) and
/// [`PublishBatch`], which lays the arguments out.
///
/// One call per batch rather than per event: the script's own cost (the call, `TIME`, the
/// last-id, each stream's newest entry, trimming) is paid once per batch, which is what lets
/// one node publish 10^5 events a second through one Redis.
///
/// A key's record is checked and written in the same script as the publish, so two nodes
/// retrying the same key at once publish once (and a key twice in one batch, once). Its
/// fingerprint is the SHA-1 of the streams and fields, each length-prefixed, computed here so
/// that every node agrees on it.
///
/// The ids are the Redis server's time in milliseconds, made strictly greater than every id
/// this hub gave out before, than each stream's newest entry, and than the batch's previous
/// one. So ids increase across all channels in publish order, which is what lets a client on
/// several channels resume all of them from one `Last-Event-ID`, and lets a node deliver an
/// event published to several channels once.
///
/// Each stream is trimmed to exactly the retention at the end of the batch (no reader sees the
/// script half done, so this is the state trimming after each event would leave), and the
/// newest id trimmed is recorded: a client resuming from an older id than that missed events
/// and is told so; any other resume is exact. (Exact trimming rather than `MAXLEN ~`: the
/// approximate form trims whole nodes and does not say which ids it dropped, which would turn
/// exact gap reports into guesses.)
pub(crate) const PUBLISH_SCRIPT: &str = r#"
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local keep = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
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
local seen = {}
local touched = {}
local newest = nil
local results = {}
local k, a = 3, 3
while a <= #ARGV do
  local streams, nfields, keyed = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2] == '1'
  local idem, s0, f0 = KEYS[k], k + 1, a + 3
  local s1, f1 = s0 + streams - 1, f0 + nfields - 1
  k, a = s1 + 1, f1 + 1
  local fp, answered = '', false
  if keyed then
    local parts = {}
    for i = s0, s1 do parts[#parts + 1] = #KEYS[i] .. ':' .. KEYS[i] end
    parts[#parts + 1] = '|'
    for i = f0, f1 do parts[#parts + 1] = #ARGV[i] .. ':' .. ARGV[i] end
    fp = redis.sha1hex(table.concat(parts))
    local prior = redis.call('GET', idem)
    if prior then
      local first, was = string.match(prior, '^(%S+) (%S+)$')
      if first then
        if was == fp then results[#results + 1] = {first, 1} else results[#results + 1] = {first, 2} end
        answered = true
      end
    end
  end
  if not answered then
    for i = s0, s1 do
      if not seen[KEYS[i]] then
        seen[KEYS[i]] = true
        touched[#touched + 1] = KEYS[i]
        local top = redis.call('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
        if #top > 0 then at_least(top[1][1]) end
      end
    end
    local id = string.format('%d-%d', ms, seq)
    seq = seq + 1
    for i = s0, s1 do
      redis.call('XADD', KEYS[i], id, unpack(ARGV, f0, f1))
    end
    if keyed then redis.call('SET', idem, id .. ' ' .. fp, 'PX', window) end
    newest = id
    results[#results + 1] = {id, 0}
  end
end
if newest then redis.call('SET', KEYS[1], newest) end
for _, key in ipairs(touched) do
  local excess = redis.call('XLEN', key) - keep
  if excess > 0 then
    local old = redis.call('XRANGE', key, '-', '+', 'COUNT', excess)
    redis.call('XTRIM', key, 'MAXLEN', keep)
    redis.call('HSET', KEYS[2], key, old[#old][1])
  end
end
return results
"#;

/// The arguments of one [`PUBLISH_SCRIPT`] call, event by event.
#[derive(Debug, Default)]
pub(crate) struct PublishBatch {
    pub(crate) keys: Vec<String>,
    pub(crate) args: Vec<Vec<u8>>,
    pub(crate) events: usize,
}

impl PublishBatch {
    /// A batch keeping `retention` entries per stream, remembering keys for `window_ms`.
    pub(crate) fn new(keys: &Keys, retention: usize, window_ms: u128) -> PublishBatch {
        PublishBatch {
            keys: vec![keys.last_id(), keys.trimmed()],
            args: vec![retention.to_string().into_bytes(), window_ms.max(1).to_string().into_bytes()],
            events: 0,
        }
    }

    /// Adds `event` for `streams`, under the idempotency key `key` if any.
    pub(crate) fn push(&mut self, keys: &Keys, streams: Vec<String>, event: &Event, key: Option<&str>) {
        let fields = fields(event);
        self.keys.push(keys.idempotency(key.unwrap_or("")));
        self.args.push(streams.len().to_string().into_bytes());
        self.args.push((2 * fields.len()).to_string().into_bytes());
        self.args.push(if key.is_some() { b"1".to_vec() } else { b"0".to_vec() });
        self.keys.extend(streams);
        for (name, value) in fields {
            self.args.push(name.as_bytes().to_vec());
            self.args.push(value);
        }
        self.events += 1;
    }
}

/// The keys of presence's join and leave events (see [`presence_script`]).
impl Keys {
    /// The set of `node`'s holds (members `CHANNEL\tDATA`).
    pub(crate) fn presence_held(&self, node: &str) -> String {
        format!("{}:presence-held:{node}", self.prefix)
    }

    /// The hash member → how many nodes hold it.
    pub(crate) fn presence_holders(&self) -> String {
        format!("{}:presence-holders", self.prefix)
    }

    /// The sorted set of nodes with holds, by when they count as gone (milliseconds, Redis's
    /// clock).
    pub(crate) fn presence_nodes(&self) -> String {
        format!("{}:presence-live", self.prefix)
    }

    /// The prefix itself (`{ns}`), from which the presence script names the streams it writes
    /// and a dead node's set of holds.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// The presence script's own part (see [`presence_script`]); `publish` is [`PUBLISH_SCRIPT`]
/// made a function of its `KEYS` and `ARGV`.
const PRESENCE_SCRIPT_BODY: &str = r#"
local live, holders, held = KEYS[1], KEYS[2], KEYS[3]
local node, mode, prefix = ARGV[1], ARGV[2], ARGV[6]
local ttl, grace, keep = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local events = {}
local function add(set, m)
  if redis.call('SADD', set, m) == 1 and redis.call('HINCRBY', holders, m, 1) == 1 then
    events[#events + 1] = {m, 'join'}
  end
end
local function remove(set, m)
  if redis.call('SREM', set, m) == 1 then
    if redis.call('HINCRBY', holders, m, -1) <= 0 then
      redis.call('HDEL', holders, m)
      events[#events + 1] = {m, 'leave'}
    end
  end
end
local fresh = 0
if mode == 'gone' then
  redis.call('ZADD', live, now, node)
else
  local known = redis.call('ZSCORE', live, node)
  redis.call('ZADD', live, now + ttl, node)
  if mode == 'replace' then
    local want = {}
    for i = 7, #ARGV do want[ARGV[i]] = true end
    for _, m in ipairs(redis.call('SMEMBERS', held)) do
      if not want[m] then remove(held, m) end
    end
    for i = 7, #ARGV do add(held, ARGV[i]) end
  elseif not known then
    fresh = 1
  else
    for i = 7, #ARGV, 2 do
      if ARGV[i] == '+' then add(held, ARGV[i + 1]) else remove(held, ARGV[i + 1]) end
    end
  end
end
local reaped = 0
for _, d in ipairs(redis.call('ZRANGEBYSCORE', live, '-inf', now - grace)) do
  if d ~= node then
    reaped = reaped + 1
    local set = prefix .. ':presence-held:' .. d
    for _, m in ipairs(redis.call('SMEMBERS', set)) do remove(set, m) end
    redis.call('DEL', set)
    redis.call('ZREM', live, d)
  end
end
if #events > 0 then
  local pk = {prefix .. ':last-id', prefix .. ':trimmed'}
  local pa = {keep, '1'}
  for _, e in ipairs(events) do
    local tab = string.find(e[1], '\t', 1, true)
    pk[#pk + 1] = prefix .. ':idem:'
    pk[#pk + 1] = prefix .. ':channel:$presence/' .. string.sub(e[1], 1, tab - 1)
    for _, v in ipairs({'1', '4', '0', 'data', string.sub(e[1], tab + 1), 'event', e[2]}) do
      pa[#pa + 1] = v
    end
  end
  publish(pk, pa)
end
return {fresh, #events, reaped}
"#;

/// The script that changes one node's presence holds and publishes the joins and leaves they
/// make, once for the whole cluster (see [`crate::hub::presence::holds`]).
///
/// `KEYS`: the sorted set of live nodes (`{ns}:presence-live`), the hash of holders per
/// member, this node's set of holds. `ARGV`: the node, the mode (`delta`, `replace` or
/// `gone`), its time to live in milliseconds, the grace in milliseconds, the entries kept per
/// stream, the key prefix `{ns}`, then for `delta` a `+` or `-` and a member per change, for
/// `replace` every member. Returns `[fresh, events, reaped]`.
///
/// * Every call but `gone` marks the node live until `now + ttl` (Redis's clock); `gone` (a
///   node that stops) marks it gone now.
/// * A member added to a node's set for the first time raises its holders by one, and `0 → 1`
///   publishes `event: join`; removed, lowers it, and `1 → 0` publishes `event: leave`, each
///   with the member's data on `{ns}:channel:$presence/CHANNEL`, through the publish script's
///   own code (so the ids, the last id and the trimming are a publish's). Adding twice or
///   removing a missing member does nothing: a call that is sent again is harmless.
/// * `delta` from a node not in the live set (never seen, or reaped) changes nothing and
///   answers `fresh = 1`: the node's set is not what it thinks, and it sends `replace`, which
///   makes the set exactly the members given.
/// * Every call reaps: a node whose liveness ended at least `grace` ago (it died, or it said
///   `gone`) loses all its holds (the leaves they make published) and leaves the live set.
///   Whichever node's call runs first does it; the others find nothing left, so each leave is
///   published once. The grace is the debounce, so that clients of a dead node that reconnect
///   to another within it make neither a leave nor a join.
///
/// A dead node's set and the streams are named from the prefix inside the script: all share
/// the `{ns}` hash tag, so they are on the shard of the declared keys.
pub fn presence_script() -> String {
    format!("local function publish(KEYS, ARGV)\n{PUBLISH_SCRIPT}\nend\n{PRESENCE_SCRIPT_BODY}")
}

/// What one [`presence_script`] call changes: `Some(sync)` for a node that is up, `None` for one
/// that stops (`gone`).
pub(crate) struct PresenceCall<'a> {
    pub(crate) node: &'a str,
    pub(crate) sync: Option<&'a crate::hub::presence::holds::Sync>,
    pub(crate) ttl_ms: u128,
    pub(crate) grace_ms: u128,
    pub(crate) retention: usize,
}

impl PresenceCall<'_> {
    /// The call's `KEYS` and `ARGV`.
    pub(crate) fn layout(&self, keys: &Keys) -> (Vec<String>, Vec<String>) {
        use crate::hub::presence::holds::Sync;
        let k = vec![keys.presence_nodes(), keys.presence_holders(), keys.presence_held(self.node)];
        let mode = match self.sync {
            None => "gone",
            Some(Sync::Delta(_)) => "delta",
            Some(Sync::Replace(_)) => "replace",
        };
        let mut a = vec![
            self.node.to_owned(),
            mode.to_owned(),
            self.ttl_ms.to_string(),
            self.grace_ms.to_string(),
            self.retention.max(1).to_string(),
            keys.prefix().to_owned(),
        ];
        match self.sync {
            None => {}
            Some(Sync::Delta(changes)) => {
                for (add, m) in changes {
                    a.push(if *add { "+" } else { "-" }.to_owned());
                    a.push(m.clone());
                }
            }
            Some(Sync::Replace(all)) => a.extend(all.iter().cloned()),
        }
        (k, a)
    }
}

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
        assert_eq!(k.presence_held("n1"), "{ssehub}:presence-held:n1");
        assert_eq!(k.presence_holders(), "{ssehub}:presence-holders");
        assert_eq!(k.presence_nodes(), "{ssehub}:presence-live");
    }

    #[test]
    fn presence_calls_lay_out_their_arguments() {
        use crate::hub::presence::holds::Sync;
        let k = Keys::new("ns");
        let delta = Sync::Delta(vec![(true, "a\tx".into()), (false, "b\ty".into())]);
        let call =
            PresenceCall { node: "n1", sync: Some(&delta), ttl_ms: 3000, grace_ms: 2000, retention: 0 };
        let (keys, args) = call.layout(&k);
        assert_eq!(keys, ["{ns}:presence-live", "{ns}:presence-holders", "{ns}:presence-held:n1"]);
        assert_eq!(args, ["n1", "delta", "3000", "2000", "1", "{ns}", "+", "a\tx", "-", "b\ty"]);
        let replace = Sync::Replace(vec!["a\tx".into()]);
        let (_, args) = PresenceCall { sync: Some(&replace), ..call }.layout(&k);
        assert_eq!(&args[1..2], ["replace"]);
        assert_eq!(&args[6..], ["a\tx"]);
        let (_, args) = PresenceCall { sync: None, ..call }.layout(&k);
        assert_eq!(args.len(), 6);
        assert_eq!(args[1], "gone");
        // The publish script runs inside, as a function of its own KEYS and ARGV.
        let script = presence_script();
        assert!(script.starts_with("local function publish(KEYS, ARGV)\n"));
        assert!(script.contains(PUBLISH_SCRIPT));
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
