//! The exact reduction: a pipelined chain in rank order, then the total back down the chain.
//!
//! Rank `r` owns a contiguous run of shards. The forward pass carries the running left fold
//! `((g₀ + g₁) + g₂) + …` from rank to rank: rank `r` receives the sum of every shard before its
//! own, adds its shards in order, and sends the result on; the last rank ends up with the total
//! and sends it back down the chain, each rank forwarding it to the one before. The gradient
//! travels in chunks, so every rank adds and forwards chunk `k` while chunk `k + 1` is on its way:
//! the forward and the backward streams overlap, and every link carries the gradient once in each
//! direction. Every entry of the total is formed by exactly the additions of the single-process
//! sum, in the same order, so the result has the same bits for any number of processes.
//!
//! A header travels before the chunks: the running sum of the shards' losses (the same left fold,
//! in `f64`), the correct count, the step counter (ranks out of step are an error), and the first
//! rank whose shards failed. The total comes back with the final header, so every rank sees the
//! same loss, the same failure, and (checking the total it unpacks) the same finiteness: a
//! non-finite gradient on one rank stops every rank with the same error at the same step.

use std::ops::Range;
use std::time::{Duration, Instant};

use nn_core::{Float, Network};
use nn_train::reduce::shard_span;
use nn_train::{GradientReducer, LocalShards, StepTotals};

use crate::Error;
use crate::error::FailureCause;
use crate::group::{Group, with_link};
use crate::layout::Layout;
use crate::link::{Element, Link, Polled, Waiter, wait_recv, wait_sends};
use crate::stats::{CommStats, StatsHandle};

/// Header words: loss bits, correct count, failure, step.
const HDR: usize = 4;
/// Tags of the chain: headers, then two per chunk (forward, backward).
const TAG_HDR_FWD: i32 = 1;
const TAG_HDR_BWD: i32 = 2;
fn tag_fwd(k: usize) -> i32 {
    16 + 2 * i32::try_from(k).unwrap_or(0)
}
fn tag_bwd(k: usize) -> i32 {
    tag_fwd(k) + 1
}
/// Failure word: `kind << 32 | (rank + 1)`, 0 for none.
const KIND_SHARD: u64 = 1 << 32;
const KIND_STEP: u64 = 2 << 32;
const KIND_SHAPE: u64 = 3 << 32;
/// How much longer each rank down the chain waits than the one before it: the neighbour of a lost
/// rank gives up first, and names it.
const STAGGER: Duration = Duration::from_millis(500);
const DURING: &str = "the gradient reduction";

/// Sums the shard gradients of every process of a [`Group`], exactly as one process would (see
/// the [module documentation](self)); implements [`GradientReducer`]. Built with
/// [`Group::chain_reducer`]; attach it with
/// [`Trainer::with_reducer`](nn_train::Trainer::with_reducer).
///
/// Rank `r` of `N` runs the shards `shard_span(n_shards, N, r)` (⌊S/N⌋ each, one more for the first
/// `S mod N` ranks): at least as many shards as processes are needed.
///
/// Per step, every link between neighbours carries the gradient once in each direction (plus
/// 64 bytes of headers); a few small vectors of request handles are allocated per step.
pub struct ChainReducer<T: Float + Element> {
    group: Group,
    layout: Layout,
    fwd_in: Vec<T>,
    out: Vec<T>,
    bwd_in: Vec<T>,
    hdr_fwd: [u64; HDR],
    hdr_out: [u64; HDR],
    hdr_bwd: [u64; HDR],
    stats: StatsHandle,
}

impl<T: Float + Element> std::fmt::Debug for ChainReducer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainReducer")
            .field("rank", &self.group.rank())
            .field("size", &self.group.size())
            .field("chunks", &self.layout.chunks.len())
            .finish_non_exhaustive()
    }
}

