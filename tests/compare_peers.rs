//! `scripts/compare-peers.sh` against stand-ins: a bench executable and peer scripts that print
//! lines given by the test, so the parsing, the checks and the table of ratios are tested exactly
//! without PyTorch or a timed run.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Prints the next line queued for `<its name>-<workload>-<threads>` (and a warning on stderr, as
/// real programs do), or fails when none is left.
const STAND_IN: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
    case $1 in
        --workload) w=$2; shift ;;
        --threads) t=$2; shift ;;
    esac
    shift
done
q="$QUEUE/$(basename "$0")-$w-$t"
echo "warning: a stand-in" >&2
[ -s "$q" ] || { echo "no line left in $q" >&2; exit 3; }
head -n 1 "$q"
tail -n +2 "$q" > "$q.next" && mv "$q.next" "$q"
"#;

/// A Python that imports everything and runs the peer scripts (stand-ins) with sh.
const PYTHON: &str =
    "#!/bin/sh\nif [ \"$1\" = -c ]; then exit \"${IMPORT_STATUS:-0}\"; fi\nexec sh \"$@\"\n";

struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir =
            std::env::temp_dir().join(format!("nn-compare-peers-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["venv/bin", "peers", "queue"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let sandbox = Sandbox { dir };
        sandbox.executable("venv/bin/python", PYTHON);
        sandbox.executable("bench", STAND_IN);
        sandbox.executable("peers/torch_mlp.py", STAND_IN);
        sandbox.executable("peers/numpy_mlp.py", STAND_IN);
        sandbox.queue("bench-fma-peak-1", &["workload=fma-peak threads=1 gflops=100.0 simd=avx2"]);
        sandbox
    }

    fn executable(&self, path: &str, text: &str) {
        let path = self.dir.join(path);
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The lines `program --workload w --threads t` prints, one per call (`name` is
    /// `program-w-t`).
    fn queue(&self, name: &str, lines: &[&str]) {
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(self.dir.join("queue").join(name), text).unwrap();
    }

    /// Queues the given training figures (samples/s, one per round) for `program`, with a test
    /// accuracy and a peak RSS of its own.
    fn training(&self, program: &str, workload: &str, threads: u32, rates: &[u32]) {
        let (accuracy, rss) = match program {
            "bench" => (0.8773, 239.4),
            "torch_mlp.py" => (0.8713, 908.6),
            _ => (0.8703, 254.2),
        };
        let lines: Vec<String> = rates
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let accuracy = accuracy + 0.001 * i as f64;
                format!(
                    "library=x workload={workload} threads={threads} samples_per_s={r} s_per_epoch=0.5 test_accuracy={accuracy:.4} peak_rss_mib={rss}"
                )
            })
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        self.queue(&format!("{program}-{workload}-{threads}"), &lines);
    }

    fn inference(&self, program: &str, figures: &[(u32, f64)]) {
        let lines: Vec<String> = figures
            .iter()
            .map(|(rate, us)| {
                format!(
                    "workload=w3 threads=2 batch1000_samples_per_s={rate} batch1_median_us={us:.1} batch1_p90_us=99.0"
                )
            })
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        self.queue(&format!("{program}-w3-2"), &lines);
    }

    /// Queues three rounds whose ratios are known.
    fn three_rounds(&self) {
        self.training("bench", "w1", 2, &[100_000, 90_000, 120_000]);
        self.training("bench", "w1", 1, &[50_000, 60_000, 60_000]);
        self.training("torch_mlp.py", "w1", 2, &[50_000, 60_000, 40_000]);
        self.training("numpy_mlp.py", "w1", 2, &[80_000, 90_000, 100_000]);
        self.training("bench", "w2", 2, &[200_000, 200_000, 200_000]);
        self.training("numpy_mlp.py", "w2", 2, &[100_000, 250_000, 160_000]);
        self.inference("bench", &[(400_000, 10.0), (400_000, 12.0), (400_000, 11.0)]);
        self.inference("torch_mlp.py", &[(200_000, 40.0), (200_000, 40.0), (250_000, 40.0)]);
    }

    fn run(&self, rounds: &str, venv: &Path) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/compare-peers.sh");
        Command::new("bash")
            .arg(script)
            .arg(rounds)
            .env("PEERS_VENV", venv)
            .env("PEERS_DIR", self.dir.join("peers"))
            .env("BENCH", self.dir.join("bench"))
            .env("QUEUE", self.dir.join("queue"))
            .env_remove("DATA_DIR")
            .output()
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into(), String::from_utf8_lossy(&output.stderr).into())
}

