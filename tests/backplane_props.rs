//! Properties of the backplane's pure pieces (no Redis needed):
//!
//! * a read thread that reads any number of streams with any `COUNT`, over and over from its
//!   cursors ([`merge`]), delivers every published event exactly once, in id order, naming every
//!   stream it was published to — however the events were spread over the streams;
//! * stream ids read back as themselves; no string makes the parser panic;
//! * any valid event stored as an entry's fields reads back as itself, with the entry id.
#![cfg(feature = "redis")]

use proptest::prelude::*;
use ssehub::Event;
use ssehub::backplane::merge::{Batch, merge};
use ssehub::backplane::{StreamId, keys};

const STREAMS: usize = 4;

/// Publishes as (gap to the previous id, bitmask of the streams it goes to, non-zero).
fn publishes() -> impl Strategy<Value = Vec<(u8, u8)>> {
    prop::collection::vec((0u8..3, 1u8..(1 << STREAMS)), 0..60)
}

proptest! {
    #[test]
    fn reading_in_batches_delivers_each_event_once_in_order(plan in publishes(), count in 1usize..6) {
        // Ids strictly increase (several per millisecond when the gap is 0).
        let mut id = StreamId { ms: 1, seq: 0 };
        let mut published: Vec<(StreamId, Vec<usize>)> = Vec::new();
        for (gap, mask) in plan {
            id = if gap == 0 { StreamId { ms: id.ms, seq: id.seq + 1 } } else { StreamId { ms: id.ms + u64::from(gap), seq: 0 } };
            published.push((id, (0..STREAMS).filter(|s| mask & (1 << s) != 0).collect()));
        }
        let stream: Vec<Vec<StreamId>> = (0..STREAMS)
            .map(|s| published.iter().filter(|(_, on)| on.contains(&s)).map(|(id, _)| *id).collect())
            .collect();
        let mut cursors = [StreamId::ZERO; STREAMS];
        let mut delivered: Vec<(StreamId, Vec<usize>)> = Vec::new();
        for _round in 0..=published.len() * STREAMS + 1 {
            let batches: Vec<Batch<StreamId>> = (0..STREAMS)
                .map(|s| {
                    let entries: Vec<(StreamId, StreamId)> =
                        stream[s].iter().filter(|id| **id > cursors[s]).take(count).map(|id| (*id, *id)).collect();
                    Batch { full: entries.len() == count, entries }
                })
                .collect();
            let merged = merge(batches);
            for d in &merged.deliveries {
                prop_assert_eq!(d.item, d.id, "the payload of the entry with that id");
            }
            delivered.extend(merged.deliveries.into_iter().map(|d| (d.id, d.streams)));
            for (s, c) in merged.cursors.into_iter().enumerate() {
                if let Some(c) = c {
                    prop_assert!(c > cursors[s], "cursors only move forward");
                    cursors[s] = c;
                }
            }
            if delivered.len() == published.len() {
                break;
            }
        }
        prop_assert_eq!(delivered, published);
    }

    #[test]
    fn stream_ids_read_back_as_themselves(ms in any::<u64>(), seq in any::<u64>()) {
        let id = StreamId { ms, seq };
        prop_assert_eq!(id.to_string().parse::<StreamId>(), Ok(id));
    }

    #[test]
    fn parsing_any_text_as_a_stream_id_is_total(text in ".{0,48}") {
        if let Ok(id) = text.parse::<StreamId>() {
            prop_assert_eq!(id.to_string().parse::<StreamId>(), Ok(id));
            prop_assert!(text.bytes().all(|b| b.is_ascii_digit() || b == b'-'));
        }
    }

    #[test]
    fn valid_events_survive_a_trip_through_entry_fields(
        data in prop::option::of(".{0,40}"),
        event_type in prop::option::of("[^\r\n]{0,12}"),
        retry in prop::option::of(any::<u64>()),
        comment in prop::option::of(".{0,12}"),
        id in "[0-9]{1,13}-[0-9]{1,3}",
    ) {
        let event = Event { data, event: event_type, retry, comment, id: Some("replaced".into()) };
        prop_assume!(event.validate().is_ok());
        let stored: Vec<(&str, Vec<u8>)> = keys::fields(&event);
        let back = keys::event(&id, stored.iter().map(|(k, v)| (k.as_bytes(), v.as_slice())));
        prop_assert_eq!(back, Some(Event { id: Some(id.clone()), ..event }));
    }
}