impl<T: Float + Element> ChainReducer<T> {
    pub(crate) fn new(group: Group, net: &Network<T>) -> Result<Self, Error> {
        let layout = Layout::new(net, group.options().chunk_elems)?;
        let (r, n) = (group.rank(), group.size());
        let len = layout.len;
        Ok(ChainReducer {
            fwd_in: vec![T::ZERO; if r > 0 { len } else { 0 }],
            out: vec![T::ZERO; if n > 1 { len } else { 0 }],
            bwd_in: vec![T::ZERO; if r + 1 < n { len } else { 0 }],
            hdr_fwd: [0; HDR],
            hdr_out: [0; HDR],
            hdr_bwd: [0; HDR],
            layout,
            group,
            stats: StatsHandle::default(),
        })
    }

    /// A handle on the communication counters (bytes, time), which stays valid after the reducer
    /// moved into a trainer.
    #[must_use]
    pub fn stats(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// The shards rank `rank` of `size` runs, out of `n_shards`.
    #[must_use]
    pub fn shards_of(rank: usize, size: usize, n_shards: usize) -> Range<usize> {
        shard_span(n_shards, size, rank)
    }
}

impl<T: Float + Element> GradientReducer<T> for ChainReducer<T> {
    fn local_shards(&self, n_shards: usize) -> Result<Range<usize>, nn_train::Error> {
        let size = self.group.size();
        if n_shards < size {
            return Err(Error::TooFewShards { n_shards, n_processes: size }.into());
        }
        Ok(Self::shards_of(self.group.rank(), size, n_shards))
    }

    fn reduce(&mut self, shards: &mut LocalShards<'_, T>) -> Result<StepTotals, nn_train::Error> {
        let started = Instant::now();
        let span = tracing::debug_span!("reduce", step = shards.step());
        let _entered = span.enter();
        let (r, n) = (self.group.rank(), self.group.size());
        if n == 1 {
            // One process: the local in-order sum (the same additions, in place).
            let (loss, correct) = shards.fold_outcomes(0.0, 0)?;
            let finite = shards.sum_in_order();
            self.stats.add(&CommStats {
                steps: 1,
                reduce_time: started.elapsed(),
                ..CommStats::default()
            });
            return Ok(StepTotals { loss, correct, finite });
        }
        let mut stats = CommStats { steps: 1, ..CommStats::default() };
        let timeout = self.group.options().timeout;
        let ChainReducer { group, layout, fwd_in, out, bwd_in, hdr_fwd, hdr_out, hdr_bwd, .. } =
            self;
        let bufs = Bufs {
            fwd_in: fwd_in.as_mut_slice(),
            out: out.as_mut_slice(),
            bwd_in: bwd_in.as_mut_slice(),
            hdr_fwd: hdr_fwd.as_mut_slice(),
            hdr_out: hdr_out.as_mut_slice(),
            hdr_bwd: hdr_bwd.as_mut_slice(),
        };
        let local: &LocalShards<'_, T> = shards;
        let header = with_link!(group, link => chain_step(&mut link, layout, bufs, local, timeout, &mut stats))?;
        let [loss_bits, correct, failure, _] = header;
        // A failure anywhere (carried by the header) comes first: then every rank returns an error
        // at this step, before touching the total.
        if failure != 0 {
            let failed = (failure & 0xffff_ffff)
                .checked_sub(1)
                .and_then(|f| usize::try_from(f).ok())
                .unwrap_or(usize::MAX);
            if failed == r
                && let Some(e) = shards.first_error()
            {
                return Err(e.clone());
            }
            let cause = match failure & !0xffff_ffff {
                KIND_SHARD => FailureCause::Shards,
                KIND_STEP => FailureCause::OutOfStep,
                KIND_SHAPE => FailureCause::Shape,
                _ => FailureCause::Unknown,
            };
            return Err(Error::RankFailed { rank: failed, step: shards.step(), cause }.into());
        }
        // Every rank unpacks the same total, so every rank finds the same finiteness.
        let total = if r + 1 == n { &self.out } else { &self.bwd_in };
        let finite = match shards.total_mut().and_then(|t| self.layout.unpack(total, t)) {
            Some(finite) => finite,
            None => return Err(Error::GradientShape { rank: r }.into()),
        };
        stats.reduce_time = started.elapsed();
        self.stats.add(&stats);
        Ok(StepTotals {
            loss: f64::from_bits(loss_bits),
            correct: usize::try_from(correct).unwrap_or(usize::MAX),
            finite,
        })
    }
}

/// The buffers of one step.
struct Bufs<'a, T> {
    fwd_in: &'a mut [T],
    out: &'a mut [T],
    bwd_in: &'a mut [T],
    hdr_fwd: &'a mut [u64],
    hdr_out: &'a mut [u64],
    hdr_bwd: &'a mut [u64],
}

