//! The same over MPI: each test starts `mpirun -np N` on this test binary, which then runs one
//! child test in every rank (selected by `NN_DIST_MPI_CHILD`). Needs `mpirun` on the `PATH`.

use std::process::Command;

use nn_core::Activation;
use nn_dist::{Fingerprint, Group, Options};
use nn_train::optim::OptimizerConfig;
use nn_train::{BatchReport, Control, NoObserver, Observer, TrainConfig};

use crate::support::{blobs, classifier, outcome, train_alone, train_in_group};

const CHILD: &str = "NN_DIST_MPI_CHILD";

/// Runs the test `name` of this binary in `np` processes under `mpirun`; returns whether all
/// succeeded, and the output.
fn mpirun(np: usize, name: &str) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("mpirun")
        .args(["--oversubscribe", "-np", &np.to_string(), "-x", CHILD])
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// The child: trains in the MPI group and checks the bits against one process.
#[test]
fn child_trains_like_one_process() {
    if !is_child() {
        return;
    }
    let group = Group::mpi(Options::default().with_chunk_elems(100)).unwrap();
    let data = blobs::<f32>(70, 7, 3, 1);
    let start = classifier::<f32>(&[7, 24, 12, 3], Activation::Relu, 2);
    let config = TrainConfig::new(16, 0.01, OptimizerConfig::adam())
        .with_epochs(2)
        .with_shards(5)
        .with_dropout(0.2)
        .with_seed(5);
    group.agree(&Fingerprint::new().with_config_of(&config).with_data(&data)).unwrap();
    let (net, trainer) =
        train_in_group(&group, &start, &data, &config, None, &mut NoObserver).unwrap();
    let (alone_net, alone_trainer) = train_alone(&start, &data, &config, None);
    assert!(
        outcome(&net, &trainer) == outcome(&alone_net, &alone_trainer),
        "rank {} of {} differs from one process",
        group.rank(),
        group.size()
    );
    #[expect(clippy::print_stdout, reason = "the parent test reads it")]
    {
        println!("rank {} of {}: bit-identical", group.rank(), group.size());
    }
}

#[test]
fn mpi_ranks_train_bit_identically_to_one_process() {
    if is_child() {
        return;
    }
    for np in [1, 2, 3, 4] {
        let (ok, out) = mpirun(np, "mpi::child_trains_like_one_process");
        assert!(ok, "mpirun -np {np} failed:\n{out}");
        for rank in 0..np {
            assert!(out.contains(&format!("rank {rank} of {np}: bit-identical")), "{out}");
        }
    }
}

/// The child: rank 1 stops answering; the others must give up, naming it.
#[test]
fn child_loses_rank_1() {
    if !is_child() {
        return;
    }
    let options = Options::default().with_timeout(std::time::Duration::from_secs(2));
    let group = Group::mpi(options).unwrap();
    let data = blobs::<f32>(400, 7, 3, 1);
    let start = classifier::<f32>(&[7, 24, 3], Activation::Relu, 2);
    let config = TrainConfig::new(10, 0.01, OptimizerConfig::sgd().with_momentum(0.9))
        .with_epochs(5)
        .with_shards(3);
    let mut hang = HangAt(3);
    let observer: &mut (dyn Observer<f32> + Send) =
        if group.rank() == 1 { &mut hang } else { &mut NoObserver };
    let _ = train_in_group(&group, &start, &data, &config, None, observer);
    panic!("the job should have been aborted");
}

/// Hangs at batch `n` (as a stopped or unreachable process would) until the job is aborted.
struct HangAt(usize);

impl Observer<f32> for HangAt {
    fn on_batch(&mut self, report: &BatchReport) -> Control {
        if report.batch_idx == self.0 {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
        Control::Continue
    }
}

#[test]
fn a_hung_rank_aborts_the_mpi_job_naming_it() {
    if is_child() {
        return;
    }
    let started = std::time::Instant::now();
    let (ok, out) = mpirun(3, "mpi::child_loses_rank_1");
    assert!(!ok, "the job succeeded:\n{out}");
    assert!(started.elapsed().as_secs() < 30, "took {:?}", started.elapsed());
    assert!(out.contains("no message from rank 1"), "{out}");
    assert!(
        !out.contains("no message from rank 0") && !out.contains("no message from rank 2"),
        "{out}"
    );
}
