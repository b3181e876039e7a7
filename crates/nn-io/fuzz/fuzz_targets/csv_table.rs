//! CSV tables on arbitrary bytes: reading, fitting the preprocessing for every task, encoding
//! and the JSON round trip may fail with a typed error, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_io::tabular::{CsvOptions, Imputation, Preprocessor, TabularSpec, Task, parse_csv};

fuzz_target!(|data: &[u8]| {
    let options = CsvOptions::default().with_max_record_bytes(4096);
    let Ok(table) = parse_csv(data, &options) else { return };
    let Some(target) = table.columns().last().cloned() else { return };
    for task in [Task::Classification, Task::Regression, Task::Multilabel] {
        for imputation in [Imputation::Off, Imputation::Mean] {
            let spec = TabularSpec::new(task, [target.clone()]).with_imputation(imputation);
            let Ok(pre) = Preprocessor::fit(&table, &spec) else { continue };
            let _ = pre.transform_inputs::<f32>(&table);
            pre.transform_targets::<f32>(&table).expect("the training targets encode");
            let outputs = vec![0.5f32; pre.n_outputs() * table.n_rows()];
            pre.predictions_csv(&outputs).expect("outputs of the right shape");
            let back = Preprocessor::from_json(&pre.to_json()).expect("its own JSON reads back");
            assert_eq!(back, pre);
        }
    }
    // Whatever the bytes, as preprocessing JSON: an error or a consistent value.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(pre) = Preprocessor::from_json(text)
    {
        assert_eq!(Preprocessor::from_json(&pre.to_json()).expect("round trip"), pre);
    }
});
