//! The MPI transport (feature `mpi`): rsmpi's non-blocking point-to-point messages on
//! `MPI_COMM_WORLD`.

use mpi::Threading;
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, Source};
use mpi::request::{LocalScope, Request};
use mpi::topology::{Communicator, SimpleCommunicator};

use std::io::Write;

use crate::Error;
use crate::link::{Element, Failure, Link, Polled};

/// One rank's end of an MPI group. Holds the MPI environment: MPI is finalized when the last
/// clone of the [`Group`](crate::Group) is dropped.
pub(crate) struct MpiEnd {
    rank: usize,
    size: usize,
    /// `MPI_Finalize` on drop.
    _universe: Universe,
}

impl MpiEnd {
    /// Initializes MPI with `MPI_THREAD_SERIALIZED` support: the trainer calls MPI from whichever
    /// thread of its pool runs the step, one call at a time.
    pub(crate) fn init() -> Result<MpiEnd, Error> {
        let Some((universe, provided)) = mpi::initialize_with_threading(Threading::Serialized)
        else {
            return Err(Error::MpiAlreadyInitialized);
        };
        match provided {
            Threading::Single => return Err(Error::ThreadSupport { provided: "single" }),
            Threading::Funneled => return Err(Error::ThreadSupport { provided: "funneled" }),
            Threading::Serialized | Threading::Multiple => {}
        }
        let world = universe.world();
        // MPI ranks are never negative, and a world has at least one process.
        let rank = usize::try_from(world.rank()).unwrap_or_default();
        let size = usize::try_from(world.size()).unwrap_or(1);
        Ok(MpiEnd { rank, size, _universe: universe })
    }

    pub(crate) fn rank(&self) -> usize {
        self.rank
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn link<'s, 'a>(&self, scope: &'s LocalScope<'a>) -> MpiLink<'s, 'a> {
        MpiLink { world: SimpleCommunicator::world(), rank: self.rank, size: self.size, scope }
    }

    /// `MPI_Abort` on `MPI_COMM_WORLD`: ends every process of the job.
    pub(crate) fn abort(&self, code: i32) -> ! {
        SimpleCommunicator::world().abort(code)
    }
}

/// [`Link`] over MPI, for the requests of one `mpi::request::scope`.
pub(crate) struct MpiLink<'s, 'a> {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    scope: &'s LocalScope<'a>,
}

/// The exit code of a job aborted because a rank was lost.
pub(crate) const ABORT_CODE: i32 = 3;

/// MPI ranks are `i32`; ours are below the group's size, which came from an `i32`.
fn mpi_rank(r: usize) -> i32 {
    i32::try_from(r).unwrap_or(i32::MAX)
}

impl<'s, 'a> Link<'a> for MpiLink<'s, 'a> {
    type Recv<E: Element> = Request<'a, [E], &'s LocalScope<'a>>;
    type Send<E: Element> = Request<'a, [E], &'s LocalScope<'a>>;

    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn irecv<E: Element>(&mut self, from: usize, tag: i32, buf: &'a mut [E]) -> Self::Recv<E> {
        self.world
            .process_at_rank(mpi_rank(from))
            .immediate_receive_into_with_tag(self.scope, buf, tag)
    }

    fn test_recv<E: Element>(&mut self, req: Self::Recv<E>) -> Polled<'a, E, Self::Recv<E>> {
        match req.test_with_data() {
            Ok((status, data)) => {
                let count = status.count(E::equivalent_datatype());
                match usize::try_from(count) {
                    Ok(c) if c == data.len() => Polled::Ready(data),
                    _ => Polled::Failed(Failure::Length {
                        tag: status.tag(),
                        expected: data.len(),
                        found: usize::try_from(count).unwrap_or_default(),
                    }),
                }
            }
            Err(req) => Polled::Pending(req),
        }
    }

    fn isend<E: Element>(&mut self, to: usize, tag: i32, buf: &'a [E]) -> Self::Send<E> {
        self.world.process_at_rank(mpi_rank(to)).immediate_send_with_tag(self.scope, buf, tag)
    }

    fn test_send<E: Element>(&mut self, req: Self::Send<E>) -> Result<(), Self::Send<E>> {
        req.test().map(|_| ())
    }

    fn fail(&mut self, error: Error) -> Error {
        // MPI owns the buffers of the pending requests until they complete, and a lost peer never
        // completes them: the only safe way out is to end the job. The one line on stderr is the
        // crate's only output: the process is about to end, and this says why (mpirun's own
        // message only names the rank that called MPI_Abort).
        let mut stderr = std::io::stderr().lock();
        // One write, so that the lines of several ranks do not mix.
        let _ = stderr.write_all(format!("error: {error}; aborting the MPI job\n").as_bytes());
        let _ = stderr.flush();
        self.world.abort(ABORT_CODE)
    }
}
