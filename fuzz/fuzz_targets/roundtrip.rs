//! Whatever is encoded decodes back to what the standard says a client sees.
//!
//! A sequence of arbitrary blocks (events and comment-only blocks) is encoded into one buffer.
//! An invalid event must be refused with the error a simple model predicts, leaving the buffer
//! unchanged. The buffer is then decoded (whole, and again split at an arbitrary point) and the
//! items compared with the model: data with CRLF and lone CR turned into LF, type `message` when
//! the type is absent or empty, the last event ID carried from the latest `id`, `Retry` items in
//! order, and nothing dispatched for a block without data.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ssehub::{Decoder, EncodeError, Event, OwnedItem};

#[derive(Arbitrary, Debug)]
struct ArbEvent {
    comment: Option<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    data: Option<String>,
}

#[derive(Arbitrary, Debug)]
enum Block {
    Event(ArbEvent),
    Comment(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    blocks: Vec<Block>,
    split: u16,
}

/// The error `encode` must return, from the field rules alone.
fn expected_error(ev: &Event) -> Option<EncodeError> {
    let has_break = |s: &str| s.contains(['\r', '\n']);
    if ev.event.as_deref().is_some_and(has_break) {
        return Some(EncodeError::NewlineInEventType);
    }
    if let Some(id) = ev.id.as_deref() {
        if has_break(id) {
            return Some(EncodeError::NewlineInId);
        }
        if id.contains('\0') {
            return Some(EncodeError::NulInId);
        }
    }
    None
}

fn normalise(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

fn decode_split(wire: &[u8], split: usize) -> (Vec<OwnedItem>, String) {
    let mut dec = Decoder::new();
    let mut items = Vec::new();
    let (a, b) = wire.split_at(split);
    for chunk in [a, b] {
        dec.feed(chunk, |item| items.push(item.to_owned())).expect("encoded stream decodes");
    }
    assert!(!dec.finish(), "an encoded stream ends on a block boundary");
    (items, dec.last_event_id().to_owned())
}

fuzz_target!(|input: Input| {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    let mut last_id = String::new();

    for block in input.blocks {
        let ev = match block {
            Block::Comment(text) => {
                ssehub::encode_comment(&text, &mut wire);
                continue;
            }
            Block::Event(a) => {
                Event { comment: a.comment, event: a.event, id: a.id, retry: a.retry, data: a.data }
            }
        };
        let before = wire.clone();
        let model = expected_error(&ev);
        assert_eq!(ev.validate().err(), model, "validate() vs model for {ev:?}");
        match ssehub::encode(&ev, &mut wire) {
            Err(e) => {
                assert_eq!(Some(e), model, "encode() error for {ev:?}");
                assert_eq!(wire, before, "a refused event leaves the buffer unchanged");
                continue;
            }
            Ok(()) => {
                assert_eq!(model, None, "encode() accepted an invalid event {ev:?}");
                assert_eq!(wire.len() - before.len(), ssehub::encoded_len(&ev), "encoded_len for {ev:?}");
            }
        }
        if let Some(ms) = ev.retry {
            expected.push(OwnedItem::Retry(ms));
        }
        if let Some(id) = &ev.id {
            last_id.clone_from(id);
        }
        if let Some(data) = &ev.data {
            expected.push(OwnedItem::Event {
                event_type: match ev.event.as_deref() {
                    None | Some("") => "message".to_owned(),
                    Some(t) => t.to_owned(),
                },
                data: normalise(data),
                last_event_id: last_id.clone(),
            });
        }
    }

    let (items, final_id) = decode_split(&wire, 0);
    assert_eq!(items, expected, "decoded items of {:?}", String::from_utf8_lossy(&wire));
    assert_eq!(final_id, last_id);
    if !wire.is_empty() {
        let split = input.split as usize % (wire.len() + 1);
        assert_eq!(decode_split(&wire, split), (expected, last_id), "split at {split}");
    }
});
