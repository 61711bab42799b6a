//! What other threads ask of a worker, and how the worker fans it out to its connections.
//!
//! ```text
//! Client::send ─┐                          ┌─► Send: that connection's queue
//! Broadcaster ──┼─► Mailbox (+ mio::Waker) ─┼─► Publish: each stream it targets, once (Member)
//! backplane ────┤  a wake-up only if the   ├─► Answer / Joined: a deferred request's answer
//! acceptor ─────┤  worker sleeps: inbox.rs └─► Adopt, Handoff, Shutdown, Drain
//! Server::adopt ┘
//! ```
//!
//! A command never touches a socket on the sender's thread. The worker takes the whole list in
//! one swap, queues frames on the connections they are for (encode once: each queue holds a
//! reference to the same bytes), and writes them in its next pass (see [`Coalescer`]).
//!
//! [`Coalescer`]: crate::proto::coalesce::Coalescer

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::handle::{JoinError, PublishError, Receipt};
use super::inbox::Inbox;
use super::slots::Key;
use super::worker::{Worker, Writing, carrier, deliver};
use crate::http::{Framing, answer};
use crate::hub::{Resume, Target};
use crate::proto::Frame;

/// What a worker is asked to do from another thread.
pub(crate) enum Command {
    /// Queue a frame on one connection.
    Send(Key, Frame),
    /// Close one connection gracefully.
    Close(Key),
    /// Deliver a publish (in sequence order) to the worker's streams it targets; published at
    /// the instant given (for the publish-to-write histogram).
    Publish(u64, Frame, Target, Instant),
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    /// Answer a deferred publish: the id Redis gave it, or why it could not take it.
    Published { key: Key, result: Result<Receipt, PublishError>, framing: Framing },
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    /// Start a deferred stream with what the backplane's read thread found (its channels are
    /// counted as subscribed: a stream that is gone by now must give them back).
    Joined { key: Key, channels: Vec<Arc<str>>, resume: Result<Resume, JoinError> },
    /// Take over a newly accepted connection.
    Adopt(mio::net::TcpStream),
    /// Take over a connection the application accepted ([`crate::Server::adopt`]), with the
    /// bytes it read from it (`None`: more than one request can hold).
    Handoff(mio::net::TcpStream, Option<Vec<u8>>),
    /// Stop: finish streams, flush briefly, exit.
    Shutdown,
    /// Drain: end the streams one by one from `start` over `over`, then stop (see `drain.rs`).
    Drain { start: Instant, over: std::time::Duration },
}

/// A worker's mailbox: its [`Inbox`] behind a lock, and the waker that signals its poll when
/// the inbox says so (only a worker about to sleep is signalled: see `inbox.rs`).
pub(crate) struct Mailbox {
    inner: Mutex<Inbox<Command>>,
    waker: mio::Waker,
}

