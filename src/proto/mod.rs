//! Sans-IO connection machinery: the state of one connection and its output queue.
//!
//! The mio driver in `server` owns sockets and clocks; everything it decides with lives here and
//! takes bytes and instants as values, so it is tested and fuzzed without a network.

pub mod coalesce;
pub mod conn;
mod frame_deque;
pub mod protocol;
pub mod queue;
pub mod run;
pub mod stream_end;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(test)]
pub(crate) mod trickle;

pub use conn::{Conn, Input, Phase};
pub use protocol::{Endpoint, Protocol};
pub use queue::{Frame, OutQueue, Overflow, QueuePool};
pub use stream_end::{EndReason, Sent, StreamTally};
