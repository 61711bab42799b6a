//! HPACK's indexing tables (RFC 7541 §2.3, §4 and Appendix A).
//!
//! A header field can be sent as an index into one address space made of two tables:
//!
//! ```text
//!   1 ..= 61              62 ..= 61 + k
//! +---------------------+------------------------------------+
//! | static table (fixed) | dynamic table: newest ... oldest  |
//! +---------------------+------------------------------------+
//!                          ^ insertion point     dropping point ^
//! ```
//!
//! The static table is the RFC's list of common fields (many with an empty value, to index the
//! name only). The dynamic table is per direction of a connection: both ends add the same fields
//! in the same order (a literal "with incremental indexing" adds one), and both evict the oldest
//! entries when its *size* would exceed its maximum. An entry's size is its name's and value's
//! octets plus 32 (RFC 7541 §4.1, an estimate of per-entry overhead); the maximum is set by
//! the decoder side's `SETTINGS_HEADER_TABLE_SIZE` and lowered by the encoder with a dynamic
//! table size update. Encoder and decoder each own one [`DynamicTable`].

use std::collections::VecDeque;

/// RFC 7541 Appendix A: the static table, index 1 first.
pub const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// The octets an entry counts for in a table's size: name, value, and 32 (RFC 7541 §4.1).
pub fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len().saturating_add(value.len()).saturating_add(32)
}

/// The dynamic table of one direction of a connection.
///
/// ```
/// use ssehub::h2::hpack::DynamicTable;
///
/// let mut table = DynamicTable::new(100);
/// table.insert(b"custom-key", b"custom-header"); // 10 + 13 + 32 = 55 octets
/// assert_eq!((table.len(), table.size()), (1, 55));
/// table.insert(b"a", b"b"); // 34 more: 89 in all
/// assert_eq!(table.get(0), Some((&b"a"[..], &b"b"[..])), "the newest entry comes first");
/// table.insert(b"c", b"d"); // 123 would exceed 100: the oldest entry goes
/// assert_eq!((table.len(), table.size()), (2, 68));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynamicTable {
    /// Newest first.
    entries: VecDeque<Entry>,
    /// The sum of the entries' sizes.
    size: usize,
    /// The most `size` may be.
    max_size: usize,
}

/// One entry: name and value in one allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    bytes: Box<[u8]>,
    name_len: usize,
}

impl Entry {
    fn field(&self) -> (&[u8], &[u8]) {
        self.bytes.split_at_checked(self.name_len).unwrap_or((&self.bytes, &[]))
    }

    fn size(&self) -> usize {
        self.bytes.len().saturating_add(32)
    }
}

impl DynamicTable {
    /// An empty table that may grow to `max_size` octets.
    pub fn new(max_size: usize) -> DynamicTable {
        DynamicTable { entries: VecDeque::new(), size: 0, max_size }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The table's size in the RFC's accounting (entries' octets plus 32 each).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The most the size may be.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The entry `i` places from the newest (0 is the newest), as (name, value).
    pub fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.entries.get(i).map(Entry::field)
    }

    /// The entries, newest first.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries.iter().map(Entry::field)
    }

    /// Adds a field as the newest entry, evicting the oldest ones until it fits (RFC 7541 §4.4).
    /// A field larger than the maximum size empties the table and is not added: that is not an
    /// error.
    pub fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = entry_size(name, value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        let mut bytes = Vec::with_capacity(name.len() + value.len());
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(value);
        self.entries.push_front(Entry { bytes: bytes.into_boxed_slice(), name_len: name.len() });
        self.size += size;
    }

    /// Sets the maximum size, evicting the oldest entries until the table fits (RFC 7541 §4.3).
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    fn evict_to(&mut self, size: usize) {
        while self.size > size {
            let Some(oldest) = self.entries.pop_back() else { break };
            self.size = self.size.saturating_sub(oldest.size());
        }
    }
}

/// The field at `index` in the address space of both tables (1-based; static first).
pub(crate) fn field(dynamic: &DynamicTable, index: usize) -> Option<(&[u8], &[u8])> {
    match index {
        0 => None,
        1..=61 => STATIC_TABLE.get(index - 1).copied(),
        _ => dynamic.get(index - 62),
    }
}

