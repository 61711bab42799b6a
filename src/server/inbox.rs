//! When a worker's mailbox must wake it: the rule, without the lock, the eventfd or the poll.
//!
//! ```text
//! poster (any thread)                    worker thread
//!   lock; post(c) ─► push; wake = asleep    loop {
//!   unlock; if wake { eventfd write }         lock; may_sleep = prepare_sleep(); unlock
//!                                             poll(timeout, or 0 when !may_sleep)
//!                                             lock; awake(); unlock
//!                                             ... sockets (may post to itself) ...
//!                                             lock; take(); unlock; run the commands
//!                                           }
//! ```
//!
//! A wake-up (an `eventfd` write, then the sleeping thread scheduled back in) costs more than
//! most commands it delivers: a publish over HTTP posts one command to every worker. So a post
//! signals only a worker that has said it is about to sleep ([`Inbox::prepare_sleep`]) and has
//! not been signalled since; a worker that is awake (serving its sockets, running the commands
//! of the last wake-up, or posting to itself) is never signalled, because it looks at its
//! inbox once more before it sleeps: [`Inbox::prepare_sleep`] refuses to sleep while anything
//! waits. Since both steps happen under the mailbox's one lock, either the post comes first
//! (and the worker sees the command and polls without waiting) or the worker's "about to
//! sleep" does (and the post signals it): no command is left unread while the worker sleeps,
//! and at most one signal is sent per sleep, however many commands arrive meanwhile. This
//! subsumes the older "signal on empty to non-empty" rule, which signalled a busy worker
//! (even a worker posting to its own mailbox) once per pass.
//!
//! Commands come out in the order they were posted ([`Inbox::take`] hands over the whole list
//! in one swap).

/// A worker's pending commands and whether posting must wake it. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Inbox<T> {
    commands: Vec<T>,
    /// The worker has stopped: nothing more is taken.
    closed: bool,
    /// The worker said it is about to sleep and nobody has signalled it since.
    asleep: bool,
}

impl<T> Inbox<T> {
    pub(crate) fn new() -> Inbox<T> {
        Inbox { commands: Vec::new(), closed: false, asleep: false }
    }

    /// Queues `command`; `Ok(true)` when the caller must signal the worker (once the lock is
    /// released), `Err` with the command when the worker has stopped.
    pub(crate) fn post(&mut self, command: T) -> Result<bool, T> {
        if self.closed {
            return Err(command);
        }
        self.commands.push(command);
        Ok(std::mem::take(&mut self.asleep))
    }

    /// The worker is about to sleep: `false` (do not sleep, poll without waiting) when commands
    /// wait; otherwise the next post signals it.
    pub(crate) fn prepare_sleep(&mut self) -> bool {
        if !self.commands.is_empty() {
            return false;
        }
        self.asleep = true;
        true
    }

    /// The worker is running again (its poll returned, for whatever reason): posts need not
    /// signal it until it prepares to sleep again.
    pub(crate) fn awake(&mut self) {
        self.asleep = false;
    }

    /// Swaps the pending commands into `into` (which should be empty), in the order posted.
    pub(crate) fn take(&mut self, into: &mut Vec<T>) {
        std::mem::swap(&mut self.commands, into);
    }

    /// Takes nothing more from now on; returns what was left.
    pub(crate) fn close(&mut self) -> Vec<T> {
        self.closed = true;
        std::mem::take(&mut self.commands)
    }
}

#[cfg(test)]
mod tests {
    use super::Inbox;

    /// A worker as the shell drives it, with the signal it would get recorded.
    struct Model {
        inbox: Inbox<u32>,
        signalled: bool,
        sleeping: bool,
        read: Vec<u32>,
    }

