//! The event-stream codec: [`encode`](encode::encode) events to bytes, [`Decoder`](decode::Decoder)
//! bytes back to events, and the [`Frame`] an encoded event is shared as. Pure code over byte
//! slices, shared by the server (encoding), the `decode` command and the load generator
//! (decoding).

pub mod decode;
pub mod encode;
pub mod shared;

pub use shared::Frame;
