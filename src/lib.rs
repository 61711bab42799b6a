//! # ssehub
//!
//! A Server-Sent Events server written from scratch on raw TCP, and an event-stream codec exact
//! to the WHATWG HTML rules (restated, with the tags the tests cite, in
//! `docs/event-stream-rules.md`).
//!
//! ## The data flow
//! ```text
//! socket ─► [TLS] ─► HTTP/1.1 or HTTP/2 ─► Request ─► route ─► a stream, an answer, a refusal
//! app ─► Event ─► encode (once) ─► bytes ─► per-stream queues ─► vectored write ─► socket
//! socket ─► Decoder (the `decode` CLI, the load generator) ─► Item::Event / Item::Retry
//! ```
//!
//! ## Two layers
//! - **The server**, at the crate root: [`Server`] and its [`ServerBuilder`] ([`Config`] for
//!   every bound), the handles [`Client`] and [`Broadcaster`], [`Event`], and the errors. This is
//!   what most applications use.
//! - **The sans-IO toolkit** underneath, public on purpose for people who build their own event
//!   loop, fuzz a parser, or study how it works: [`frame`] (the codec and the shared [`Frame`]),
//!   [`http`] (request heads, routing, responses), [`proto`] (one connection's state machine,
//!   with its timers, as a value: bytes and instants in, bytes and deadlines out; the TLS glue;
//!   which protocol a socket speaks), [`h2`] (HTTP/2: the frame codec, HPACK, and the
//!   connection and stream state machines, driven like [`proto`]'s), [`auth`] (channel patterns,
//!   grants, the authorization policy and JWT verification), [`hub`] (channels, ids, replay
//!   logs, presence) and, with the `redis` feature, `backplane` (the Redis Streams protocol as
//!   pure functions). None of it touches a socket, a clock or a thread; the server
//!   module is the only shell around it.
//!
//! ## Where it runs
//! - **Its own server**: [`ServerBuilder::bind`] an address.
//! - **A listener you hand in**: [`ServerBuilder::listen_on`] (or
//!   [`listen_on_all`](ServerBuilder::listen_on_all)) a bound `std::net::TcpListener`, for a
//!   supervisor that owns the port; `ssehub serve` does systemd socket activation this way.
//! - **A hand-off**: [`Server::adopt`] one connection that the application's own accept loop
//!   took, with the bytes it already read; ssehub answers that request and owns the connection
//!   from then on ([`ServerBuilder::adopt_only`] when ssehub needs no port at all).
//! - **axum**: the `ssehub-axum` crate, for an axum application that keeps its own TLS, HTTP/2 and
//!   middleware.
//!
//! The first three are one server with the same settings, callbacks and limits. Pick `bind`
//! unless something else owns the port (`listen_on`) or the accept loop (`adopt`); the README's
//! "Where ssehub runs" says more.
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

pub mod auth;
#[cfg(feature = "redis")]
pub mod backplane;
pub mod error;
pub mod event;
pub mod frame;
pub mod h2;
pub mod http;
pub mod hub;
pub mod proto;
#[cfg(feature = "redis")]
mod redact;
pub mod server;

pub use error::{DecodeError, EncodeError};
pub use event::Event;
pub use frame::decode::{DEFAULT_MAX_SIZE, Decoder, Item, MessageEvent, OwnedItem};
pub use frame::encode::{encode, encode_comment, encoded_len};
pub use http::{AllowOrigins, Cors, Framing, Limits, PathPattern, Request, Response, RouteConfig, Version};
pub use hub::{Published, Retention, Target};
pub use proto::Frame;
pub use server::{
    AdoptError, Adopter, Broadcaster, Client, Config, CountedStream, PublishError, Receipt, RedisConfig,
    SendError, Server, ServerBuilder, ServerError, ShutdownHandle, Stats, Unavailable, WorkerStats,
};

/// What the README promises: the handles and the server can be shared with other threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Server>();
    send_sync::<Broadcaster>();
    send_sync::<Client>();
    send_sync::<ShutdownHandle>();
    send_sync::<Frame>();
    send_sync::<Event>();
    send_sync::<ServerError>();
    send_sync::<PublishError>();
    send_sync::<SendError>();
};

/// The README's Rust examples, compiled (and run where they need no server) as doctests, so
/// the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
