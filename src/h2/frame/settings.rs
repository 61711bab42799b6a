//! `SETTINGS` parameters (RFC 9113 §6.5).
//!
//! A `SETTINGS` payload is a list of 6-octet parameters, each a 16-bit identifier and a 32-bit
//! value; the list is applied in order (a repeated identifier: the last one wins). Each endpoint
//! announces its own settings at the start of the connection and whenever it changes them, and
//! acknowledges each of the peer's with an empty `SETTINGS` frame carrying the `ACK` flag.
//!
//! ```text
//! +-------------------------------+
//! |       Identifier (16)         |
//! +-------------------------------+-------------------------------+
//! |                        Value (32)                             |
//! +---------------------------------------------------------------+
//! ```
//!
//! The decoder checks the three values §6.5.2 constrains (`ENABLE_PUSH`,
//! `INITIAL_WINDOW_SIZE`, `MAX_FRAME_SIZE`) before the frame is handed out, so a [`Settings`]
//! that exists is valid; unknown identifiers are allowed and must be ignored.
//! [`SettingsValues`] holds one endpoint's current values, starting from the RFC's initial ones.

use super::error::Violation;
use crate::h2::{DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT, MAX_WINDOW_SIZE};

/// `SETTINGS_HEADER_TABLE_SIZE` (0x1).
pub const HEADER_TABLE_SIZE: u16 = 0x1;
/// `SETTINGS_ENABLE_PUSH` (0x2).
pub const ENABLE_PUSH: u16 = 0x2;
/// `SETTINGS_MAX_CONCURRENT_STREAMS` (0x3).
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// `SETTINGS_INITIAL_WINDOW_SIZE` (0x4).
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
/// `SETTINGS_MAX_FRAME_SIZE` (0x5).
pub const MAX_FRAME_SIZE: u16 = 0x5;
/// `SETTINGS_MAX_HEADER_LIST_SIZE` (0x6).
pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// One `SETTINGS` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// The most HPACK dynamic table the sender's decoder will keep, in octets.
    HeaderTableSize(u32),
    /// Whether the sender (a client) accepts server push.
    EnablePush(bool),
    /// The most streams the sender lets its peer have open at once.
    MaxConcurrentStreams(u32),
    /// The sender's initial flow-control window for every stream, in octets.
    InitialWindowSize(u32),
    /// The largest frame payload the sender accepts, in octets.
    MaxFrameSize(u32),
    /// The largest header list the sender accepts (advisory; see RFC 9113 §6.5.2).
    MaxHeaderListSize(u32),
    /// An identifier this implementation does not know: to be ignored (RFC 9113 §6.5.2).
    Unknown {
        /// The identifier.
        id: u16,
        /// The value.
        value: u32,
    },
}

impl Setting {
    /// Reads one parameter, refusing the values RFC 9113 §6.5.2 forbids.
    ///
    /// ```
    /// use ssehub::h2::frame::{Setting, Violation};
    ///
    /// assert_eq!(Setting::from_wire(0x5, 16_384), Ok(Setting::MaxFrameSize(16_384)));
    /// assert_eq!(Setting::from_wire(0x2, 2), Err(Violation::InvalidEnablePush(2)));
    /// assert_eq!(Setting::from_wire(0x99, 7), Ok(Setting::Unknown { id: 0x99, value: 7 }));
    /// ```
    pub fn from_wire(id: u16, value: u32) -> Result<Setting, Violation> {
        Ok(match id {
            HEADER_TABLE_SIZE => Setting::HeaderTableSize(value),
            ENABLE_PUSH => match value {
                0 => Setting::EnablePush(false),
                1 => Setting::EnablePush(true),
                _ => return Err(Violation::InvalidEnablePush(value)),
            },
            MAX_CONCURRENT_STREAMS => Setting::MaxConcurrentStreams(value),
            INITIAL_WINDOW_SIZE if value > MAX_WINDOW_SIZE => {
                return Err(Violation::InitialWindowTooLarge(value));
            }
            INITIAL_WINDOW_SIZE => Setting::InitialWindowSize(value),
            MAX_FRAME_SIZE if !(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&value) => {
                return Err(Violation::InvalidMaxFrameSize(value));
            }
            MAX_FRAME_SIZE => Setting::MaxFrameSize(value),
            MAX_HEADER_LIST_SIZE => Setting::MaxHeaderListSize(value),
            id => Setting::Unknown { id, value },
        })
    }

    /// The identifier.
    pub fn id(&self) -> u16 {
        match *self {
            Setting::HeaderTableSize(_) => HEADER_TABLE_SIZE,
            Setting::EnablePush(_) => ENABLE_PUSH,
            Setting::MaxConcurrentStreams(_) => MAX_CONCURRENT_STREAMS,
            Setting::InitialWindowSize(_) => INITIAL_WINDOW_SIZE,
            Setting::MaxFrameSize(_) => MAX_FRAME_SIZE,
            Setting::MaxHeaderListSize(_) => MAX_HEADER_LIST_SIZE,
            Setting::Unknown { id, .. } => id,
        }
    }

