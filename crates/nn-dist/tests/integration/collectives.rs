//! Start-up: the agreement, the broadcasts, the options.

use std::time::Duration;

use nn_core::{Activation, Network};
use nn_dist::{Difference, Error, Fingerprint, Group, Options, dataset_digest};
use nn_train::TrainConfig;
use nn_train::optim::OptimizerConfig;

use crate::support::{bits, blobs, classifier, on_ranks};

fn fingerprint(seed: u64, n: usize, tweak: bool) -> Fingerprint {
    let config =
        TrainConfig::new(10, 0.01, OptimizerConfig::sgd().with_momentum(0.9)).with_seed(seed);
    let mut data = blobs::<f32>(n, 4, 2, 3);
    if tweak {
        let x = nn_linalg::Mat::<f32>::from_fn(4, n, |i, j| {
            let v = data.inputs()[(i, j)];
            if (i, j) == (1, 5) { v + 1.0 } else { v }
        });
        data = nn_train::Dataset::classification(x, data.labels().unwrap().to_vec(), 2).unwrap();
    }
    Fingerprint::new().with_config_of(&config).with_data(&data)
}

#[test]
fn ranks_that_agree_start() {
    let results = on_ranks(4, Options::default(), |g| g.agree(&fingerprint(1, 30, false)));
    assert!(results.iter().all(Result::is_ok));
}

#[test]
fn every_rank_names_the_ranks_that_differ() {
    let results = on_ranks(4, Options::default(), |g| {
        let fp = match g.rank() {
            1 => fingerprint(2, 30, false), // another seed
            2 => fingerprint(1, 31, false), // another data size
            3 => fingerprint(1, 30, true),  // other data values
            _ => fingerprint(1, 30, false),
        };
        g.agree(&fp)
    });
    let first = results[0].clone().unwrap_err();
    for r in &results {
        assert_eq!(r.as_ref().unwrap_err(), &first);
    }
    assert!(first.is_collective());
    let Error::Disagree { differences } = &first else { panic!("{first:?}") };
    assert!(matches!(differences[0], Difference::Configuration { rank: 1, .. }));
    assert_eq!(differences[1], Difference::DataSize { rank: 2, found: (31, 4), expected: (30, 4) },);
    assert!(matches!(differences[2], Difference::Data { rank: 3, .. }));
    assert_eq!(differences.len(), 3);
    let text = first.to_string();
    assert!(text.contains("rank 1's configuration differs"), "{text}");
    assert!(text.contains("rank 2 has 31 training samples of 4 features, rank 0 has 30 of 4"));
    assert!(text.contains("rank 3's training data differ"), "{text}");
}

#[test]
fn a_rank_that_could_not_prepare_stops_every_rank() {
    let results = on_ranks(3, Options::default(), |g| {
        let fp = if g.rank() == 1 { Fingerprint::failed() } else { fingerprint(1, 30, false) };
        g.agree(&fp)
    });
    for r in results {
        let e = r.unwrap_err();
        assert_eq!(e, Error::RanksFailed { ranks: vec![1] });
        assert_eq!(e.to_string(), "rank 1 could not start (see its own message)");
    }
}

#[test]
fn every_rank_gets_rank_0s_bytes_and_parameters() {
    let results = on_ranks(5, Options::default(), |g| {
        let mut bytes: Vec<u8> = if g.is_root() {
            (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect()
        } else {
            vec![9; 3]
        };
        g.broadcast_bytes(&mut bytes).unwrap();
        let mut net: Network<f64> = classifier(&[5, 7, 3], Activation::Tanh, g.rank() as u64);
        g.broadcast_parameters(&mut net).unwrap();
        (bytes, bits(&net))
    });
    let root_net: Network<f64> = classifier(&[5, 7, 3], Activation::Tanh, 0);
    for (bytes, params) in &results {
        assert_eq!(bytes, &results[0].0);
        assert_eq!(bytes.len(), 100_000);
        assert_eq!(params, &bits(&root_net));
    }
}

#[test]
fn networks_of_other_sizes_are_refused_in_every_rank() {
    let results = on_ranks(3, Options::default(), |g| {
        let sizes: &[usize] = if g.rank() == 2 { &[5, 8, 3] } else { &[5, 7, 3] };
        let mut net: Network<f32> = classifier(sizes, Activation::Relu, 0);
        g.broadcast_parameters(&mut net)
    });
    for r in results {
        match r {
            Err(e @ Error::Disagree { .. }) => {
                let Error::Disagree { differences } = &e else { unreachable!() };
                assert_eq!(differences, &[Difference::NetworkSizes { ranks: vec![2] }]);
                assert!(
                    e.to_string().ends_with("rank 2 hold a network of other sizes than rank 0's")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_data_digest_sees_every_value_and_label() {
    let a = blobs::<f32>(20, 3, 2, 1);
    let b = nn_train::Dataset::classification(
        a.inputs().to_owned(),
        a.labels()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, &l)| if i == 19 { 1 - l } else { l })
            .collect(),
        2,
    )
    .unwrap();
    assert_eq!(dataset_digest(&a), dataset_digest(&a.clone()));
    assert_ne!(dataset_digest(&a), dataset_digest(&b));
    assert_ne!(dataset_digest(&a), dataset_digest(&a.head(19)));
}

#[test]
fn bad_options_are_errors() {
    for bad in [
        Options::default().with_timeout(Duration::ZERO),
        Options::default().with_startup_timeout(Duration::ZERO),
        Options::default().with_chunk_elems(0),
        Options::default().with_chunk_elems(1 << 25),
    ] {
        assert!(matches!(Group::threads(2, bad), Err(Error::InvalidOption { .. })));
    }
    assert!(matches!(Group::threads(0, Options::default()), Err(Error::InvalidOption { .. })));
    // Too many pieces for the message tags.
    let wide: Network<f32> = classifier(&[20_000, 2], Activation::Relu, 0);
    let g = Group::threads(1, Options::default().with_chunk_elems(1)).unwrap();
    assert!(matches!(
        g[0].chain_reducer(&wide),
        Err(Error::TooManyChunks { chunk_elems: 1, chunks: 20_001, max: 14_000 })
    ));
}
