//! The event-stream codec: [`encode`](encode::encode) events to bytes, [`Decoder`](decode::Decoder)
//! bytes back to events. Pure code over byte slices, shared by the server (encoding), the
//! `decode` command and the load generator (decoding).

pub mod decode;
pub mod encode;