    /// The value as sent on the wire.
    pub fn value(&self) -> u32 {
        match *self {
            Setting::EnablePush(on) => u32::from(on),
            Setting::HeaderTableSize(v)
            | Setting::MaxConcurrentStreams(v)
            | Setting::InitialWindowSize(v)
            | Setting::MaxFrameSize(v)
            | Setting::MaxHeaderListSize(v)
            | Setting::Unknown { value: v, .. } => v,
        }
    }

    /// The 6 octets of this parameter.
    pub fn encode(&self) -> [u8; 6] {
        let id = self.id().to_be_bytes();
        let value = self.value().to_be_bytes();
        [id[0], id[1], value[0], value[1], value[2], value[3]]
    }
}

/// A decoded `SETTINGS` frame: an acknowledgement, or a validated list of parameters.
///
/// It borrows the payload; [`Settings::iter`] reads the parameters in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<'a> {
    /// The `ACK` flag: this frame acknowledges the peer's settings (and has no parameters).
    pub ack: bool,
    /// The payload, whose length is a multiple of 6 and whose values are all valid.
    payload: &'a [u8],
}

impl<'a> Settings<'a> {
    /// Checks a `SETTINGS` payload (its length was checked by the decoder).
    pub(super) fn parse(ack: bool, payload: &'a [u8]) -> Result<Settings<'a>, Violation> {
        for pair in payload.chunks_exact(6) {
            let (id, value) = read_pair(pair);
            Setting::from_wire(id, value)?;
        }
        Ok(Settings { ack, payload })
    }

    /// The parameters, in the order sent (unknown ones included, as [`Setting::Unknown`]).
    pub fn iter(&self) -> SettingsIter<'a> {
        SettingsIter { pairs: self.payload.chunks_exact(6) }
    }

    /// The raw payload (a multiple of 6 octets).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

fn read_pair(pair: &[u8]) -> (u16, u32) {
    match *pair {
        [a, b, c, d, e, f] => (u16::from_be_bytes([a, b]), u32::from_be_bytes([c, d, e, f])),
        _ => (0, 0),
    }
}

/// The parameters of a [`Settings`] frame, in order.
#[derive(Clone, Debug)]
pub struct SettingsIter<'a> {
    pairs: core::slice::ChunksExact<'a, u8>,
}

impl Iterator for SettingsIter<'_> {
    type Item = Setting;

    fn next(&mut self) -> Option<Setting> {
        for pair in self.pairs.by_ref() {
            let (id, value) = read_pair(pair);
            // Every pair was validated when the frame was decoded, so none is skipped here.
            if let Ok(setting) = Setting::from_wire(id, value) {
                return Some(setting);
            }
        }
        None
    }
}