impl Mailbox {
    pub(crate) fn new(waker: mio::Waker) -> Mailbox {
        Mailbox { inner: Mutex::new(Inbox::new()), waker }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inbox<Command>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Posts a command; gives it back when the worker has stopped.
    pub(crate) fn post(&self, command: Command) -> Result<(), Command> {
        if self.lock().post(command)? {
            // A failed wake leaves the command queued; the worker's next timer runs it.
            let _ = self.waker.wake();
        }
        Ok(())
    }

    /// The worker is about to poll: `false` when commands wait (poll without sleeping).
    pub(crate) fn prepare_sleep(&self) -> bool {
        self.lock().prepare_sleep()
    }

    /// The worker's poll returned: posts need not signal it for now.
    pub(crate) fn awake(&self) {
        self.lock().awake();
    }

    /// Swaps the pending commands into `into` (which should be empty).
    pub(crate) fn take(&self, into: &mut Vec<Command>) {
        self.lock().take(into);
    }

    /// Takes nothing more from now on; returns what was left.
    pub(crate) fn close(&self) -> Vec<Command> {
        self.lock().close()
    }
}

impl Worker {
    /// Runs what the mailbox holds.
    pub(super) fn run_commands(&mut self, now: Instant) {
        let shared = self.shared.clone();
        let stats = &shared.counters.workers[self.index];
        let mut commands = std::mem::take(&mut self.commands);
        shared.mailboxes[self.index].take(&mut commands);
        let mut queued = false;
        // The sockets that got answers: each is written once, after the whole batch.
        let mut answered: Vec<usize> = Vec::new();
        for command in commands.drain(..) {
            match command {
                Command::Send(key, frame) => {
                    if self.slots.get(key).is_some()
                        && deliver(
                            &mut self.slots,
                            key.slot,
                            None,
                            frame,
                            now,
                            &Writing { shared: &shared, stats, run: &self.run },
                        )
                    {
                        self.dirty.push(key.slot);
                        queued = true;
                    }
                }
                Command::Close(key) => {
                    if self.slots.get(key).is_some_and(|l| l.client.is_some()) {
                        if let Some(mut e) = self.endpoint(key) {
                            e.finish_stream(now);
                        }
                        self.dirty.push(key.slot);
                        queued = true;
                    }
                }
                Command::Publish(seq, frame, Target::All, at) => {
                    self.run.push(&frame);
                    let mut reached = false;
                    for i in 0..self.slots.len() {
                        reached |= deliver(
                            &mut self.slots,
                            i,
                            Some(seq),
                            frame.clone(),
                            now,
                            &Writing { shared: &shared, stats, run: &self.run },
                        );
                    }
                    if reached {
                        self.published_at.push(at);
                    }
                    self.flush_everyone = true;
                    queued = true;
                }
                Command::Publish(seq, frame, Target::Channels(channels), at) => {
                    self.run.push(&frame);
                    let mut reached = false;
                    for channel in channels.iter() {
                        for &i in self.subs.members(channel) {
                            if deliver(
                                &mut self.slots,
                                i,
                                Some(seq),
                                frame.clone(),
                                now,
                                &Writing { shared: &shared, stats, run: &self.run },
                            ) {
                                self.dirty.push(i);
                                reached = true;
                            }
                        }
                    }
                    if reached {
                        self.published_at.push(at);
                        queued = true;
                    }
                }
                // Answers to requests leave with this batch, not a window later: coalescing is
                // for fan-out. One write a socket: the answers the publish thread sends
                // together are mostly to the streams of a few HTTP/2 connections.
                Command::Published { key, result, framing } => {
                    if self.is_waiting(key) && self.slots.get(key).is_some_and(|l| l.pending.is_none()) {
                        let response = match result {
                            Ok(receipt) => answer::receipt(&receipt.id, receipt.replayed),
                            Err(why) => {
                                if matches!(why, PublishError::Unavailable(_)) {
                                    shared.reject(super::Rejection::Unavailable);
                                }
                                answer::refusal(&why)
                            }
                        };
                        if let Some(mut e) = self.endpoint(key) {
                            e.respond(&response, framing, now);
                        }
                        if let Some((socket, _)) = carrier(&mut self.slots, key.slot) {
                            answered.push(socket);
                        }
                    }
                }
                Command::Joined { key, channels, resume } => self.joined(key, channels, resume, now),
                Command::Adopt(sock) => self.adopt(sock, None, now),
                Command::Handoff(sock, already_read) => self.adopt(sock, Some(already_read), now),
                Command::Shutdown => {
                    self.begin_shutdown(now);
                    queued = true;
                }
                Command::Drain { start, over } => self.begin_drain(start, over, now),
            }
        }
        self.commands = commands;
        answered.sort_unstable();
        answered.dedup();
        for socket in answered {
            self.serve(socket, now);
        }
        if queued && (self.coalescer.queued(now) || self.shutdown_deadline.is_some()) {
            self.flush_pending(now);
        }
    }
}