    impl Model {
        fn new() -> Model {
            Model { inbox: Inbox::new(), signalled: false, sleeping: false, read: Vec::new() }
        }
        fn post(&mut self, c: u32) {
            if self.inbox.post(c).unwrap() {
                self.signalled = true;
            }
        }
        /// Tries to sleep: the worker sleeps only if allowed and no signal is pending (a signal
        /// sent before the poll makes the poll return at once, like an eventfd written early).
        fn sleep(&mut self) {
            self.sleeping = self.inbox.prepare_sleep() && !self.signalled;
        }
        fn wake_if_signalled(&mut self) {
            if self.signalled {
                self.signalled = false;
                self.sleeping = false;
            }
        }
        fn run(&mut self) {
            self.inbox.awake();
            let mut got = Vec::new();
            self.inbox.take(&mut got);
            self.read.extend(got);
        }
    }

    #[test]
    fn an_awake_worker_is_never_signalled() {
        let mut m = Model::new();
        for c in 0..100 {
            m.post(c);
        }
        assert!(!m.signalled, "the worker never said it would sleep");
        // It looks before sleeping, finds the commands, and does not sleep.
        m.sleep();
        assert!(!m.sleeping);
        m.run();
        assert_eq!(m.read, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn a_sleeping_worker_is_signalled_once_per_sleep() {
        let mut i = Inbox::new();
        assert!(i.prepare_sleep());
        assert_eq!(i.post(1), Ok(true));
        assert_eq!(i.post(2), Ok(false), "one signal is enough until it wakes");
        assert_eq!(i.post(3), Ok(false));
        i.awake();
        let mut got = Vec::new();
        i.take(&mut got);
        assert_eq!(got, [1, 2, 3]);
        assert!(i.prepare_sleep());
        assert_eq!(i.post(4), Ok(true), "slept again: signalled again");
    }

    #[test]
    fn a_command_posted_while_the_worker_drains_is_never_left_unread() {
        // The worker woke and took its commands; while it runs them, more arrive (from
        // another thread, or from itself: a publish answered on its own socket).
        let mut m = Model::new();
        m.sleep();
        m.post(1);
        m.wake_if_signalled();
        m.run();
        m.post(2);
        m.post(3);
        assert!(!m.signalled, "running: no signal");
        m.sleep();
        assert!(!m.sleeping, "it must not sleep on unread commands");
        m.run();
        assert_eq!(m.read, [1, 2, 3]);
    }

    #[test]
    fn a_post_between_prepare_and_poll_signals() {
        let mut m = Model::new();
        assert!(m.inbox.prepare_sleep());
        m.post(7); // lands after the look, before the poll
        assert!(m.signalled, "the poll it is entering returns at once");
        m.sleep();
        assert!(!m.sleeping);
        m.run();
        assert_eq!(m.read, [7]);
    }

    /// Every interleaving of a few posts with the worker's steps: whenever the worker sleeps
    /// with commands waiting, a signal is on its way; nothing is lost or reordered.
    #[test]
    fn no_interleaving_strands_a_command() {
        // Worker steps: 0 = try to sleep, 1 = wake if signalled, 2 = run. Posts interleave.
        for pattern in 0u32..(1 << 12) {
            let mut m = Model::new();
            let mut next = 0;
            for step in 0..12 {
                if pattern & (1 << step) != 0 {
                    m.post(next);
                    next += 1;
                } else {
                    match step % 3 {
                        0 => m.sleep(),
                        1 => m.wake_if_signalled(),
                        _ => {
                            if !m.sleeping {
                                m.run();
                            }
                        }
                    }
                }
                let waiting = !m.inbox.commands.is_empty();
                assert!(
                    !(m.sleeping && waiting && !m.signalled),
                    "pattern {pattern:b} step {step}: asleep on unread commands with no signal"
                );
            }
            // The worker goes on until it may sleep: everything posted has been read, in order.
            for _ in 0..3 {
                m.wake_if_signalled();
                if !m.sleeping {
                    m.run();
                }
                m.sleep();
            }
            assert_eq!(m.read, (0..next).collect::<Vec<_>>(), "pattern {pattern:b}");
        }
    }

    #[test]
    fn a_closed_inbox_gives_commands_back() {
        let mut i = Inbox::new();
        assert_eq!(i.post(1), Ok(false));
        assert_eq!(i.close(), [1]);
        assert_eq!(i.post(2), Err(2));
    }
}
