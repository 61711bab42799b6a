//! Decoding is independent of how the input is split into chunks.
//!
//! Input layout: `[k, size_1 .. size_k, limit, stream ..]` where `k` is taken modulo 8. The stream
//! is fed whole, and again in chunks whose sizes cycle through `size_1 .. size_k` (a size of 0
//! feeds an empty chunk), and (when short) byte by byte. All feeds must give the same items, the
//! same `Result`, the same last event ID and the same `finish()`. This is done with the default limit and with the small limit
//! `limit` (0..=255), where the decoder's heap must also stay within `5 * limit + 1` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssehub::{DecodeError, Decoder, OwnedItem};

/// What one decoding run observed.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    items: Vec<OwnedItem>,
    result: Result<(), DecodeError>,
    last_event_id: String,
    /// `finish()`'s answer, only when no error occurred (after an error the partial state
    /// legitimately depends on where the chunks ended).
    discarded: Option<bool>,
}

fn check_capacity(dec: &Decoder, limit: Option<usize>, stream: &[u8]) {
    if let Some(limit) = limit {
        let cap = dec.buffered_capacity();
        // The bound of the Decoder's documentation ("Bounds"): five buffers, each at most the
        // limit, the data buffer one byte more for its final LF.
        let bound = 5 * limit + 1;
        assert!(
            cap <= bound,
            "buffered_capacity {cap} > 5 * {limit} + 1 = {bound} (stream {:?})",
            String::from_utf8_lossy(stream)
        );
    }
}

fn run(stream: &[u8], sizes: &[u8], limit: Option<usize>) -> Run {
    let mut dec = match limit {
        Some(limit) => Decoder::with_max_size(limit),
        None => Decoder::new(),
    };
    let mut items = Vec::new();
    let mut result = Ok(());
    let feed = |dec: &mut Decoder, items: &mut Vec<OwnedItem>, chunk: &[u8]| {
        let r = dec.feed(chunk, |item| items.push(item.to_owned()));
        check_capacity(dec, limit, stream);
        r
    };
    // A cycle of sizes that consumes nothing would never end: feed everything at once then.
    if sizes.is_empty() || sizes.iter().all(|&s| s == 0) {
        for &s in sizes {
            debug_assert_eq!(s, 0);
            result = feed(&mut dec, &mut items, &[]);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = feed(&mut dec, &mut items, stream);
        }
    } else {
        let mut rest = stream;
        'outer: while !rest.is_empty() {
            for &s in sizes {
                let n = (s as usize).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                result = feed(&mut dec, &mut items, chunk);
                if result.is_err() {
                    // The decoder must keep refusing, with the same error and no items.
                    let before = items.len();
                    let again = feed(&mut dec, &mut items, b"data: x\n\n");
                    assert_eq!(again, result, "error is sticky");
                    assert_eq!(items.len(), before, "no items after an error");
                    break 'outer;
                }
                if rest.is_empty() {
                    break;
                }
            }
        }
    }
    let last_event_id = dec.last_event_id().to_owned();
    let discarded = if result.is_ok() { Some(dec.finish()) } else { None };
    check_capacity(&dec, limit, stream);
    Run { items, result, last_event_id, discarded }
}

fuzz_target!(|input: &[u8]| {
    let Some((&k, rest)) = input.split_first() else { return };
    let k = (k % 8) as usize;
    if rest.len() < k + 1 {
        return;
    }
    let (sizes, rest) = rest.split_at(k);
    let (&limit, stream) = rest.split_first().unwrap();
    let limit = limit as usize;

    for limit in [None, Some(limit)] {
        let whole = run(stream, &[], limit);
        let chunked = run(stream, sizes, limit);
        assert_eq!(whole, chunked, "whole vs chunked (sizes {sizes:?}, limit {limit:?})");
        // Byte by byte, nearly every line goes through the line buffer (the decoder's slow
        // path), where fed whole it goes through the fast path over the chunk's lines.
        if stream.len() <= 4096 {
            assert_eq!(whole, run(stream, &[1], limit), "whole vs byte by byte (limit {limit:?})");
        }
        if limit.is_none() && 3 * stream.len() <= ssehub::DEFAULT_MAX_SIZE {
            // A stream whose decoded text (at most 3 bytes per input byte, for U+FFFD) fits in
            // the default limit can never pass it.
            assert_eq!(whole.result, Ok(()));
        }
    }
});
