//! A process group: this process's rank, its peers, and the collective operations of start-up
//! (agreement, broadcasts), written over [`Link`] for every transport.

use std::sync::Arc;
use std::time::Duration;

use nn_core::{Dense, Float, Network};

use crate::chain::ChainReducer;
use crate::error::Difference;
use crate::fingerprint::{Fingerprint, PROTOCOL_VERSION, WORDS, machine_name};
use crate::link::{Element, Link, wait_recv, wait_sends};
use crate::stats::CommStats;
use crate::threads::ThreadEnd;
use crate::{Error, Options};

/// Tags of the collectives, above the chain's (which use tags below 30,000).
const TAG_GATHER: i32 = 30_001;
const TAG_BCAST: i32 = 30_002;
/// The largest message of a broadcast, in elements (MPI counts are `i32`).
const MAX_PIECE: usize = 1 << 30;
/// How much longer each level of a broadcast tree waits than the level above it.
const STAGGER: Duration = Duration::from_millis(500);

/// How the processes of a group talk.
pub(crate) enum Transport {
    /// Threads of this process, over channels.
    Threads(ThreadEnd),
    /// Processes started by `mpirun`, over MPI.
    #[cfg(feature = "mpi")]
    Mpi(crate::mpi_link::MpiEnd),
}

/// Runs `$body` with `$link` bound to a [`Link`] of the group's transport (the body is compiled
/// once per transport).
macro_rules! with_link {
    ($group:expr, $link:ident => $body:expr) => {
        match $group.transport() {
            $crate::group::Transport::Threads(end) => {
                let mut $link = end.link();
                $body
            }
            #[cfg(feature = "mpi")]
            $crate::group::Transport::Mpi(end) => mpi::request::scope(|scope| {
                let mut $link = end.link(scope);
                $body
            }),
        }
    };
}
pub(crate) use with_link;

struct Inner {
    rank: usize,
    size: usize,
    options: Options,
    transport: Transport,
}

/// This process's membership of a group of processes that train together: its rank (0 to
/// size − 1) and the means to talk to the others. Cheap to clone (the clones share it). Over MPI,
/// MPI is finalized when the last clone is dropped: drop it on the thread that created it, after
/// training.
///
/// Every collective method (`agree`, the broadcasts, `gather_stats`) must be called by every
/// process of the group, in the same order.
#[derive(Clone)]
pub struct Group {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("rank", &self.rank())
            .field("size", &self.size())
            .field("transport", &self.transport_name())
            .finish_non_exhaustive()
    }
}

impl Group {
    /// This process's member of the MPI job it was started in (`mpirun -np N …`; a process
    /// started without `mpirun` is a group of one). Initializes MPI.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for bad options, [`Error::MpiAlreadyInitialized`], and
    /// [`Error::ThreadSupport`] if the MPI library cannot serve several threads.
    #[cfg(feature = "mpi")]
    pub fn mpi(options: Options) -> Result<Group, Error> {
        options.validate()?;
        let end = crate::mpi_link::MpiEnd::init()?;
        let (rank, size) = (end.rank(), end.size());
        Ok(Group { inner: Arc::new(Inner { rank, size, options, transport: Transport::Mpi(end) }) })
    }

    /// The `n` members of a group whose ranks are threads of this process, talking through
    /// channels: for tests, and to try the distributed code path without MPI. Give each member to
    /// its own thread.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for bad options or `n == 0`.
    pub fn threads(n: usize, options: Options) -> Result<Vec<Group>, Error> {
        options.validate()?;
        if n == 0 {
            return Err(Error::InvalidOption { name: "size", value: 0.0, expected: "at least 1" });
        }
        Ok(ThreadEnd::group(n)
            .into_iter()
            .enumerate()
            .map(|(rank, end)| Group {
                inner: Arc::new(Inner {
                    rank,
                    size: n,
                    options,
                    transport: Transport::Threads(end),
                }),
            })
            .collect())
    }

    /// This process's rank.
    #[must_use]
    pub fn rank(&self) -> usize {
        self.inner.rank
    }

    /// The number of processes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Whether this is rank 0, the one that prints and writes files.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.inner.rank == 0
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> Options {
        self.inner.options
    }

    /// `"mpi"` or `"threads"`.
    #[must_use]
    pub fn transport_name(&self) -> &'static str {
        match self.inner.transport {
            Transport::Threads(_) => "threads",
            #[cfg(feature = "mpi")]
            Transport::Mpi(_) => "mpi",
        }
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// Ends every process of the group at once, with exit code `code`: `MPI_Abort` over MPI; for
    /// an in-process group, the process exits (all its ranks are threads of it). For errors that
    /// only this process saw, while the others may wait for it.
    pub fn abort(&self, code: i32) -> ! {
        match &self.inner.transport {
            Transport::Threads(_) => std::process::exit(code),
            #[cfg(feature = "mpi")]
            Transport::Mpi(end) => end.abort(code),
        }
    }

