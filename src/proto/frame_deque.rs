//! [`FrameDeque`], the frames of one [`OutQueue`](crate::proto::OutQueue) in order, the front one
//! held inline.
//!
//! At low rates a connection's queue holds one frame at a time: each event is queued, written
//! in the next pass, and the queue is empty again. A plain `VecDeque` would allocate its buffer
//! on every such push and free it on every write (an empty queue gives its buffer back, so that
//! idle connections hold no queue memory): a `malloc` and a `free` per client per event, ~3% of
//! the server's time at 10,000 streams × 10 events a second. Holding the front frame in the
//! struct makes the one-frame queue allocate nothing; only a second frame waiting behind it
//! (a burst, a slow client) takes a buffer, given back once the queue is empty.

use std::collections::VecDeque;

use crate::frame::Frame;

/// A deque of frames whose front is held inline (see the [module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct FrameDeque {
    /// The front frame; `None` only when `rest` is empty too.
    front: Option<Frame>,
    /// The frames behind it.
    rest: VecDeque<Frame>,
}

impl FrameDeque {
    pub(crate) fn is_empty(&self) -> bool {
        self.front.is_none()
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.front.is_some()) + self.rest.len()
    }

    pub(crate) fn front(&self) -> Option<&Frame> {
        self.front.as_ref()
    }

    pub(crate) fn push_back(&mut self, frame: Frame) {
        if self.front.is_none() {
            self.front = Some(frame);
        } else {
            self.rest.push_back(frame);
        }
    }

    /// Drops the front frame; once nothing is left, gives the buffer back.
    pub(crate) fn pop_front(&mut self) {
        self.front = self.rest.pop_front();
        if self.front.is_none() && self.rest.capacity() > 0 {
            self.rest = VecDeque::new();
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Frame> {
        self.front.iter().chain(self.rest.iter())
    }

    /// Drops every frame and the buffer.
    pub(crate) fn clear(&mut self) {
        *self = FrameDeque::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn frame(n: usize) -> Frame {
        Frame::event(&Event::new(n.to_string())).unwrap()
    }

    fn listed(d: &FrameDeque) -> Vec<Vec<u8>> {
        d.iter().map(|f| f.block().to_vec()).collect()
    }

    #[test]
    fn frames_come_out_in_the_order_they_went_in() {
        let mut d = FrameDeque::default();
        let mut model = VecDeque::new();
        // Pushes and pops interleaved, through empty and back, against a plain deque.
        for (n, op) in [1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0].into_iter().enumerate() {
            if op == 1 {
                d.push_back(frame(n));
                model.push_back(frame(n).block().to_vec());
            } else {
                d.pop_front();
                model.pop_front();
            }
            assert_eq!(listed(&d), Vec::from(model.clone()), "after step {n}");
            assert_eq!((d.len(), d.is_empty()), (model.len(), model.is_empty()));
            assert_eq!(d.front().map(|f| f.block().to_vec()).as_ref(), model.front());
        }
    }

    #[test]
    fn one_frame_takes_no_buffer_and_an_emptied_deque_gives_its_back() {
        let mut d = FrameDeque::default();
        d.push_back(frame(0));
        assert_eq!(d.rest.capacity(), 0, "one frame waits inline");
        d.push_back(frame(1));
        assert!(d.rest.capacity() > 0);
        d.pop_front();
        assert!(d.rest.capacity() > 0, "a frame still waits: the buffer stays");
        d.pop_front();
        assert!(d.is_empty());
        assert_eq!(d.rest.capacity(), 0, "nothing waits: nothing held");
        d.push_back(frame(2));
        d.push_back(frame(3));
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.rest.capacity(), 0);
    }
}
