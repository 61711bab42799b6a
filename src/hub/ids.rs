//! Event ids the hub gives out, and what a `Last-Event-ID` sent back means.
//!
//! A hub numbers its publishes `1, 2, 3, ...` (its sequence numbers). The id an event without
//! an application id carries is not that number but `origin + seq`, where the origin is fixed
//! when the hub starts: by default the wall clock in milliseconds times 10⁶. So
//!
//! - ids never repeat across restarts: a later incarnation starts above every id an earlier one
//!   could have given out, unless it published more than 10⁶ events per millisecond of its life
//!   (a billion a second) or the clock was set back between the two;
//! - a `Last-Event-ID` tells which incarnation gave it out. One from this incarnation names a
//!   sequence number, so a resume needs no search ([`IdScheme::classify`]); one from an earlier
//!   incarnation (or one from the future, which only a made-up id or a clock set back can be)
//!   cannot be placed in the logs, and the client is told it missed events (`gap`).
//!
//! Ids stay plain decimal numbers (`1764620400123000042`): they sort as they were given out.

/// How the hub turns sequence numbers into ids. See the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdScheme {
    origin: u64,
}

/// What a `Last-Event-ID` is, for a hub whose newest sequence number is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdClass {
    /// An id this incarnation gave out: the event numbered so.
    Ours(u64),
    /// A number beyond the newest id: from a later incarnation (clock set back) or made up.
    Future,
    /// Anything else: from an earlier incarnation, or an application's own id.
    Other,
}

/// Sequence numbers an origin leaves room for per millisecond of clock.
const PER_MS: u64 = 1_000_000;

impl IdScheme {
    /// Ids `origin + seq`. `IdScheme::with_origin(0)` numbers events `1, 2, 3...`.
    pub const fn with_origin(origin: u64) -> IdScheme {
        IdScheme { origin }
    }

    /// The scheme of a hub started at `unix_ms` milliseconds after the UNIX epoch.
    ///
    /// ```
    /// use ssehub::hub::ids::IdScheme;
    /// let ids = IdScheme::started_at(1_764_620_400_123);
    /// assert_eq!(ids.id(42), "1764620400123000042");
    /// ```
    pub fn started_at(unix_ms: u64) -> IdScheme {
        // Saturates far past any real clock (the year 2554).
        IdScheme { origin: unix_ms.saturating_mul(PER_MS) }
    }

    /// The scheme of a hub starting now (by the system clock).
    pub fn from_clock() -> IdScheme {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        IdScheme::started_at(ms)
    }

    /// The origin: ids are `origin + seq`.
    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// The id of the event numbered `seq`.
    pub fn id(&self, seq: u64) -> String {
        self.origin.saturating_add(seq).to_string()
    }

    /// What `id` is to a hub whose newest sequence number is `newest`.
    ///
    /// ```
    /// use ssehub::hub::ids::{IdClass, IdScheme};
    /// let ids = IdScheme::with_origin(1000);
    /// assert_eq!(ids.classify("1007", 9), IdClass::Ours(7));
    /// assert_eq!(ids.classify("1010", 9), IdClass::Future);
    /// assert_eq!(ids.classify("999", 9), IdClass::Other);    // an earlier incarnation's
    /// assert_eq!(ids.classify("+1007", 9), IdClass::Other);  // only what we write is ours
    /// ```
    pub fn classify(&self, id: &str, newest: u64) -> IdClass {
        if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return IdClass::Other;
        }
        // Leading zeros are never written: "0012" is not the id "12".
        if id.len() > 1 && id.starts_with('0') {
            return IdClass::Other;
        }
        let Ok(n) = id.parse::<u64>() else { return IdClass::Other };
        match n.checked_sub(self.origin) {
            Some(0) | None => IdClass::Other,
            Some(seq) if seq <= newest => IdClass::Ours(seq),
            Some(_) => IdClass::Future,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_start_gives_ids_above_every_earlier_one() {
        let first = IdScheme::started_at(1_000);
        let second = IdScheme::started_at(1_001);
        // A millisecond later leaves room for a million publishes.
        assert!(first.id(PER_MS - 1).parse::<u64>().unwrap() < second.id(1).parse::<u64>().unwrap());
        assert_eq!(second.classify(&first.id(5), 10), IdClass::Other);
        assert_eq!(first.classify(&second.id(5), 10), IdClass::Future);
    }

    #[test]
    fn only_canonical_numbers_are_ours() {
        let ids = IdScheme::with_origin(0);
        assert_eq!(ids.classify("3", 3), IdClass::Ours(3));
        for other in
            ["", "0", "03", " 3", "3 ", "-3", "3.0", "99999999999999999999999", "18446744073709551616"]
        {
            assert_eq!(ids.classify(other, 3), IdClass::Other, "{other:?}");
        }
        assert_eq!(ids.classify("4", 3), IdClass::Future);
        assert_eq!(ids.classify("18446744073709551615", 3), IdClass::Future);
    }

    #[test]
    fn the_origin_saturates_instead_of_overflowing() {
        let ids = IdScheme::started_at(u64::MAX);
        assert_eq!(ids.id(5), u64::MAX.to_string());
    }
}