    /// Compares every process's [`Fingerprint`] with rank 0's. Every process gets the same
    /// answer.
    ///
    /// # Errors
    /// [`Error::RanksFailed`] if some processes could not prepare, [`Error::Disagree`] naming each
    /// rank whose configuration, data size or data differs from rank 0's, and
    /// [`Error::Timeout`] (in-process groups only: over MPI a lost peer aborts the job) if a
    /// process does not answer within [`Options::startup_timeout`].
    pub fn agree(&self, fingerprint: &Fingerprint) -> Result<(), Error> {
        let table = self.all_gather(&fingerprint.to_words(), "the start-up agreement")?;
        verdict(&table)
    }

    /// Replaces `bytes` in every process with rank 0's.
    ///
    /// # Errors
    /// [`Error::Timeout`] (in-process groups only) if a process does not answer within
    /// [`Options::startup_timeout`].
    pub fn broadcast_bytes(&self, bytes: &mut Vec<u8>) -> Result<(), Error> {
        let mut len = [bytes.len() as u64];
        self.broadcast(&mut len, "a broadcast")?;
        let len = usize::try_from(len[0]).map_err(|_| Error::TooLarge { bytes: len[0] })?;
        if !self.is_root() {
            bytes.clear();
            bytes.resize(len, 0);
        }
        self.broadcast(bytes, "a broadcast")
    }

    /// Replaces every parameter of `net` with rank 0's, so that every process starts from the same
    /// network. Every process must hold a network of the same sizes.
    ///
    /// # Errors
    /// [`Error::Disagree`] (in every process) if the networks' sizes differ, [`Error::Network`]
    /// if rank 0's parameters are not finite, and [`Error::Timeout`] (in-process groups only).
    pub fn broadcast_parameters<T: Float + Element>(
        &self,
        net: &mut Network<T>,
    ) -> Result<(), Error> {
        let sizes = Fingerprint::new().with_config_of(&net.sizes());
        let table = self.all_gather(&[sizes.config], "the parameter broadcast")?;
        let differ: Vec<usize> = (1..table.len()).filter(|&r| table[r] != table[0]).collect();
        if !differ.is_empty() {
            return Err(Error::Disagree {
                differences: vec![Difference::NetworkSizes { ranks: differ }],
            });
        }
        for layer in net.layers_mut() {
            let mut theta = layer.theta_col_major();
            self.broadcast(&mut theta, "the parameter broadcast")?;
            *layer = Dense::from_theta_col_major(
                layer.n_inputs(),
                layer.n_outputs(),
                &theta,
                layer.activation(),
            )?;
        }
        Ok(())
    }

    /// Returns once every process of the group called it.
    ///
    /// # Errors
    /// [`Error::Timeout`] (in-process groups only) after [`Options::timeout`] without all of
    /// them.
    pub fn barrier(&self) -> Result<(), Error> {
        let mut table = vec![0u64; if self.is_root() { self.size() } else { 0 }];
        let limit = self.inner.options.timeout;
        with_link!(self, link => gather(&mut link, &[0u64], &mut table, limit, "a barrier"))?;
        let mut done = [0u64];
        with_link!(self, link => tree_broadcast(&mut link, &mut done, limit, "a barrier"))
    }

    /// Collects every process's counters at rank 0: returns them in rank order at rank 0, an
    /// empty vector elsewhere.
    ///
    /// # Errors
    /// [`Error::Timeout`] (in-process groups only).
    pub fn gather_stats(&self, stats: &CommStats) -> Result<Vec<CommStats>, Error> {
        let mine = stats.to_words();
        let mut table = vec![0u64; if self.is_root() { 5 * self.size() } else { 0 }];
        let limit = self.inner.options.timeout;
        with_link!(self, link => gather(&mut link, &mine, &mut table, limit, "gathering counters"))?;
        Ok(table
            .chunks_exact(5)
            .map(|w| CommStats::from_words([w[0], w[1], w[2], w[3], w[4]]))
            .collect())
    }

    /// Every process's `mine`, in rank order, in every process.
    fn all_gather(&self, mine: &[u64], during: &'static str) -> Result<Vec<u64>, Error> {
        let mut table = vec![0u64; mine.len() * self.size()];
        let limit = self.inner.options.startup_timeout;
        {
            let slot = if self.is_root() { table.as_mut_slice() } else { &mut [] };
            with_link!(self, link => gather(&mut link, mine, slot, limit, during))?;
        }
        self.broadcast(&mut table, during)?;
        Ok(table)
    }

    /// Replaces `buf` with rank 0's, along a binomial tree, in pieces of at most 2^30 elements.
    fn broadcast<E: Element>(&self, buf: &mut [E], during: &'static str) -> Result<(), Error> {
        let limit = self.inner.options.startup_timeout;
        for piece in buf.chunks_mut(MAX_PIECE) {
            with_link!(self, link => tree_broadcast(&mut link, piece, limit, during))?;
        }
        Ok(())
    }

