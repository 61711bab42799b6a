//! The Redis backplane's pure pieces on arbitrary input: what a client sends as `Last-Event-ID`,
//! what a stream entry holds (Redis may hold entries this hub did not write), and what reads
//! return (any ids, any `COUNT` cut).
//!
//! Invariants:
//! * `ReplayFrom::parse` never panics, and an id it accepts prints back to itself;
//! * `keys::event` never panics; an event it returns is valid, carries the entry id, and its
//!   fields (`keys::fields`) read back as the same event;
//! * `merge` over batches (each sorted by id, as Redis returns them) delivers ids in strictly
//!   increasing order, each naming the batches (ascending) it came from; everything at or below
//!   the horizon (the smallest last id of a full batch) is delivered and nothing above it; each
//!   cursor is the last delivered id of its batch.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ssehub::backplane::merge::{Batch, merge};
use ssehub::backplane::{ReplayFrom, StreamId, keys};

#[derive(Arbitrary, Debug)]
struct Input {
    last_event_id: Option<String>,
    entry_id: String,
    fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// Per batch: (ms, seq) pairs (sorted and deduplicated here) and whether it was full.
    batches: Vec<(Vec<(u8, u8)>, bool)>,
}

fuzz_target!(|input: Input| {
    if let ReplayFrom::After(id) = ReplayFrom::parse(input.last_event_id.as_deref()) {
        assert_eq!(id.to_string().parse::<StreamId>(), Ok(id));
    }

    let fields = input.fields.iter().map(|(k, v)| (k.as_slice(), v.as_slice()));
    if let Some(event) = keys::event(&input.entry_id, fields) {
        assert!(event.validate().is_ok(), "{event:?}");
        assert_eq!(event.id.as_deref(), Some(input.entry_id.as_str()));
        let stored = keys::fields(&event);
        let again = keys::event(&input.entry_id, stored.iter().map(|(k, v)| (k.as_bytes(), v.as_slice())));
        assert_eq!(again.as_ref(), Some(&event));
    }

    let batches: Vec<Batch<StreamId>> = input
        .batches
        .iter()
        .take(8)
        .map(|(ids, full)| {
            let set: BTreeSet<StreamId> =
                ids.iter().map(|&(ms, seq)| StreamId { ms: ms.into(), seq: seq.into() }).collect();
            Batch { entries: set.into_iter().map(|id| (id, id)).collect(), full: *full && !ids.is_empty() }
        })
        .collect();
    let horizon = batches.iter().filter(|b| b.full).filter_map(|b| b.entries.last().map(|e| e.0)).min();
    let below = |id: &StreamId| horizon.is_none_or(|h| *id <= h);
    let expected: BTreeSet<StreamId> =
        batches.iter().flat_map(|b| b.entries.iter().map(|e| e.0)).filter(below).collect();
    let merged = merge(batches.clone());
    let delivered: Vec<StreamId> = merged.deliveries.iter().map(|d| d.id).collect();
    assert!(delivered.windows(2).all(|w| w[0] < w[1]), "strictly increasing: {delivered:?}");
    assert_eq!(delivered, expected.into_iter().collect::<Vec<_>>());
    for d in &merged.deliveries {
        assert_eq!(d.item, d.id);
        let from: Vec<usize> =
            (0..batches.len()).filter(|&i| batches[i].entries.iter().any(|e| e.0 == d.id)).collect();
        assert_eq!(d.streams, from, "every batch it was in, ascending");
    }
    for (i, cursor) in merged.cursors.iter().enumerate() {
        let last = batches[i].entries.iter().map(|e| e.0).filter(below).last();
        assert_eq!(*cursor, last);
    }
});