#[test]
fn the_table_holds_the_medians_and_each_rounds_ratio() {
    let sandbox = Sandbox::new("table");
    sandbox.three_rounds();
    let output = sandbox.run("3", &sandbox.dir.join("venv"));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("CPU: "), "{stdout}");
    assert!(stdout.contains("workload=fma-peak threads=1 gflops=100.0"), "{stdout}");
    assert_eq!(stdout.matches("# round ").count(), 3, "{stdout}");
    let table: Vec<&str> = stdout.lines().skip_while(|l| !l.starts_with("| comparison")).collect();
    assert_eq!(
        table,
        [
            "| comparison | nn | peer | ratio: median [per round] |",
            "|---|---|---|---|",
            "| W1 train 784-256-128-10 ReLU, 2 threads, samples/s | 100,000 | PyTorch 50,000 | 2.00× [2.00, 1.50, 3.00] |",
            "| W1 train, 2 threads, samples/s | 100,000 | numpy 90,000 | 1.20× [1.25, 1.00, 1.20] |",
            "| W1 speed-up 1 → 2 threads (nn), samples/s | 100,000 | nn 1 thread 60,000 | 2.00× [2.00, 1.50, 2.00] |",
            "| W1 test accuracy (5 epochs, seed 0) | 0.8783 | PyTorch 0.8723; numpy 0.8713 | |",
            "| W1 peak RSS, MiB | 239 | PyTorch 909; numpy 254 | |",
            "| W2 train 784-100-10 sigmoid, 2 threads, samples/s | 200,000 | numpy 160,000 | 1.25× [2.00, 0.80, 1.25] |",
            "| W3 inference batch 1000, 2 threads, samples/s | 400,000 | PyTorch 200,000 | 2.00× [2.00, 2.00, 1.60] |",
            "| W3 inference batch 1, median latency | 11.0 µs | PyTorch 40.0 µs | 3.64× [4.00, 3.33, 3.64] |",
        ]
    );
}

#[test]
fn two_rounds_take_the_mean_of_the_middle_two() {
    let sandbox = Sandbox::new("even");
    sandbox.training("bench", "w1", 2, &[100_000, 150_000]);
    sandbox.training("bench", "w1", 1, &[50_000, 50_000]);
    sandbox.training("torch_mlp.py", "w1", 2, &[50_000, 50_000]);
    sandbox.training("numpy_mlp.py", "w1", 2, &[100_000, 100_000]);
    sandbox.training("bench", "w2", 2, &[1, 1]);
    sandbox.training("numpy_mlp.py", "w2", 2, &[1, 1]);
    sandbox.inference("bench", &[(1, 1.0), (1, 1.0)]);
    sandbox.inference("torch_mlp.py", &[(1, 1.0), (1, 1.0)]);
    let output = sandbox.run("2", &sandbox.dir.join("venv"));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("| 125,000 | PyTorch 50,000 | 2.50× [2.00, 3.00] |"), "{stdout}");
}

#[test]
fn a_missing_virtualenv_says_how_to_make_it() {
    let sandbox = Sandbox::new("novenv");
    let output = sandbox.run("1", &sandbox.dir.join("nowhere"));
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("no virtualenv at"), "{stderr}");
    assert!(stderr.contains("pip install -r"), "{stderr}");
    assert!(stderr.contains("benches/peers/requirements.txt"), "{stderr}");
}

#[test]
fn a_virtualenv_without_the_peers_packages_is_refused() {
    let sandbox = Sandbox::new("noimport");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/compare-peers.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg("1")
        .env("PEERS_VENV", sandbox.dir.join("venv"))
        .env("PEERS_DIR", sandbox.dir.join("peers"))
        .env("BENCH", sandbox.dir.join("bench"))
        .env("IMPORT_STATUS", "1")
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("lacks numpy, threadpoolctl or torch"), "{stderr}");
}

#[test]
fn a_bad_round_count_is_refused() {
    let sandbox = Sandbox::new("rounds");
    for rounds in ["0", "-1", "three", "1.5", "1000"] {
        let output = sandbox.run(rounds, &sandbox.dir.join("venv"));
        let (_, stderr) = text(&output);
        assert!(!output.status.success(), "{rounds}");
        assert!(stderr.contains("usage:"), "{rounds}: {stderr}");
    }
}

#[test]
fn a_line_without_the_figure_names_the_key_and_the_line() {
    let sandbox = Sandbox::new("nokey");
    sandbox.three_rounds();
    sandbox.queue("torch_mlp.py-w1-2", &["library=torch workload=w1 threads=2 samples_per_sec=5"]);
    let output = sandbox.run("1", &sandbox.dir.join("venv"));
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("torch_w1_t2: no samples_per_s= in: library=torch"), "{stderr}");
}

#[test]
fn a_figure_that_is_not_a_positive_number_is_refused() {
    for bad in ["nan", "0", "-5", "1,000", ""] {
        let sandbox = Sandbox::new("nan");
        sandbox.three_rounds();
        sandbox
            .queue("numpy_mlp.py-w1-2", &[&format!("workload=w1 threads=2 samples_per_s={bad}")]);
        let output = sandbox.run("1", &sandbox.dir.join("venv"));
        let (_, stderr) = text(&output);
        assert!(!output.status.success(), "{bad}");
        assert!(
            stderr.contains(&format!("samples_per_s={bad} is not a positive number")),
            "{stderr}"
        );
    }
}

#[test]
fn a_line_of_another_workload_or_thread_count_is_refused() {
    let sandbox = Sandbox::new("mismatch");
    sandbox.three_rounds();
    sandbox.queue("bench-w2-2", &["workload=w2 threads=1 samples_per_s=5"]);
    let output = sandbox.run("1", &sandbox.dir.join("venv"));
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("nn_w2_t2: expected workload=w2 threads=2 in:"), "{stderr}");
}

#[test]
fn a_failing_program_shows_its_output() {
    let sandbox = Sandbox::new("fails");
    sandbox.three_rounds();
    fs::remove_file(sandbox.dir.join("queue/numpy_mlp.py-w2-2")).unwrap();
    let output = sandbox.run("1", &sandbox.dir.join("venv"));
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("no line left in"), "{stderr}");
    assert!(stderr.contains("numpy_w2_t2 failed"), "{stderr}");
}
