//! Point-to-point messages, the only primitive the group's algorithms use, and waiting for them
//! with a deadline.
//!
//! Every algorithm of the crate (the chain reduction, the agreement, the broadcasts) is written
//! once, generic over [`Link`], and runs over MPI or over in-process channels. A link lives for one
//! operation: its requests borrow the operation's buffers, and every request is completed before
//! the operation returns, or the link gives up with [`Link::fail`] (which, over MPI, aborts the
//! job: MPI cannot take back a buffer it was given).

use std::time::{Duration, Instant};

use crate::Error;

mod sealed {
    pub trait Sealed {}
}

/// The element types that travel between processes: `f32`, `f64` (parameters and gradients),
/// `u64` (headers, sizes) and `u8` (bytes). Sealed.
#[cfg(feature = "mpi")]
pub trait Element:
    sealed::Sealed + Copy + Default + Send + Sync + 'static + mpi::traits::Equivalence
{
}

/// The element types that travel between processes: `f32`, `f64` (parameters and gradients),
/// `u64` (headers, sizes) and `u8` (bytes). Sealed.
#[cfg(not(feature = "mpi"))]
pub trait Element: sealed::Sealed + Copy + Default + Send + Sync + 'static {}

macro_rules! element {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {}
    )*};
}
element!(f32, f64, u64, u8);

/// The outcome of testing a pending receive.
pub(crate) enum Polled<'a, E, R> {
    /// The message arrived, with exactly the expected length.
    Ready(&'a [E]),
    /// Not yet: the request, to test again.
    Pending(R),
    /// A message that does not fit arrived.
    Failed(Failure),
}

/// What was wrong with a message.
pub(crate) enum Failure {
    /// Another length.
    Length { tag: i32, expected: usize, found: usize },
    /// Another element type (in-process groups).
    Type { tag: i32 },
}

impl Failure {
    /// The error of `rank` receiving this from `peer`.
    pub(crate) fn error(self, rank: usize, peer: usize) -> Error {
        match self {
            Failure::Length { tag, expected, found } => {
                Error::MessageLength { rank, peer, tag, expected, found }
            }
            Failure::Type { tag } => Error::MessageType { rank, peer, tag },
        }
    }
}

/// Non-blocking messages between the ranks of a group, for one operation whose buffers live for
/// `'a`. Messages from one rank with one tag arrive in the order they were sent (MPI's rule).
pub(crate) trait Link<'a> {
    /// A pending receive.
    type Recv<E: Element>;
    /// A pending send.
    type Send<E: Element>;

    /// This process's rank.
    fn rank(&self) -> usize;
    /// The number of processes.
    fn size(&self) -> usize;
    /// Starts receiving exactly `buf.len()` elements from `from` with `tag` into `buf`.
    fn irecv<E: Element>(&mut self, from: usize, tag: i32, buf: &'a mut [E]) -> Self::Recv<E>;
    /// Tests a pending receive.
    fn test_recv<E: Element>(&mut self, req: Self::Recv<E>) -> Polled<'a, E, Self::Recv<E>>;
    /// Starts sending `buf` to `to` with `tag`.
    fn isend<E: Element>(&mut self, to: usize, tag: i32, buf: &'a [E]) -> Self::Send<E>;
    /// Tests a pending send: `Err` gives it back while it is not complete.
    fn test_send<E: Element>(&mut self, req: Self::Send<E>) -> Result<(), Self::Send<E>>;
    /// Gives up with requests still pending. Over MPI this logs `error` (a `tracing` error event)
    /// and aborts the whole job with `MPI_Abort` (it does not return); in-process it returns
    /// `error`.
    fn fail(&mut self, error: Error) -> Error;
}

/// How long a waiting rank polls without pause.
pub(crate) const SPIN: Duration = Duration::from_micros(500);
/// Until when it yields its core between polls (then it naps).
pub(crate) const YIELD: Duration = Duration::from_millis(5);

/// Paces a polling loop and tells when it waited too long without progress: spins for
/// [`SPIN`], then yields the core until [`YIELD`], then sleeps in short naps (so that long waits,
/// such as rank 0 writing a checkpoint, leave the core to others).
///
/// MPI moves a message only while both sides call into it (a large message is a rendezvous:
/// the receiver pulls the data, the sender must see the acknowledgement), so a rank that gives up
/// its core too early slows its peer down: on a shared 2-core machine, yielding at once cost
/// 5–8 ms per W1 step, spinning for 0.2–1 ms about 1 ms, and spinning for ever (a spinning rank can
/// hold the core its peer needs) 12 ms (`chain_bench`, medians of 1,000 steps).
pub(crate) struct Waiter {
    last_progress: Instant,
    idle_polls: u32,
    /// Time spent idle, over the waiter's life.
    pub(crate) idle: Duration,
}

impl Waiter {
    pub(crate) fn new() -> Self {
        Waiter { last_progress: Instant::now(), idle_polls: 0, idle: Duration::ZERO }
    }

    /// Something happened: the deadline starts again.
    pub(crate) fn progressed(&mut self) {
        self.last_progress = Instant::now();
        self.idle_polls = 0;
    }

    /// Nothing happened: pauses a little. `Err(waited)` once `limit` passed since the last
    /// progress.
    pub(crate) fn idle(&mut self, limit: Duration) -> Result<(), Duration> {
        let before = Instant::now();
        let waited = before.duration_since(self.last_progress);
        if waited > limit {
            return Err(waited);
        }
        self.idle_polls = self.idle_polls.saturating_add(1);
        if self.idle_polls < 64 || waited < SPIN {
            std::hint::spin_loop();
        } else if waited < YIELD {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
        self.idle += before.elapsed();
        Ok(())
    }
}

/// Waits for one receive, giving up after `limit` without it.
pub(crate) fn wait_recv<'a, L: Link<'a>, E: Element>(
    link: &mut L,
    req: L::Recv<E>,
    peer: usize,
    limit: Duration,
    during: &'static str,
) -> Result<&'a [E], Error> {
    let mut waiter = Waiter::new();
    let mut req = req;
    loop {
        match link.test_recv(req) {
            Polled::Ready(data) => return Ok(data),
            Polled::Pending(r) => req = r,
            Polled::Failed(failure) => {
                let rank = link.rank();
                return Err(link.fail(failure.error(rank, peer)));
            }
        }
        if let Err(waited) = waiter.idle(limit) {
            let rank = link.rank();
            return Err(link.fail(Error::Timeout { rank, peer, waited, during }));
        }
    }
}

/// Waits for sends to complete, giving up after `limit` without progress.
pub(crate) fn wait_sends<'a, L: Link<'a>, E: Element>(
    link: &mut L,
    sends: &mut Vec<(usize, L::Send<E>)>,
    limit: Duration,
    during: &'static str,
) -> Result<(), Error> {
    let mut waiter = Waiter::new();
    while let Some((peer, req)) = sends.pop() {
        match link.test_send(req) {
            Ok(()) => waiter.progressed(),
            Err(req) => {
                sends.push((peer, req));
                if let Err(waited) = waiter.idle(limit) {
                    let rank = link.rank();
                    return Err(link.fail(Error::Timeout { rank, peer, waited, during }));
                }
            }
        }
    }
    Ok(())
}