/// One step of the chain on rank `r`: returns the final header; the total is then in `out` (last
/// rank) or `bwd_in` (the others).
fn chain_step<'a, T: Float + Element, L: Link<'a>>(
    link: &mut L,
    layout: &Layout,
    Bufs { fwd_in, out, bwd_in, hdr_fwd, hdr_out, hdr_bwd }: Bufs<'a, T>,
    shards: &LocalShards<'_, T>,
    timeout: Duration,
    stats: &mut CommStats,
) -> Result<[u64; HDR], Error> {
    let (r, n) = (link.rank(), link.size());
    let last = n - 1;
    let n_chunks = layout.chunks.len();
    let elem = std::mem::size_of::<T>() as u64;
    let hdr_bytes = (HDR * 8) as u64;
    let stagger = |k: usize| STAGGER * u32::try_from(k).unwrap_or(u32::MAX);
    let (fwd_limit, bwd_limit) = (timeout + stagger(r), timeout + stagger(last - r));

    // Post every receive of the step.
    let hdr_fwd_req = (r > 0).then(|| link.irecv(r - 1, TAG_HDR_FWD, hdr_fwd));
    let mut hdr_bwd_req = (r < last).then(|| link.irecv(r + 1, TAG_HDR_BWD, hdr_bwd));
    let mut fwd_reqs = Vec::with_capacity(if r > 0 { n_chunks } else { 0 });
    if r > 0 {
        for (k, b) in layout.split_mut(fwd_in).into_iter().enumerate() {
            fwd_reqs.push(link.irecv(r - 1, tag_fwd(k), b));
        }
    }
    let mut bwd_reqs = Vec::with_capacity(if r < last { n_chunks } else { 0 });
    if r < last {
        for (k, b) in layout.split_mut(bwd_in).into_iter().enumerate() {
            bwd_reqs.push(link.irecv(r + 1, tag_bwd(k), b));
        }
    }
    let mut data_sends: Vec<(usize, L::Send<T>)> = Vec::with_capacity(2 * n_chunks);
    let mut hdr_sends: Vec<(usize, L::Send<u64>)> = Vec::with_capacity(2);

    // The header: continue the fold of the losses, or record the first failure.
    let incoming = match hdr_fwd_req {
        Some(req) => {
            let h = wait_recv(link, req, r - 1, fwd_limit, DURING)?;
            stats.bytes_received += hdr_bytes;
            Some([h[0], h[1], h[2], h[3]])
        }
        None => None,
    };
    let step = shards.step();
    let [in_loss, in_correct, mut failure, in_step] =
        incoming.unwrap_or([0f64.to_bits(), 0, 0, step]);
    let (mut loss, mut correct) = (f64::from_bits(in_loss), in_correct);
    if in_step != step {
        if failure == 0 {
            failure = KIND_STEP | (r as u64 + 1);
        }
    } else if !layout.fits(shards) {
        if failure == 0 {
            failure = KIND_SHAPE | (r as u64 + 1);
        }
    } else {
        match shards.fold_outcomes(loss, usize::try_from(correct).unwrap_or(usize::MAX)) {
            Ok((l, c)) => (loss, correct) = (l, c as u64),
            Err(_) if failure == 0 => failure = KIND_SHARD | (r as u64 + 1),
            Err(_) => {}
        }
    }
    hdr_out.copy_from_slice(&[loss.to_bits(), correct, failure, step]);
    let hdr_out: &'a [u64] = hdr_out;
    let mut final_header = None;
    if r < last {
        hdr_sends.push((r + 1, link.isend(r + 1, TAG_HDR_FWD, hdr_out)));
    } else {
        final_header = Some([hdr_out[0], hdr_out[1], hdr_out[2], hdr_out[3]]);
        hdr_sends.push((r - 1, link.isend(r - 1, TAG_HDR_BWD, hdr_out)));
    }
    stats.bytes_sent += hdr_bytes;

    // Forward and backward streams, chunk by chunk, whichever can move.
    let mut out_chunks = layout.split_mut(out).into_iter();
    let mut fwd_reqs = fwd_reqs.into_iter();
    let mut bwd_reqs = bwd_reqs.into_iter();
    let mut fwd_cur = fwd_reqs.next();
    let mut bwd_cur = bwd_reqs.next();
    let (mut k_fwd, mut k_bwd) = (0, 0);
    let mut waiter = Waiter::new();
    loop {
        let mut progress = false;
        if k_fwd < n_chunks {
            let ready = match fwd_cur.take() {
                None => Some(None), // Rank 0: nothing comes before its shards.
                Some(req) => match link.test_recv(req) {
                    Polled::Ready(d) => Some(Some(d)),
                    Polled::Pending(req) => {
                        fwd_cur = Some(req);
                        None
                    }
                    Polled::Failed(failure) => {
                        return Err(link.fail(failure.error(r, r - 1)));
                    }
                },
            };
            if let Some(incoming) = ready
                && let Some(dst) = out_chunks.next()
            {
                if incoming.is_some() {
                    stats.bytes_received += dst.len() as u64 * elem;
                    fwd_cur = fwd_reqs.next();
                }
                layout.fold_chunk(k_fwd, incoming, shards, dst);
                let dst: &'a [T] = dst;
                let (to, tag) =
                    if r < last { (r + 1, tag_fwd(k_fwd)) } else { (r - 1, tag_bwd(k_fwd)) };
                data_sends.push((to, link.isend(to, tag, dst)));
                stats.bytes_sent += dst.len() as u64 * elem;
                k_fwd += 1;
                progress = true;
            }
        }
        if let Some(req) = hdr_bwd_req.take() {
            match link.test_recv(req) {
                Polled::Ready(h) => {
                    stats.bytes_received += hdr_bytes;
                    final_header = Some([h[0], h[1], h[2], h[3]]);
                    if r > 0 {
                        hdr_sends.push((r - 1, link.isend(r - 1, TAG_HDR_BWD, h)));
                        stats.bytes_sent += hdr_bytes;
                    }
                    progress = true;
                }
                Polled::Pending(req) => hdr_bwd_req = Some(req),
                Polled::Failed(failure) => {
                    return Err(link.fail(failure.error(r, r + 1)));
                }
            }
        }
        if let Some(req) = bwd_cur.take() {
            match link.test_recv(req) {
                Polled::Ready(d) => {
                    stats.bytes_received += d.len() as u64 * elem;
                    if r > 0 {
                        data_sends.push((r - 1, link.isend(r - 1, tag_bwd(k_bwd), d)));
                        stats.bytes_sent += d.len() as u64 * elem;
                    }
                    k_bwd += 1;
                    bwd_cur = bwd_reqs.next();
                    progress = true;
                }
                Polled::Pending(req) => bwd_cur = Some(req),
                Polled::Failed(failure) => {
                    return Err(link.fail(failure.error(r, r + 1)));
                }
            }
        }
        if k_fwd == n_chunks && (r == last || (k_bwd == n_chunks && final_header.is_some())) {
            break;
        }
        if progress {
            waiter.progressed();
        } else {
            let (peer, limit) =
                if k_fwd < n_chunks { (r - 1, fwd_limit) } else { (r + 1, bwd_limit) };
            if let Err(waited) = waiter.idle(limit) {
                return Err(link.fail(Error::Timeout { rank: r, peer, waited, during: DURING }));
            }
        }
    }
    let sends_started = Instant::now();
    wait_sends(link, &mut data_sends, timeout, DURING)?;
    wait_sends(link, &mut hdr_sends, timeout, DURING)?;
    stats.wait_time = waiter.idle + sends_started.elapsed();
    final_header.ok_or(Error::Incomplete { rank: r })
}