/// What the tables hold of a field, best first, for an encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Name and value, at this index.
    Field(usize),
    /// The name only, at this index.
    Name(usize),
    /// Nothing.
    None,
}

/// The static table's indices (1-based, ascending) by name length: RFC 7541 Appendix A's
/// names are 3 to 27 octets, at most 14 of one length. An encoder looks up each field of each
/// response, so it compares only the names that could match instead of all 61 (built at
/// compile time: a table that outgrows it fails the build).
const BY_LEN: [[u8; 16]; 28] = {
    let mut by_len = [[0u8; 16]; 28];
    let mut filled = [0usize; 28];
    let mut i = 0;
    while i < STATIC_TABLE.len() {
        let len = STATIC_TABLE[i].0.len();
        by_len[len][filled[len]] = (i + 1) as u8;
        filled[len] += 1;
        i += 1;
    }
    by_len
};

/// The static table's name that equals `name` but for ASCII case (HTTP/2 sends names in
/// lowercase: `Content-Type` goes out as the table's `content-type`, with nothing copied).
pub(crate) fn static_name(name: &[u8]) -> Option<&'static [u8]> {
    let same_length = BY_LEN.get(name.len())?;
    same_length
        .iter()
        .take_while(|&&i| i != 0)
        .filter_map(|&i| STATIC_TABLE.get(usize::from(i) - 1))
        .map(|&(n, _)| n)
        .find(|n| n.eq_ignore_ascii_case(name))
}

