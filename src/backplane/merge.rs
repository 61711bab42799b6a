//! Turning what one `XREAD` (or several `XRANGE`s) returned into deliveries, in id order, each
//! event once.
//!
//! One read returns, per stream, its entries after that stream's cursor, at most `COUNT` of
//! them. An event published to several channels is one entry with the same id in each of their
//! streams, written by one script call, so a non-blocking read sees all of its copies or none,
//! unless a `COUNT` cut one stream short. (A *blocking* `XREAD` is woken by one stream and
//! answers with that one alone: the read thread only waits with it, then reads again without
//! blocking.) Hence the horizon: when a stream's part is full, entries past
//! its last id may be missing from it, so only entries up to the smallest such last id are
//! delivered now; the rest are read again next time (the cursors stop at the horizon).
//!
//! Below the horizon, entries are grouped by id (one delivery names every stream it was in) and
//! ordered by id, which is publish order across all streams.

use std::collections::BTreeMap;

use super::StreamId;

/// One stream's part of a read: entries in id order, and whether it hit the read's `COUNT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch<T> {
    /// The entries, oldest first.
    pub entries: Vec<(StreamId, T)>,
    /// The read returned as many entries as it asked for: there may be more.
    pub full: bool,
}

/// One event to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery<T> {
    /// Its id.
    pub id: StreamId,
    /// The indexes of the batches (streams) it was in, ascending.
    pub streams: Vec<usize>,
    /// Its payload (from the first stream it was seen in).
    pub item: T,
}

/// What [`merge`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged<T> {
    /// The deliveries, in id order.
    pub deliveries: Vec<Delivery<T>>,
    /// Per batch, the id to read after next time: its last delivered entry (`None`: unchanged).
    pub cursors: Vec<Option<StreamId>>,
}

/// Merges the parts of one read. See the [module docs](self).
///
/// ```
/// use ssehub::backplane::merge::{merge, Batch};
/// let id = |ms| ssehub::backplane::StreamId { ms, seq: 0 };
/// let a = Batch { entries: vec![(id(1), "x"), (id(3), "both")], full: false };
/// let b = Batch { entries: vec![(id(3), "both"), (id(4), "y")], full: false };
/// let m = merge(vec![a, b]);
/// let got: Vec<_> = m.deliveries.iter().map(|d| (d.id.ms, d.streams.clone(), d.item)).collect();
/// assert_eq!(got, [(1, vec![0], "x"), (3, vec![0, 1], "both"), (4, vec![1], "y")]);
/// ```
pub fn merge<T>(batches: Vec<Batch<T>>) -> Merged<T> {
    let horizon = batches.iter().filter(|b| b.full).filter_map(|b| b.entries.last().map(|e| e.0)).min();
    let mut cursors = vec![None; batches.len()];
    let mut by_id: BTreeMap<StreamId, Delivery<T>> = BTreeMap::new();
    for (index, batch) in batches.into_iter().enumerate() {
        for (id, item) in batch.entries {
            if horizon.is_some_and(|h| id > h) {
                break;
            }
            cursors[index] = Some(id);
            by_id.entry(id).or_insert_with(|| Delivery { id, streams: Vec::new(), item }).streams.push(index);
        }
    }
    Merged { deliveries: by_id.into_values().collect(), cursors }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64) -> StreamId {
        StreamId { ms, seq: 0 }
    }

    fn batch(ids: &[u64], full: bool) -> Batch<u64> {
        Batch { entries: ids.iter().map(|&ms| (id(ms), ms)).collect(), full }
    }

    fn ids(m: &Merged<u64>) -> Vec<u64> {
        m.deliveries.iter().map(|d| d.id.ms).collect()
    }

    #[test]
    fn a_full_part_holds_back_what_other_streams_have_past_it() {
        // Stream 0 hit COUNT at 3: its entries after 3 (say 4, published to both) are unread,
        // so stream 1's 4 and 5 wait for the next read, where 4 comes from both at once.
        let m = merge(vec![batch(&[1, 2, 3], true), batch(&[2, 4, 5], false)]);
        assert_eq!(ids(&m), [1, 2, 3]);
        assert_eq!(m.deliveries[1].streams, [0, 1]);
        assert_eq!(m.cursors, [Some(id(3)), Some(id(2))]);
    }

    #[test]
    fn the_smallest_full_part_sets_the_horizon() {
        let m = merge(vec![batch(&[1, 5], true), batch(&[2, 3], true), batch(&[4], false)]);
        assert_eq!(ids(&m), [1, 2, 3]);
        assert_eq!(m.cursors, [Some(id(1)), Some(id(3)), None]);
    }

    #[test]
    fn nothing_read_changes_nothing() {
        let m = merge(vec![batch(&[], false), batch(&[], true)]);
        assert!(m.deliveries.is_empty());
        assert_eq!(m.cursors, [None, None]);
    }

    #[test]
    fn every_entry_once_in_id_order() {
        let m = merge(vec![batch(&[1, 4, 6], false), batch(&[2, 4], false), batch(&[3, 6], false)]);
        assert_eq!(ids(&m), [1, 2, 3, 4, 6]);
        assert_eq!(m.deliveries[3].streams, [0, 1]);
        assert_eq!(m.deliveries[4].streams, [0, 2]);
    }
}