/// One endpoint's settings, as the RFC defines them before any `SETTINGS` frame is applied.
///
/// ```
/// use ssehub::h2::frame::{self, Frame, SettingsValues};
///
/// let mut wire = Vec::new();
/// frame::encode_settings(&[frame::Setting::InitialWindowSize(1 << 20)], &mut wire);
/// let Some((Frame::Settings(settings), _)) = frame::decode(&wire, 16_384)? else { panic!() };
/// let mut peer = SettingsValues::default();
/// peer.apply(&settings);
/// assert_eq!(peer.initial_window_size, 1 << 20);
/// assert_eq!(peer.max_frame_size, 16_384);
/// # Ok::<(), ssehub::h2::frame::FrameError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingsValues {
    /// `SETTINGS_HEADER_TABLE_SIZE` (initially 4,096).
    pub header_table_size: u32,
    /// `SETTINGS_ENABLE_PUSH` (initially on).
    pub enable_push: bool,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (initially unlimited: `None`).
    pub max_concurrent_streams: Option<u32>,
    /// `SETTINGS_INITIAL_WINDOW_SIZE` (initially 65,535).
    pub initial_window_size: u32,
    /// `SETTINGS_MAX_FRAME_SIZE` (initially 16,384).
    pub max_frame_size: u32,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE` (initially unlimited: `None`).
    pub max_header_list_size: Option<u32>,
}

impl Default for SettingsValues {
    fn default() -> SettingsValues {
        SettingsValues {
            header_table_size: crate::h2::DEFAULT_HEADER_TABLE_SIZE as u32,
            enable_push: true,
            max_concurrent_streams: None,
            initial_window_size: DEFAULT_INITIAL_WINDOW_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
        }
    }
}

impl SettingsValues {
    /// Applies one parameter; unknown ones are ignored.
    pub fn set(&mut self, setting: Setting) {
        match setting {
            Setting::HeaderTableSize(v) => self.header_table_size = v,
            Setting::EnablePush(on) => self.enable_push = on,
            Setting::MaxConcurrentStreams(v) => self.max_concurrent_streams = Some(v),
            Setting::InitialWindowSize(v) => self.initial_window_size = v,
            Setting::MaxFrameSize(v) => self.max_frame_size = v,
            Setting::MaxHeaderListSize(v) => self.max_header_list_size = Some(v),
            Setting::Unknown { .. } => {}
        }
    }

    /// Applies every parameter of a frame, in order.
    pub fn apply(&mut self, settings: &Settings<'_>) {
        for setting in settings.iter() {
            self.set(setting);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_push_must_be_0_or_1() {
        assert_eq!(Setting::from_wire(ENABLE_PUSH, 0), Ok(Setting::EnablePush(false)));
        assert_eq!(Setting::from_wire(ENABLE_PUSH, 1), Ok(Setting::EnablePush(true)));
        assert_eq!(Setting::from_wire(ENABLE_PUSH, 2), Err(Violation::InvalidEnablePush(2)));
        assert_eq!(Setting::from_wire(ENABLE_PUSH, u32::MAX), Err(Violation::InvalidEnablePush(u32::MAX)));
    }

    #[test]
    fn initial_window_size_is_at_most_2_pow_31_minus_1() {
        assert_eq!(
            Setting::from_wire(INITIAL_WINDOW_SIZE, MAX_WINDOW_SIZE),
            Ok(Setting::InitialWindowSize(MAX_WINDOW_SIZE))
        );
        assert_eq!(Setting::from_wire(INITIAL_WINDOW_SIZE, 0), Ok(Setting::InitialWindowSize(0)));
        assert_eq!(
            Setting::from_wire(INITIAL_WINDOW_SIZE, MAX_WINDOW_SIZE + 1),
            Err(Violation::InitialWindowTooLarge(MAX_WINDOW_SIZE + 1))
        );
    }

    #[test]
    fn max_frame_size_is_between_2_pow_14_and_2_pow_24_minus_1() {
        for ok in [16_384, 16_385, MAX_FRAME_SIZE_LIMIT] {
            assert_eq!(Setting::from_wire(MAX_FRAME_SIZE, ok), Ok(Setting::MaxFrameSize(ok)));
        }
        for bad in [0, 16_383, MAX_FRAME_SIZE_LIMIT + 1, u32::MAX] {
            assert_eq!(Setting::from_wire(MAX_FRAME_SIZE, bad), Err(Violation::InvalidMaxFrameSize(bad)));
        }
    }

    #[test]
    fn other_values_are_not_constrained() {
        assert_eq!(Setting::from_wire(HEADER_TABLE_SIZE, u32::MAX), Ok(Setting::HeaderTableSize(u32::MAX)));
        assert_eq!(Setting::from_wire(MAX_CONCURRENT_STREAMS, 0), Ok(Setting::MaxConcurrentStreams(0)));
        assert_eq!(Setting::from_wire(MAX_HEADER_LIST_SIZE, 0), Ok(Setting::MaxHeaderListSize(0)));
        assert_eq!(Setting::from_wire(0, 5), Ok(Setting::Unknown { id: 0, value: 5 }));
    }

    #[test]
    fn parameters_encode_as_id_then_value() {
        assert_eq!(Setting::MaxFrameSize(0x0001_0000).encode(), [0, 5, 0, 1, 0, 0]);
        assert_eq!(Setting::EnablePush(true).encode(), [0, 2, 0, 0, 0, 1]);
        assert_eq!(Setting::Unknown { id: 0xabcd, value: 9 }.encode(), [0xab, 0xcd, 0, 0, 0, 9]);
    }

    #[test]
    fn a_frame_with_one_bad_value_is_refused_whole() {
        let mut payload = Vec::new();
        payload.extend(Setting::MaxConcurrentStreams(100).encode());
        payload.extend([0, 4, 0x80, 0, 0, 0]);
        assert_eq!(Settings::parse(false, &payload), Err(Violation::InitialWindowTooLarge(1 << 31)));
    }

    #[test]
    fn values_apply_in_order_and_unknown_ones_are_ignored() {
        let mut payload = Vec::new();
        for s in [
            Setting::InitialWindowSize(10),
            Setting::Unknown { id: 0x77, value: 1 },
            Setting::InitialWindowSize(20),
            Setting::MaxConcurrentStreams(5),
            Setting::EnablePush(false),
            Setting::HeaderTableSize(0),
            Setting::MaxFrameSize(20_000),
            Setting::MaxHeaderListSize(8_192),
        ] {
            payload.extend(s.encode());
        }
        let settings = Settings::parse(false, &payload).unwrap();
        assert_eq!(settings.iter().count(), 8);
        let mut values = SettingsValues::default();
        values.apply(&settings);
        assert_eq!(
            values,
            SettingsValues {
                header_table_size: 0,
                enable_push: false,
                max_concurrent_streams: Some(5),
                initial_window_size: 20,
                max_frame_size: 20_000,
                max_header_list_size: Some(8_192),
            }
        );
    }
}