/// Looks a field up in both tables: the static table first (its indices never change), and
/// the lowest index for each kind of match.
pub(crate) fn find(dynamic: &DynamicTable, name: &[u8], value: &[u8]) -> Found {
    let mut found = Found::None;
    let same_length = BY_LEN.get(name.len()).map_or(&[][..], |b| &b[..]);
    let static_entries = same_length
        .iter()
        .take_while(|&&i| i != 0)
        .filter_map(|&i| STATIC_TABLE.get(usize::from(i) - 1).map(|&f| (usize::from(i), f)));
    let dynamic_entries = dynamic.iter().enumerate().map(|(i, f)| (i + 62, f));
    for (index, (n, v)) in static_entries.chain(dynamic_entries) {
        if n == name {
            if v == value {
                return Found::Field(index);
            }
            if found == Found::None {
                found = Found::Name(index);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_table_matches_appendix_a() {
        assert_eq!(STATIC_TABLE.len(), 61);
        assert_eq!(field(&DynamicTable::new(0), 1), Some((&b":authority"[..], &b""[..])));
        assert_eq!(field(&DynamicTable::new(0), 8), Some((&b":status"[..], &b"200"[..])));
        assert_eq!(field(&DynamicTable::new(0), 16), Some((&b"accept-encoding"[..], &b"gzip, deflate"[..])));
        assert_eq!(field(&DynamicTable::new(0), 61), Some((&b"www-authenticate"[..], &b""[..])));
        // Only indices 2-14 and 16 have values.
        for (i, (name, value)) in STATIC_TABLE.iter().enumerate() {
            let index = i + 1;
            assert_eq!(!value.is_empty(), (2..=14).contains(&index) || index == 16, "{index}");
            assert!(name.iter().all(|b| !b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn index_0_and_indices_past_the_tables_are_nothing() {
        let mut table = DynamicTable::new(4096);
        assert_eq!(field(&table, 0), None);
        assert_eq!(field(&table, 62), None);
        table.insert(b"a", b"b");
        assert_eq!(field(&table, 62), Some((&b"a"[..], &b"b"[..])));
        assert_eq!(field(&table, 63), None);
        assert_eq!(field(&table, usize::MAX), None);
    }

    #[test]
    fn entries_count_32_octets_of_overhead() {
        assert_eq!(entry_size(b"custom-key", b"custom-header"), 55);
        assert_eq!(entry_size(b"", b""), 32);
        let mut table = DynamicTable::new(4096);
        table.insert(b":authority", b"www.example.com");
        assert_eq!(table.size(), 57);
    }

    #[test]
    fn the_oldest_entries_are_evicted_first() {
        let mut table = DynamicTable::new(3 * 34);
        for name in [b"a", b"b", b"c", b"d"] {
            table.insert(name, b"x");
        }
        assert_eq!(table.iter().map(|(n, _)| n).collect::<Vec<_>>(), [b"d", b"c", b"b"]);
        assert_eq!(table.size(), 102);
    }

    #[test]
    fn an_entry_exactly_the_maximum_fills_the_table() {
        let mut table = DynamicTable::new(40);
        table.insert(b"a", b"b");
        table.insert(b"1234", b"5678");
        assert_eq!((table.len(), table.size()), (1, 40));
    }

    #[test]
    fn an_entry_larger_than_the_maximum_empties_the_table() {
        let mut table = DynamicTable::new(40);
        table.insert(b"a", b"b");
        table.insert(b"12345", b"6789");
        assert!(table.is_empty());
        assert_eq!(table.size(), 0);
    }

    #[test]
    fn lowering_the_maximum_evicts_and_zero_empties() {
        let mut table = DynamicTable::new(4096);
        table.insert(b"a", b"1");
        table.insert(b"b", b"2");
        table.set_max_size(40);
        assert_eq!(table.iter().collect::<Vec<_>>(), [(&b"b"[..], &b"2"[..])]);
        table.set_max_size(0);
        assert!(table.is_empty());
        table.insert(b"c", b"3");
        assert!(table.is_empty(), "nothing fits a table of size 0");
    }

    #[test]
    fn find_prefers_full_matches_then_the_lowest_index() {
        let mut table = DynamicTable::new(4096);
        assert_eq!(find(&table, b":status", b"200"), Found::Field(8));
        assert_eq!(find(&table, b":status", b"302"), Found::Name(8));
        assert_eq!(find(&table, b"x-custom", b"1"), Found::None);
        table.insert(b":status", b"302");
        table.insert(b"x-custom", b"1");
        assert_eq!(find(&table, b":status", b"302"), Found::Field(63));
        assert_eq!(find(&table, b"x-custom", b"2"), Found::Name(62));
        assert_eq!(find(&table, b"x-custom", b"1"), Found::Field(62));
    }

    /// The lookup by name length finds what a search of every entry finds.
    #[test]
    fn find_agrees_with_a_search_of_every_entry() {
        fn naive(dynamic: &DynamicTable, name: &[u8], value: &[u8]) -> Found {
            let mut found = Found::None;
            let all = STATIC_TABLE.iter().copied().chain(dynamic.iter());
            for (i, (n, v)) in all.enumerate() {
                if n == name {
                    if v == value {
                        return Found::Field(i + 1);
                    }
                    if found == Found::None {
                        found = Found::Name(i + 1);
                    }
                }
            }
            found
        }
        let mut table = DynamicTable::new(4096);
        table.insert(b"content-type", b"application/json");
        table.insert(b":status", b"201");
        table.insert(b"x-a-name-longer-than-any-static-one", b"v");
        let mut probes: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (n, v) in STATIC_TABLE.iter().chain(table.iter().collect::<Vec<_>>().iter()) {
            probes.push((n.to_vec(), v.to_vec()));
            probes.push((n.to_vec(), b"other".to_vec()));
            let mut near = n.to_vec();
            near[0] ^= 1;
            probes.push((near, v.to_vec()));
        }
        probes.extend([
            (Vec::new(), Vec::new()),
            (vec![b'a'; 27], Vec::new()),
            (vec![b'a'; 100], Vec::new()),
        ]);
        for (n, v) in &probes {
            assert_eq!(find(&table, n, v), naive(&table, n, v), "{:?}", String::from_utf8_lossy(n));
        }
    }

    #[test]
    fn static_names_are_found_whatever_their_case() {
        assert_eq!(static_name(b"Content-Type"), Some(&b"content-type"[..]));
        assert_eq!(static_name(b"WWW-AUTHENTICATE"), Some(&b"www-authenticate"[..]));
        assert_eq!(static_name(b"retry-after"), Some(&b"retry-after"[..]));
        assert_eq!(static_name(b"X-Accel-Buffering"), None);
        assert_eq!(static_name(&[b'a'; 100]), None);
        assert_eq!(static_name(b""), None);
    }
}
