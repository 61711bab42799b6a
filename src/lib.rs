//! # ssehub
//!
//! A Server-Sent Events server written from scratch on raw TCP, and an event-stream codec exact
//! to the WHATWG HTML rules.
//!
//! ## The data flow
//! ```text
//! app ─► Event ─► encode (once) ─► bytes ─► per-connection queues ─► vectored write ─► socket
//! socket ─► Decoder (the `decode` CLI, the load generator) ─► Item::Event / Item::Retry
//! ```
//! Everything in this crate outside `server` is pure: bytes and values in, bytes and values out,
//! no sockets, no clocks, no threads.
//!
//! ## The codec in a few lines
//! ```
//! use ssehub::{Decoder, Event, Item};
//!
//! let mut wire = Vec::new();
//! ssehub::encode(&Event::new("hello\nworld").event("greeting").id("1"), &mut wire)?;
//!
//! let mut dec = Decoder::new();
//! dec.feed(&wire, |item| {
//!     if let Item::Event(ev) = item {
//!         assert_eq!((ev.event_type, ev.data, ev.last_event_id), ("greeting", "hello\nworld", "1"));
//!     }
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "jwt")]
pub mod auth;
#[cfg(feature = "redis")]
pub mod backplane;
pub mod error;
pub mod event;
pub mod frame;
pub mod http;
pub mod hub;
pub mod proto;
pub mod server;

pub use error::{DecodeError, EncodeError};
pub use event::Event;
pub use frame::decode::{DEFAULT_MAX_SIZE, Decoder, Item, MessageEvent, OwnedItem};
pub use frame::encode::{encode, encode_comment, encoded_len};
pub use http::{Cors, Request, Response};
pub use server::{
    Broadcaster, Client, Config, PublishError, RedisConfig, SendError, Server, ServerBuilder, ServerError,
    ShutdownHandle,
};
