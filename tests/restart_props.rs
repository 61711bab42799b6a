//! Property: whatever the publishes, evictions, hub restarts and resumes, no client ever receives
//! a stream that skips an event of its channels unless a `gap` event came first, and no client
//! receives an event twice or out of order.
//!
//! A restart is a new `Hub` (empty logs, sequence numbers from 1 again) whose id origin is above
//! the old one's, as a restarted server's is (see `ssehub::hub::ids`); clients keep the last id
//! they saw and resume with it. Retention is tiny (a few events per channel, sometimes a tiny
//! hub-wide total) so that ids fall out of the logs all the time, and some events carry an
//! application id instead of an assigned one. Replay comes in small batches, and a batch that
//! finds the events it had not reached evicted starts with a gap event, as the server's do.

use std::sync::Arc;
use std::time::Instant;

use proptest::prelude::*;
use ssehub::hub::fanout::{Member, Replaying};
use ssehub::hub::ids::IdScheme;
use ssehub::hub::{GAP_EVENT, Hub, Retention, Target, Then};
use ssehub::proto::Frame;
use ssehub::{Decoder, Event, OwnedItem};

const CHANNELS: [&str; 3] = ["a", "b", "c"];
const CLIENTS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    /// To every stream (mask 0) or a bitmask of CHANNELS; `true`: with an application id.
    Publish(u8, bool),
    Disconnect(usize),
    Reconnect(usize),
    /// The client's queue drained: its replay takes the next batch.
    Drain(usize),
    /// The server restarts: every stream ends, the hub starts again.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..8, prop::bool::weighted(0.2)).prop_map(|(m, a)| Op::Publish(m, a)),
        2 => (0..CLIENTS).prop_map(Op::Disconnect),
        2 => (0..CLIENTS).prop_map(Op::Reconnect),
        4 => (0..CLIENTS).prop_map(Op::Drain),
        1 => Just(Op::Restart),
    ]
}

struct Client {
    channels: Vec<Arc<str>>,
    member: Option<Member>,
    /// What the client's decoder saw: `Err(())` for a gap event, `Ok(n)` for event number n.
    seen: Vec<Result<u64, ()>>,
    decoder: Decoder,
    /// Events numbered above this are owed to the client (a client that has no id to resume
    /// from starts afresh, like a new one).
    start: u64,
}

impl Client {
    fn wants(&self, target: &Target) -> bool {
        match target {
            Target::All => true,
            Target::Channels(list) => list.iter().any(|c| self.channels.contains(c)),
        }
    }

    fn receive(&mut self, frames: impl IntoIterator<Item = Frame>) {
        for f in frames {
            let seen = &mut self.seen;
            self.decoder
                .feed(f.block(), |item| {
                    if let OwnedItem::Event { event_type, data, .. } = item.to_owned() {
                        seen.push(if event_type == GAP_EVENT { Err(()) } else { Ok(data.parse().unwrap()) });
                    }
                })
                .unwrap();
        }
    }

    fn connect(&mut self, hub: &mut Hub, budget: usize, published: usize) {
        let last = self.decoder.last_event_id().to_owned();
        if last.is_empty() {
            self.start = published as u64;
        }
        let resume =
            hub.resume(&self.channels, (!last.is_empty()).then_some(last.as_str()), budget, Instant::now());
        self.receive(resume.gap.into_iter().chain(resume.frames));
        let mut member = Member::new(self.channels.clone().into(), resume.seq);
        if resume.then == Then::More {
            member.replay =
                Some(Box::new(Replaying { last_id: resume.last_id.or_else(|| Some(last.into())) }));
        }
        self.member = Some(member);
    }

    fn drain(&mut self, hub: &mut Hub, budget: usize) -> bool {
        let Some(member) = self.member.as_mut() else { return false };
        let Some(replay) = member.replay.as_mut() else { return false };
        let last_id = replay.last_id.as_deref().unwrap_or_default();
        let batch = hub.replay(&self.channels, member.last_seq, last_id, budget, Instant::now());
        // The gap event a batch may start with echoes the last id the client was sent.
        if let Some(first) = batch.frames.first() {
            if first.block().starts_with(b"event: gap\n") {
                let echoed = format!("event: gap\ndata: {}\n\n", self.decoder.last_event_id());
                assert_eq!(std::str::from_utf8(first.block()).unwrap(), echoed);
            }
        }
        member.last_seq = batch.seq;
        if batch.last_id.is_some() {
            replay.last_id = batch.last_id;
        }
        if batch.then == Then::Live {
            member.replay = None;
        }
        self.receive(batch.frames);
        true
    }
}

