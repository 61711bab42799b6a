//! [`SseBody`]: a [`Subscription`] as an HTTP response body, with keep-alive comments and an
//! end when the stream's access expires.
//!
//! ```text
//! hub ─► Subscription (bounded queue, Waker) ─► SseBody::poll_frame ─► Bytes::from_owner(Frame) ─► hyper
//! ```
//!
//! Each event's bytes are the hub's [`Frame`], wrapped without a copy: every client's body holds
//! the same allocation. hyper polls the body only when it can write, so a client that does not
//! read leaves its frames in the subscription's queue, whose bound cuts it off
//! ([`Ended::SlowClient`], answered by ending the body with that error: hyper then closes the
//! connection, and the client reconnects with its `Last-Event-ID`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame as BodyFrame, SizeHint};
use ssehub::hub::subscription::{Ended, Subscription};
use ssehub::{CountedStream, Frame};
use tokio::time::{Instant, Sleep};

/// A frame's event block, for [`Bytes::from_owner`]: the bytes stay the hub's.
struct Block(Frame);

impl AsRef<[u8]> for Block {
    fn as_ref(&self) -> &[u8] {
        self.0.block()
    }
}

/// The keep-alive comment: an empty one.
const KEEP_ALIVE: &[u8] = b":\n\n";

/// An event stream's body. See the [module docs](self).
pub struct SseBody {
    first: Option<Bytes>,
    sub: Subscription,
    /// The server's count of this stream (given back when the body is dropped, however the
    /// stream ends), and whether `ends` is its access's expiry.
    counted: Option<(CountedStream, bool)>,
    keep_alive: Option<(Duration, Pin<Box<Sleep>>)>,
    /// Something was sent since the last keep-alive tick.
    sent: bool,
    ends: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl SseBody {
    /// `first` (the `:ok` comment, a `retry`), then the subscription's frames; a comment after
    /// each `keep_alive` interval in which nothing was sent; the end at `ends`.
    pub fn new(
        first: Bytes,
        sub: Subscription,
        keep_alive: Option<Duration>,
        ends: Option<Instant>,
    ) -> SseBody {
        let now = Instant::now();
        SseBody {
            first: (!first.is_empty()).then_some(first),
            sub,
            counted: None,
            keep_alive: keep_alive.map(|every| (every, Box::pin(tokio::time::sleep_until(now + every)))),
            sent: true,
            ends: ends.map(|at| Box::pin(tokio::time::sleep_until(at))),
            done: false,
        }
    }

    /// Held for as long as the body lives: the stream counted by the server whose hub it reads
    /// ([`ssehub::Broadcaster::count_stream`]), its end told to it (a slow client cut off; the
    /// end at `ends` as an expiry when `ends_expiry`).
    pub fn counted(mut self, counted: CountedStream, ends_expiry: bool) -> SseBody {
        self.counted = Some((counted, ends_expiry));
        self
    }

    /// The subscription (its channels, what it has queued).
    pub fn subscription(&self) -> &Subscription {
        &self.sub
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Ended;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Ended>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(BodyFrame::data(first))));
        }
        match this.sub.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.sent = true;
                return Poll::Ready(Some(Ok(BodyFrame::data(Bytes::from_owner(Block(frame))))));
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                if let (Some((counted, _)), Ended::SlowClient(_)) = (&this.counted, &e) {
                    counted.slow_client();
                }
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Ready(None) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        if let Some(ends) = this.ends.as_mut()
            && ends.as_mut().poll(cx).is_ready()
        {
            this.done = true;
            if let Some((counted, true)) = &this.counted {
                counted.expired();
            }
            return Poll::Ready(None);
        }
        if let Some((every, tick)) = this.keep_alive.as_mut() {
            while tick.as_mut().poll(cx).is_ready() {
                let next = tick.deadline() + *every;
                tick.as_mut().reset(next.max(Instant::now()));
                if !std::mem::replace(&mut this.sent, false) {
                    return Poll::Ready(Some(Ok(BodyFrame::data(Bytes::from_static(KEEP_ALIVE)))));
                }
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