    /// A reducer that sums the shard gradients of `net`'s training over the group, exactly as one
    /// process would.
    ///
    /// # Errors
    /// [`Error::TooManyChunks`] if [`Options::chunk_elems`] cuts the gradient into too many
    /// pieces.
    pub fn chain_reducer<T: Float + Element>(
        &self,
        net: &Network<T>,
    ) -> Result<ChainReducer<T>, Error> {
        ChainReducer::new(self.clone(), net)
    }
}

/// What every rank concludes from the agreement's table (one row of fingerprint words per rank):
/// the same answer in every rank.
fn verdict(table: &[u64]) -> Result<(), Error> {
    let rows: Vec<&[u64]> = table.chunks(WORDS).collect();
    let failed: Vec<usize> = (0..rows.len()).filter(|&r| rows[r][1] != 0).collect();
    if !failed.is_empty() {
        return Err(Error::RanksFailed { ranks: failed });
    }
    let mut differences = Vec::new();
    let root = rows[0];
    for (rank, row) in rows.iter().enumerate().skip(1) {
        differences.extend(if row[0] != PROTOCOL_VERSION || root[0] != PROTOCOL_VERSION {
            Some(Difference::Version { rank, found: row[0], expected: root[0] })
        } else if row[2] != root[2] {
            Some(Difference::Configuration { rank, found: row[2], expected: root[2] })
        } else if (row[3], row[4]) != (root[3], root[4]) {
            Some(Difference::DataSize {
                rank,
                found: (row[3], row[4]),
                expected: (root[3], root[4]),
            })
        } else if row[5] != root[5] {
            Some(Difference::Data { rank, found: row[5], expected: root[5] })
        } else if row[6] != root[6] {
            Some(Difference::Machine {
                rank,
                found: machine_name(row[6]),
                expected: machine_name(root[6]),
            })
        } else {
            None
        });
    }
    if differences.is_empty() { Ok(()) } else { Err(Error::Disagree { differences }) }
}

/// Rank 0 receives every other rank's `mine` into `table` (rank order; its own first); the
/// others send theirs.
fn gather<'a, L: Link<'a>, E: Element>(
    link: &mut L,
    mine: &'a [E],
    table: &'a mut [E],
    limit: Duration,
    during: &'static str,
) -> Result<(), Error> {
    let (r, n, len) = (link.rank(), link.size(), mine.len());
    if r == 0 {
        if len == 0 || table.len() != n * len {
            return Ok(());
        }
        let (own, others) = table.split_at_mut(len);
        own.copy_from_slice(mine);
        let reqs: Vec<_> = others
            .chunks_mut(len)
            .enumerate()
            .map(|(i, b)| (i + 1, link.irecv(i + 1, TAG_GATHER, b)))
            .collect();
        for (peer, req) in reqs {
            wait_recv(link, req, peer, limit, during)?;
        }
        Ok(())
    } else {
        let send = link.isend(0, TAG_GATHER, mine);
        wait_sends(link, &mut vec![(0, send)], limit, during)
    }
}

/// Broadcast from rank 0 along a binomial tree: rank `r` receives from `r` without its lowest set
/// bit, then sends to `r + 2^k` for every `2^k` below that bit. Deeper ranks wait a little longer,
/// so that the child of a lost rank gives up first.
fn tree_broadcast<'a, L: Link<'a>, E: Element>(
    link: &mut L,
    buf: &'a mut [E],
    limit: Duration,
    during: &'static str,
) -> Result<(), Error> {
    let (r, n) = (link.rank(), link.size());
    let low_bit = if r == 0 { n.next_power_of_two() } else { 1 << r.trailing_zeros() };
    let data: &'a [E] = if r == 0 {
        buf
    } else {
        let parent = r - low_bit;
        let depth = r.count_ones();
        let req = link.irecv(parent, TAG_BCAST, buf);
        wait_recv(link, req, parent, limit + STAGGER * depth, during)?
    };
    let mut sends = Vec::new();
    let mut bit = low_bit >> 1;
    while bit > 0 {
        if r + bit < n {
            sends.push((r + bit, link.isend(r + bit, TAG_BCAST, data)));
        }
        bit >>= 1;
    }
    wait_sends(link, &mut sends, limit, during)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::verdict;
    use crate::fingerprint::{Fingerprint, WORDS, machine};
    use crate::{Difference, Error};

    #[test]
    fn another_kind_of_cpu_is_a_difference() {
        let mine = Fingerprint::new().with_config("run").to_words();
        let mut other = mine;
        // The same architecture, another SIMD level.
        other[WORDS - 1] = (machine() & !0xff) | (((machine() & 0xff) + 1) % 4);
        let table: Vec<u64> = mine.iter().chain(&other).copied().collect();
        let result = verdict(&table);
        let Err(Error::Disagree { differences }) = &result else {
            unreachable!("{result:?}");
        };
        assert!(matches!(&differences[..], [Difference::Machine { rank: 1, .. }]));
        let text = differences[0].to_string();
        assert!(text.contains("the same kind of CPU"), "{text}");
        let table: Vec<u64> = mine.iter().chain(&mine).copied().collect();
        assert_eq!(verdict(&table), Ok(()));
    }
}
