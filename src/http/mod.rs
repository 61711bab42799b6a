//! HTTP/1.1 on the server side, as pure functions over bytes.
//!
//! ```text
//! bytes ─► request::parse_head ─► Request ─► route::route ─► Decision ─► response::*  ─► bytes
//! ```
//! No sockets here: the mio driver in `server` hands these functions the bytes it read and
//! writes the bytes they return.

pub mod answer;
pub(crate) mod json;
pub mod request;
pub mod response;
pub mod route;
pub mod status;

pub use request::{Head, Limits, NotUtf8, Request, Version};
pub use response::{Framing, Response};
pub use route::{AllowOrigins, Cors, Decision, PathPattern, RouteConfig};
