//! The in-process transport: ranks are threads of one process, messages go through channels.
//! For tests, and for trying the distributed code path without MPI.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};

use crate::Error;
use crate::link::{Element, Failure, Link, Polled};

/// A message: the sender, the tag, and a `Vec<E>`.
struct Message {
    from: usize,
    tag: i32,
    payload: Box<dyn Any + Send>,
}

/// What arrived but was not asked for yet, by (sender, tag), in arrival order.
type Stash = HashMap<(usize, i32), VecDeque<Box<dyn Any + Send>>>;

/// One rank's end of an in-process group.
pub(crate) struct ThreadEnd {
    rank: usize,
    senders: Vec<Sender<Message>>,
    inbox: Mutex<(Receiver<Message>, Stash)>,
}

impl ThreadEnd {
    /// The ends of a group of `n` ranks.
    pub(crate) fn group(n: usize) -> Vec<ThreadEnd> {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| channel()).unzip();
        receivers
            .into_iter()
            .enumerate()
            .map(|(rank, rx)| ThreadEnd {
                rank,
                senders: senders.clone(),
                inbox: Mutex::new((rx, HashMap::new())),
            })
            .collect()
    }

    pub(crate) fn link(&self) -> ThreadLink<'_> {
        ThreadLink { end: self }
    }

    /// Takes the oldest message from `from` with `tag`, if one arrived.
    fn take(&self, from: usize, tag: i32) -> Option<Box<dyn Any + Send>> {
        let mut guard = match self.inbox.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (rx, stash) = &mut *guard;
        while let Ok(m) = rx.try_recv() {
            stash.entry((m.from, m.tag)).or_default().push_back(m.payload);
        }
        stash.get_mut(&(from, tag)).and_then(VecDeque::pop_front)
    }
}

/// A pending in-process receive.
pub(crate) struct ThreadRecv<'a, E> {
    from: usize,
    tag: i32,
    buf: &'a mut [E],
}

/// [`Link`] over channels: a send copies the buffer and completes at once.
pub(crate) struct ThreadLink<'e> {
    end: &'e ThreadEnd,
}

impl<'a> Link<'a> for ThreadLink<'_> {
    type Recv<E: Element> = ThreadRecv<'a, E>;
    type Send<E: Element> = ();

    fn rank(&self) -> usize {
        self.end.rank
    }

    fn size(&self) -> usize {
        self.end.senders.len()
    }

    fn irecv<E: Element>(&mut self, from: usize, tag: i32, buf: &'a mut [E]) -> ThreadRecv<'a, E> {
        ThreadRecv { from, tag, buf }
    }

    fn test_recv<E: Element>(
        &mut self,
        req: ThreadRecv<'a, E>,
    ) -> Polled<'a, E, ThreadRecv<'a, E>> {
        let Some(payload) = self.end.take(req.from, req.tag) else {
            return Polled::Pending(req);
        };
        match payload.downcast::<Vec<E>>() {
            Ok(v) if v.len() == req.buf.len() => {
                req.buf.copy_from_slice(&v);
                Polled::Ready(req.buf)
            }
            Ok(v) => Polled::Failed(Failure::Length {
                tag: req.tag,
                expected: req.buf.len(),
                found: v.len(),
            }),
            Err(_) => Polled::Failed(Failure::Type { tag: req.tag }),
        }
    }

    fn isend<E: Element>(&mut self, to: usize, tag: i32, buf: &'a [E]) {
        let message = Message { from: self.end.rank, tag, payload: Box::new(buf.to_vec()) };
        // A peer that is gone cannot receive: the wait for its answer times out and names it.
        if let Some(tx) = self.end.senders.get(to) {
            let _ = tx.send(message);
        }
    }

    fn test_send<E: Element>(&mut self, (): ()) -> Result<(), ()> {
        Ok(())
    }

    fn fail(&mut self, error: Error) -> Error {
        error
    }
}