fn run(ops: &[Op], max_events: usize, total: Option<usize>, budget: usize) -> Result<(), TestCaseError> {
    let retention = Retention {
        max_events,
        max_bytes: usize::MAX,
        max_age: None,
        max_total_bytes: total.unwrap_or(usize::MAX),
    };
    let mut incarnation = 1u64;
    let new_hub = |n: u64| Hub::new(retention, Some(IdScheme::with_origin(n * 1_000_000)));
    let mut hub = new_hub(incarnation);
    // Every event ever published: (its number, where it went), in publish order.
    let mut published: Vec<(u64, Target)> = Vec::new();
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|k| Client {
            channels: CHANNELS
                .iter()
                .enumerate()
                .filter(|(i, _)| (k + 1) >> i & 1 == 1)
                .map(|(_, c)| Arc::from(*c))
                .collect(),
            member: None,
            seen: Vec::new(),
            decoder: Decoder::new(),
            start: 0,
        })
        .collect();
    for c in clients.iter_mut() {
        c.connect(&mut hub, budget, 0);
    }
    for op in ops {
        match *op {
            Op::Publish(mask, app_id) => {
                let target = if mask == 0 {
                    Target::All
                } else {
                    Target::channels(
                        CHANNELS.iter().enumerate().filter(|(i, _)| mask >> i & 1 == 1).map(|(_, c)| *c),
                    )
                };
                let n = published.len() as u64 + 1;
                let mut event = Event::new(n.to_string());
                if app_id {
                    event = event.id(format!("app-{n}"));
                }
                let p = hub.publish(&target, event, Instant::now()).unwrap();
                for c in clients.iter_mut().filter(|c| c.wants(&target)) {
                    if c.member.as_mut().is_some_and(|m| m.accepts(p.seq)) {
                        c.receive([p.frame.clone()]);
                    }
                }
                published.push((n, target));
            }
            Op::Disconnect(k) => clients[k].member = None,
            Op::Reconnect(k) => {
                if clients[k].member.is_none() {
                    clients[k].connect(&mut hub, budget, published.len());
                }
            }
            Op::Drain(k) => {
                clients[k].drain(&mut hub, budget);
            }
            Op::Restart => {
                incarnation += 1;
                hub = new_hub(incarnation);
                for c in clients.iter_mut() {
                    c.member = None;
                }
            }
        }
    }
    for (k, c) in clients.iter().enumerate() {
        let owed: Vec<u64> =
            published.iter().filter(|(n, t)| *n > c.start && c.wants(t)).map(|(n, _)| *n).collect();
        let mut last = c.start;
        let mut gap = false;
        for s in &c.seen {
            match *s {
                Err(()) => gap = true,
                Ok(n) => {
                    prop_assert!(
                        n > last,
                        "client {}: {} after {} (a duplicate or out of order)",
                        k,
                        n,
                        last
                    );
                    let skipped: Vec<u64> = owed.iter().copied().filter(|&m| m > last && m < n).collect();
                    prop_assert!(
                        gap || skipped.is_empty(),
                        "client {} on {:?} skipped {:?} without a gap: {:?}",
                        k,
                        c.channels,
                        skipped,
                        c.seen
                    );
                    last = n;
                    gap = false;
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn no_stream_skips_an_event_without_a_gap_before_it(
        ops in prop::collection::vec(op(), 0..150),
        max_events in 1usize..5,
        total in prop::option::weighted(0.3, 200usize..1200),
        budget in 1usize..120,
    ) {
        run(&ops, max_events, total, budget)?;
    }
}

#[test]
fn an_id_from_before_a_restart_gets_a_gap_even_once_new_ids_pass_it() {
    // The case: publish 10, restart, publish 20, resume with the id of the 10th.
    let mut ops: Vec<Op> = (0..10).map(|_| Op::Publish(1, false)).collect();
    ops.push(Op::Disconnect(0));
    ops.push(Op::Restart);
    ops.extend((0..20).map(|_| Op::Publish(1, false)));
    ops.push(Op::Reconnect(0));
    ops.push(Op::Drain(0));
    run(&ops, 1024, None, 1 << 20).unwrap();
}
