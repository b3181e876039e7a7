//! CSV tables and their preprocessing: every bad input is a typed error naming its cell, the
//! statistics are exact, the preprocessing survives a model file bit for bit.

use std::fs::File;
use std::io::Write;

use nn_core::{Activation, Loss, Network};
use nn_io::tabular::{
    CellRef, CsvOptions, EncodedTargets, Feature, Imputation, Preprocessor, TabularError,
    TabularSpec, TargetEncoding, Task, parse_csv, read_csv,
};
use nn_io::{Error, ModelMetadata, load_model, save_model};

use crate::support::{TempDir, exact_network};

fn table(csv: &str) -> nn_io::tabular::Table {
    parse_csv(csv.as_bytes(), &CsvOptions::default()).unwrap()
}

fn parse_err(csv: &[u8]) -> TabularError {
    parse_csv(csv, &CsvOptions::default()).unwrap_err()
}

fn fit(csv: &str, spec: &TabularSpec) -> Result<Preprocessor, TabularError> {
    Preprocessor::fit(&table(csv), spec)
}

fn at(row: usize, line: u64, column: usize, name: &str) -> CellRef {
    CellRef { row, line, column, name: name.to_owned() }
}

fn regression(targets: &[&str]) -> TabularSpec {
    TabularSpec::new(Task::Regression, targets.iter().copied())
}

fn classification(target: &str) -> TabularSpec {
    TabularSpec::new(Task::Classification, [target])
}

// ---------------------------------------------------------------------------------------------
// Reading.

#[test]
fn an_empty_input_and_a_header_only_are_errors() {
    assert_eq!(parse_err(b""), TabularError::Empty);
    assert_eq!(parse_err(b"\n\n  \n"), TabularError::Empty);
    assert_eq!(parse_err(b"a,b\n"), TabularError::NoRows);
    assert_eq!(parse_err(b"a,b\n\n\n"), TabularError::NoRows);
    assert_eq!(parse_err(b"a,b"), TabularError::NoRows);
}

#[test]
fn ragged_rows_name_their_row_and_line() {
    let err = parse_err(b"a,b,c\n1,2,3\n\n4,5\n");
    assert_eq!(err, TabularError::Ragged { row: 2, line: 4, expected: 3, found: 2 });
    assert_eq!(err.to_string(), "row 2 (line 4): 2 fields, but the header has 3 columns");
    let err = parse_err(b"a,b\r\n1,2\r\n3,4,5\r\n");
    assert_eq!(err, TabularError::Ragged { row: 2, line: 3, expected: 2, found: 3 });
}

#[test]
fn cells_that_are_not_utf8_name_their_cell() {
    let err = parse_err(b"a,b\n1,caf\xe9\n");
    assert_eq!(err, TabularError::NotUtf8 { at: at(1, 2, 2, "b") });
    assert_eq!(
        err.to_string(),
        "row 1 (line 2), column 2 \"b\": not valid UTF-8 text (is the file in another encoding?)"
    );
    let err = parse_err(b"a,\xff\n1,2\n");
    assert_eq!(err, TabularError::NotUtf8 { at: at(0, 1, 2, "") });
    assert!(err.to_string().starts_with("header (line 1), column 2"));
}

#[test]
fn header_names_must_be_present_and_distinct() {
    assert_eq!(parse_err(b"a,,c\n1,2,3\n"), TabularError::EmptyName { column: 2 });
    assert_eq!(
        parse_err(b"a,b, a\n1,2,3\n"),
        TabularError::DuplicateName { name: "a".into(), first: 1, second: 3 }
    );
    // A byte-order mark is not part of the first name.
    let t = parse_csv(&b"\xef\xbb\xbfa,b\n1,2\n"[..], &CsvOptions::default()).unwrap();
    assert_eq!(t.columns(), ["a", "b"]);
}

#[test]
fn a_record_beyond_the_limit_is_an_error_not_a_huge_buffer() {
    let options = CsvOptions::default().with_max_record_bytes(100);
    let long = format!("a,b\n1,2\n3,{}\n", "x".repeat(200));
    let err = parse_csv(long.as_bytes(), &options).unwrap_err();
    assert_eq!(err, TabularError::RecordTooLong { line: 3, limit: 100 });
    // An unclosed quote swallows the rest of the file: the same error, at the quote's line.
    let unclosed = format!("a,b\n1,\"2\n{}", "3,4\n".repeat(100));
    let err = parse_csv(unclosed.as_bytes(), &options).unwrap_err();
    assert_eq!(err, TabularError::RecordTooLong { line: 2, limit: 100 });
    // Records up to the limit are fine.
    let fine = format!("a\n{}\n", "y".repeat(90));
    assert_eq!(parse_csv(fine.as_bytes(), &options).unwrap().n_rows(), 1);
}

/// A 10 GB file of zero bytes without a line break (sparse: nothing is written to disk) stops
/// after the default 16 MiB limit instead of buffering it.
#[test]
fn a_10_gb_line_is_an_error_after_the_limit() {
    let dir = TempDir::new("tabular-10g");
    let path = dir.join("huge.csv");
    File::create(&path).unwrap().set_len(10 << 30).unwrap();
    let err = read_csv(&path, &CsvOptions::default()).unwrap_err();
    let Error::Tabular { path: p, kind } = &err else { panic!("{err}") };
    assert_eq!(p, &path);
    assert_eq!(**kind, TabularError::RecordTooLong { line: 1, limit: 16 << 20 });
    assert!(err.to_string().contains("huge.csv: the record starting at line 1 is longer than"));
    // With a header first, the long line is line 2.
    let path = dir.join("header.csv");
    let mut f = File::create(&path).unwrap();
    f.write_all(b"a,b\n").unwrap();
    f.set_len(4 + (1 << 30)).unwrap();
    let options = CsvOptions::default().with_max_record_bytes(1 << 20);
    let err = read_csv(&path, &options).unwrap_err();
    let Error::Tabular { kind, .. } = err else { panic!() };
    assert_eq!(*kind, TabularError::RecordTooLong { line: 2, limit: 1 << 20 });
}

#[test]
fn unreadable_files_are_io_errors_naming_them() {
    let dir = TempDir::new("tabular-io");
    let missing = dir.join("missing.csv");
    assert!(
        matches!(read_csv(&missing, &CsvOptions::default()), Err(Error::Io { path, .. }) if path == missing)
    );
    let folder = dir.join("folder");
    std::fs::create_dir(&folder).unwrap();
    let err = read_csv(&folder, &CsvOptions::default()).unwrap_err();
    assert!(matches!(&err, Error::Io { .. } | Error::Tabular { .. }), "{err}");
}

#[test]
fn another_delimiter_reads_tsv() {
    let t =
        parse_csv(&b"a\tb\n1\t2 x\n"[..], &CsvOptions::default().with_delimiter(b'\t')).unwrap();
    assert_eq!(t.cell(0, 1), Some("2 x"));
}

// ---------------------------------------------------------------------------------------------
// Fitting and transforming features.

#[test]
fn numeric_columns_are_standardized_with_the_training_statistics() {
    // A constant regression target is fine too: centered, not scaled.
    let pre = fit("x,y\n1,3\n2,3\n3,3\n4,3\n", &regression(&["y"])).unwrap();
    let TargetEncoding::Regression { columns } = pre.target() else { panic!() };
    assert_eq!((columns[0].mean, columns[0].scale), (3.0, 1.0));
    let pre = fit("x,c,y\n1,5,1\n2,5,2\n3,5,3\n4,5,5\n", &regression(&["y"])).unwrap();
    let [Feature::Numeric(x), Feature::Numeric(c)] = pre.features() else { panic!() };
    assert_eq!((x.mean, x.scale), (2.5, 1.25f64.sqrt()));
    // A constant column: scale 1, so a new value is centered, never divided by zero.
    assert_eq!((c.mean, c.scale), (5.0, 1.0));
    let inputs = pre.transform_inputs::<f64>(&table("c,x\n7,6\n5,2.5\n")).unwrap();
    assert_eq!(inputs.values, [(6.0 - 2.5) / 1.25f64.sqrt(), 2.0, 0.0, 0.0]);
    assert_eq!((inputs.n_inputs, inputs.n_samples), (2, 2));
    assert!(inputs.warnings.is_empty());
}

#[test]
fn string_columns_are_one_hot_with_sorted_training_categories() {
    let csv = "color,size,label\nred,1,a\nblue,2,b\nred,3,a\ngreen,4,b\n";
    let pre = fit(csv, &classification("label")).unwrap();
    assert_eq!(pre.input_names(), ["color=blue", "color=green", "color=red", "size"]);
    let Feature::Categorical(color) = &pre.features()[0] else { panic!() };
    assert_eq!(color.frequencies, [0.25, 0.25, 0.5]);
    let inputs = pre
        .transform_inputs::<f32>(&table("size,color\n2.5,green\n2.5,purple\n2.5,pink\n2.5,red\n"))
        .unwrap();
    let rows: Vec<&[f32]> = inputs.values.chunks(4).collect();
    assert_eq!(rows[0], [0.0, 1.0, 0.0, 0.0]);
    assert_eq!(rows[1], [0.0, 0.0, 0.0, 0.0]);
    assert_eq!(rows[2], [0.0, 0.0, 0.0, 0.0]);
    assert_eq!(rows[3], [0.0, 0.0, 1.0, 0.0]);
    assert_eq!(inputs.warnings.len(), 1);
    let w = &inputs.warnings[0];
    assert_eq!((w.column.as_str(), w.count, w.first_value.as_str()), ("color", 2, "purple"));
    assert_eq!(w.first, at(2, 3, 2, "color"));
    assert_eq!(
        w.to_string(),
        "column \"color\": 2 values of a category not seen in training (the first: \"purple\" at row 2 (line 3)), encoded as no category (all zeros)"
    );
}

#[test]
fn columns_are_found_by_name_in_any_order_and_extra_columns_are_ignored() {
    let pre = fit("a,b,t\n1,x,0\n2,y,1\n", &classification("t")).unwrap();
    let one = pre.transform_inputs::<f64>(&table("a,b,t\n1,x,0\n2,y,1\n")).unwrap();
    let two = pre.transform_inputs::<f64>(&table("id,b,a\n7,x,1\n8,y,2\n")).unwrap();
    assert_eq!(one, two);
    let err = pre.transform_inputs::<f64>(&table("b,c\nx,1\n")).unwrap_err();
    assert_eq!(
        err,
        TabularError::MissingColumn { name: "a".into(), available: "\"b\", \"c\"".into() }
    );
}

#[test]
fn missing_values_are_errors_unless_imputed() {
    let csv = "x,color,y\n1,red,1\n,blue,2\n3,,3\n5,red,4\n";
    let err = fit(csv, &regression(&["y"])).unwrap_err();
    assert_eq!(err, TabularError::MissingValue { at: at(2, 3, 1, "x") });
    assert_eq!(
        err.to_string(),
        "row 2 (line 3), column 1 \"x\": missing value, and imputation is off"
    );
    let spec = regression(&["y"]).with_imputation(Imputation::Mean);
    let pre = fit(csv, &spec).unwrap();
    let [Feature::Numeric(x), Feature::Categorical(color)] = pre.features() else { panic!() };
    // The mean of the values present.
    assert_eq!(x.mean, 3.0);
    assert_eq!(color.categories, ["blue", "red"]);
    let inputs = pre.transform_inputs::<f64>(&table("x,color\n,\n")).unwrap();
    // A numeric cell takes the mean (0 standardized), a string cell the category frequencies.
    assert_eq!(inputs.values, [0.0, 1.0 / 3.0, 2.0 / 3.0]);
    // Without imputation, the same cells at transform time are errors too.
    let pre = fit("x,color,y\n1,red,1\n2,blue,2\n", &regression(&["y"])).unwrap();
    let err = pre.transform_inputs::<f64>(&table("x,color\n1,red\n2,\n")).unwrap_err();
    assert_eq!(err, TabularError::MissingValue { at: at(2, 3, 2, "color") });
    // A column without any value cannot be fitted, imputed or not.
    let err = fit("x,z,y\n1,,1\n2,,2\n", &spec).unwrap_err();
    assert_eq!(err, TabularError::EmptyColumn { column: "z".into() });
}

#[test]
fn nan_and_infinity_strings_are_errors_naming_their_cell() {
    for bad in ["nan", "NaN", "inf", "-inf", "+Infinity", "-infinity"] {
        let err = fit(&format!("x,y\n1,1\n{bad},2\n"), &regression(&["y"])).unwrap_err();
        assert_eq!(err, TabularError::NonFinite { at: at(2, 3, 1, "x"), value: bad.into() });
        let err = fit(&format!("x,y\n1,1\n2,{bad}\n"), &regression(&["y"])).unwrap_err();
        assert_eq!(err, TabularError::NonFinite { at: at(2, 3, 2, "y"), value: bad.into() });
    }
    let pre = fit("x,y\n1,1\n2,2\n", &regression(&["y"])).unwrap();
    let err = pre.transform_inputs::<f32>(&table("x\n1\nNaN\n")).unwrap_err();
    assert_eq!(err, TabularError::NonFinite { at: at(2, 3, 1, "x"), value: "NaN".into() });
    assert_eq!(err.to_string(), "row 2 (line 3), column 1 \"x\": \"NaN\" is not a finite number");
}

#[test]
fn a_string_in_a_numeric_column_at_test_time_is_an_error() {
    let pre = fit("x,y\n1,1\n2,2\n", &regression(&["y"])).unwrap();
    let err = pre.transform_inputs::<f32>(&table("x\n1\n2\nabc\n")).unwrap_err();
    assert_eq!(
        err,
        TabularError::NotANumber { at: at(3, 4, 1, "x"), value: "abc".into(), target: false }
    );
}

#[test]
fn too_many_categories_is_an_error_with_a_hint_for_numeric_typos() {
    let mut csv = String::from("x,y\n");
    for i in 0..20 {
        csv.push_str(&format!("{i}.5,{i}\n"));
    }
    csv.push_str("1O.5,3\n");
    let spec = regression(&["y"]).with_max_categories(10);
    let err = fit(&csv, &spec).unwrap_err();
    let TabularError::TooManyCategories { column, found, limit, first_non_number, .. } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((column.as_str(), *found, *limit), ("x", 11, 10));
    assert_eq!(**first_non_number.as_ref().unwrap(), (at(21, 22, 1, "x"), "1O.5".to_owned()));
    assert!(err.to_string().contains("a typo in a numeric column?"), "{err}");
    // Within the limit, the same column is categorical, with one input per value.
    let pre = fit(&csv, &regression(&["y"])).unwrap();
    assert_eq!(pre.n_inputs(), 21);
}

#[test]
fn forced_categorical_and_ignored_columns() {
    let csv = "id,zip,x,y\n1,75001,1,1\n2,69001,2,2\n3,75001,3,3\n";
    let spec = regression(&["y"]).with_categorical(["zip"]).with_ignored(["id"]);
    let pre = fit(csv, &spec).unwrap();
    assert_eq!(pre.input_names(), ["zip=69001", "zip=75001", "x"]);
    assert_eq!(pre.columns(), ["id", "zip", "x", "y"]);
    // The ignored column is not needed later.
    assert!(pre.transform_inputs::<f32>(&table("x,zip\n1,75001\n")).is_ok());
    for (spec, unknown) in [
        (regression(&["y"]).with_ignored(["nope"]), "nope"),
        (regression(&["y"]).with_categorical(["nada"]), "nada"),
        (regression(&["w"]), "w"),
    ] {
        let err = fit(csv, &spec).unwrap_err();
        assert!(matches!(&err, TabularError::MissingColumn { name, .. } if name == unknown));
    }
}

#[test]
fn inconsistent_specs_are_errors() {
    let csv = "a,b,c\n1,0,1\n2,1,0\n";
    let cases = [
        TabularSpec::new(Task::Classification, ["b", "c"]),
        TabularSpec::new(Task::Regression, Vec::<String>::new()),
        regression(&["b", "b"]),
        regression(&["b"]).with_ignored(["b"]),
        regression(&["b"]).with_ignored(["a"]).with_categorical(["a"]),
        regression(&["b"]).with_ignored(["a", "c"]),
        regression(&["b"]).with_max_categories(0),
    ];
    for spec in cases {
        let err = fit(csv, &spec).unwrap_err();
        assert!(matches!(err, TabularError::Spec { .. }), "{spec:?}: {err}");
    }
}

#[test]
fn values_beyond_the_float_range_once_standardized_are_errors() {
    // Mean 1e-150, deviation 1e-150: 1e-100 standardizes to about 1e50, beyond f32.
    let pre = fit("x,y\n0,1\n2e-150,2\n", &regression(&["y"])).unwrap();
    let err = pre.transform_inputs::<f32>(&table("x\n1e-100\n")).unwrap_err();
    assert!(
        matches!(&err, TabularError::OutOfRange { at: a, float: "f32", .. } if *a == at(1, 2, 1, "x")),
        "{err}"
    );
    assert!(pre.transform_inputs::<f64>(&table("x\n1e-100\n")).is_ok());
    let err = pre.transform_inputs::<f64>(&table("x\n1e200\n")).unwrap_err();
    assert!(matches!(&err, TabularError::OutOfRange { float: "f64", .. }), "{err}");
    let err = fit("x,y\n1.5e308,1\n1.6e308,2\n", &regression(&["y"])).unwrap_err();
    assert_eq!(err, TabularError::Overflow { column: "x".into() });
}

// ---------------------------------------------------------------------------------------------
// Targets.

#[test]
fn class_labels_are_sorted_as_numbers_or_strings() {
    let pre = fit("x,t\n1,10\n2,9\n3,2\n4,9\n", &classification("t")).unwrap();
    assert_eq!(pre.output_names(), ["2", "9", "10"]);
    let EncodedTargets::Classes { labels, n_classes } =
        pre.transform_targets::<f32>(&table("x,t\n0,9\n0,10\n0,2\n")).unwrap()
    else {
        panic!()
    };
    assert_eq!((labels, n_classes), (vec![1, 2, 0], 3));
    let pre =
        fit("x,t\n1,setosa\n2,virginica\n3,versicolor\n4,10\n", &classification("t")).unwrap();
    assert_eq!(pre.output_names(), ["10", "setosa", "versicolor", "virginica"]);
    assert_eq!(pre.task().loss(), Loss::SoftmaxCrossEntropy);
}

#[test]
fn classification_target_errors_name_their_cell() {
    let pre = fit("x,t\n1,cat\n2,dog\n", &classification("t")).unwrap();
    let err = pre.transform_targets::<f32>(&table("x,t\n1,cat\n2,cow\n")).unwrap_err();
    assert_eq!(
        err,
        TabularError::UnknownClass { at: at(2, 3, 2, "t"), value: "cow".into(), n_classes: 2 }
    );
    let err = pre.transform_targets::<f32>(&table("x,t\n1,\n")).unwrap_err();
    assert_eq!(err, TabularError::MissingTarget { at: at(1, 2, 2, "t") });
    let err = pre.transform_targets::<f32>(&table("x,s\n1,cat\n")).unwrap_err();
    assert!(matches!(err, TabularError::MissingColumn { .. }));
    let err = fit("x,t\n1,cat\n2,cat\n", &classification("t")).unwrap_err();
    assert_eq!(err, TabularError::SingleClass { column: "t".into(), class: "cat".into() });
    let err = fit("x,t\n1,cat\n2,\n", &classification("t")).unwrap_err();
    assert_eq!(err, TabularError::MissingTarget { at: at(2, 3, 2, "t") });
    let many: String = (0..30).map(|i| format!("{i},{}.25\n", i)).collect();
    let spec = classification("t").with_max_categories(20);
    let err = fit(&format!("x,t\n{many}"), &spec).unwrap_err();
    assert!(err.to_string().contains("classes (is it a regression target?)"), "{err}");
}

#[test]
fn regression_targets_are_standardized_and_kept_in_their_units() {
    let pre = fit("x,a,b\n1,10,-1\n2,20,-1\n3,30,-1\n", &regression(&["a", "b"])).unwrap();
    let TargetEncoding::Regression { columns } = pre.target() else { panic!() };
    assert_eq!((columns[0].mean, columns[1].mean, columns[1].scale), (20.0, -1.0, 1.0));
    let EncodedTargets::Regression { values, original, n_targets } =
        pre.transform_targets::<f64>(&table("a,b\n30,0\n")).unwrap()
    else {
        panic!()
    };
    assert_eq!(n_targets, 2);
    assert_eq!(original, [30.0, 0.0]);
    assert_eq!(values, [10.0 / columns[0].scale, 1.0]);
    // Network outputs go back to the original units.
    assert_eq!(pre.outputs_to_original(&values).unwrap(), original);
    assert!(matches!(pre.outputs_to_original(&[1.0f32]), Err(TabularError::OutputShape { .. })));
}

#[test]
fn a_non_numeric_regression_target_is_an_error_naming_its_cell() {
    // A decimal comma splits the row: a ragged row, before any number is read.
    assert!(matches!(parse_err(b"x,y\n1,2.5\n2,3,5\n"), TabularError::Ragged { row: 2, .. }));
    let err = fit("x,y\n1,2.5\n2,high\n", &regression(&["y"])).unwrap_err();
    assert_eq!(
        err,
        TabularError::NotANumber { at: at(2, 3, 2, "y"), value: "high".into(), target: true }
    );
    assert_eq!(
        err.to_string(),
        "row 2 (line 3), column 2 \"y\": \"high\" is not a number (regression targets must be numbers)"
    );
    let err = fit("x,y\n1,2.5\n2,\n", &regression(&["y"])).unwrap_err();
    assert_eq!(err, TabularError::MissingTarget { at: at(2, 3, 2, "y") });
    let err = fit("x,y\n1,2.5\n", &regression(&["z"])).unwrap_err();
    assert!(matches!(err, TabularError::MissingColumn { name, .. } if name == "z"));
}

#[test]
fn multilabel_targets_are_zero_or_one() {
    let spec = TabularSpec::new(Task::Multilabel, ["p", "q"]);
    let pre = fit("x,p,q\n1,0,1\n2,1,1.0\n", &spec).unwrap();
    assert_eq!(pre.n_outputs(), 2);
    let EncodedTargets::Multilabel { values, n_labels } =
        pre.transform_targets::<f32>(&table("p,q\n1,0\n0,0\n")).unwrap()
    else {
        panic!()
    };
    assert_eq!((values, n_labels), (vec![1.0, 0.0, 0.0, 0.0], 2));
    for bad in ["2", "yes", "0.5", "nan"] {
        let err = fit(&format!("x,p,q\n1,0,1\n2,1,{bad}\n"), &spec).unwrap_err();
        assert_eq!(err, TabularError::NotBinary { at: at(2, 3, 3, "q"), value: bad.into() });
    }
    let err = fit("x,p,q\n1,0,1\n2,1,\n", &spec).unwrap_err();
    assert_eq!(err, TabularError::MissingTarget { at: at(2, 3, 3, "q") });
}

// ---------------------------------------------------------------------------------------------
// Splits.

#[test]
fn splits_are_seeded_disjoint_and_stratified() {
    let mut csv = String::from("x,t\n");
    for i in 0..100 {
        csv.push_str(&format!("{i},{}\n", if i % 10 == 0 { "rare" } else { "common" }));
    }
    csv.push_str("100,single\n");
    let t = table(&csv);
    let (a, b) = t.split(0.2, 7, None).unwrap();
    assert_eq!((a.n_rows(), b.n_rows()), (81, 20));
    assert_eq!(t.split(0.2, 7, None).unwrap(), (a.clone(), b.clone()));
    assert_ne!(t.split(0.2, 8, None).unwrap().1, b);
    let mut xs: Vec<usize> =
        a.column_cells(0).chain(b.column_cells(0)).map(|c| c.parse().unwrap()).collect();
    xs.sort_unstable();
    assert_eq!(xs, (0..=100).collect::<Vec<_>>());
    // Stratified: each class keeps its share, and the single sample stays in the first part.
    let (a, b) = t.split(0.2, 7, Some("t")).unwrap();
    let count =
        |t: &nn_io::tabular::Table, class: &str| t.column_cells(1).filter(|c| *c == class).count();
    assert_eq!((count(&b, "rare"), count(&b, "common"), count(&b, "single")), (2, 18, 0));
    assert_eq!(count(&a, "single"), 1);
    // Errors point into the original file.
    let first_b = b.cell_ref(0, 0);
    let x: u64 = b.cell(0, 0).unwrap().parse().unwrap();
    assert_eq!((first_b.row as u64, first_b.line), (x + 1, x + 2));
    for bad in [0.0, 1.0, -0.5, f64::NAN] {
        assert!(matches!(t.split(bad, 0, None), Err(TabularError::Spec { .. })));
    }
    assert!(matches!(table("x\n1\n").split(0.4, 0, None), Err(TabularError::EmptySplit { .. })));
    assert!(matches!(t.split(0.2, 0, Some("nope")), Err(TabularError::MissingColumn { .. })));
}

// ---------------------------------------------------------------------------------------------
// Stored in the model.

fn fitted_examples() -> Vec<Preprocessor> {
    let csv =
        "x,color,size,t,u,v\n0.1,red,S,cat,1.5,0\n0.7,blue,M,dog,-2.25,1\n1e-3,red,,cat,3,1\n";
    let spec_c = classification("t").with_ignored(["u", "v"]).with_imputation(Imputation::Mean);
    let spec_r = regression(&["u", "x"]).with_ignored(["t", "v"]).with_imputation(Imputation::Mean);
    let spec_m = TabularSpec::new(Task::Multilabel, ["v"])
        .with_ignored(["t", "u"])
        .with_categorical(["x"])
        .with_imputation(Imputation::Mean);
    [spec_c, spec_r, spec_m].iter().map(|s| fit(csv, s).unwrap()).collect()
}

#[test]
fn the_preprocessing_round_trips_through_json_bit_for_bit() {
    for pre in fitted_examples() {
        let json = pre.to_json();
        let back = Preprocessor::from_json(&json).unwrap();
        assert_eq!(back, pre);
        assert_eq!(back.to_json(), json);
    }
    // 0.1 + 0.7 + 1e-3 does not have a short decimal form: it must still come back exactly.
    let pre = &fitted_examples()[0];
    let Feature::Numeric(x) = &pre.features()[0] else { panic!() };
    let back = Preprocessor::from_json(&pre.to_json()).unwrap();
    let Feature::Numeric(back) = &back.features()[0] else { panic!() };
    assert_eq!((x.mean.to_bits(), x.scale.to_bits()), (back.mean.to_bits(), back.scale.to_bits()));
}

#[test]
fn the_preprocessing_travels_in_a_model_file() {
    let dir = TempDir::new("tabular-model");
    let path = dir.join("model.nnm");
    let pre = fitted_examples().remove(0);
    let net: Network<f32> =
        exact_network(&[pre.n_inputs(), 3, pre.n_outputs()], Activation::Relu, pre.task().loss());
    pre.check_network(&net).unwrap();
    let mut metadata = ModelMetadata::default();
    pre.store_in(&mut metadata);
    assert_eq!(metadata.class_names, ["cat", "dog"]);
    save_model(&path, &net, &metadata).unwrap();
    let loaded = load_model(&path).unwrap();
    assert_eq!(Preprocessor::from_metadata(&loaded.metadata).unwrap(), Some(pre));
    assert_eq!(Preprocessor::from_metadata(&ModelMetadata::default()).unwrap(), None);
}

#[test]
fn metadata_entries_describe_the_preprocessing_for_other_runtimes() {
    let [classes, regression, multilabel] =
        <[Preprocessor; 3]>::try_from(fitted_examples()).unwrap();
    let entries = regression.metadata_entries();
    assert_eq!(
        entries.keys().collect::<Vec<_>>(),
        [
            "tabular.columns",
            "tabular.input_transform",
            "tabular.inputs",
            "tabular.output_transform",
            "tabular.outputs",
            "tabular.preprocessing",
            "tabular.targets",
            "tabular.task",
        ]
    );
    assert_eq!(Preprocessor::from_json(&entries["tabular.preprocessing"]).unwrap(), regression);
    assert_eq!(entries["tabular.task"], "regression");
    assert_eq!(entries["tabular.columns"], r#"["x","color","size","t","u","v"]"#);
    assert_eq!(entries["tabular.inputs"], r#"["color=blue","color=red","size=M","size=S"]"#);
    assert_eq!(entries["tabular.outputs"], r#"["u","x"]"#);
    assert!(entries["tabular.output_transform"].contains("mean + scale * output"));
    assert_eq!(classes.metadata_entries()["tabular.outputs"], r#"["cat","dog"]"#);
    assert_eq!(classes.metadata_entries()["tabular.targets"], r#"["t"]"#);
    assert!(multilabel.metadata_entries()["tabular.output_transform"].contains("sigmoid"));
}

#[test]
fn a_network_that_does_not_fit_is_an_error() {
    let pre = fitted_examples().remove(1);
    let (n_in, n_out) = (pre.n_inputs(), pre.n_outputs());
    let mse = Loss::MeanSquaredError;
    assert!(
        pre.check_network(&exact_network::<f64>(&[n_in, n_out], Activation::Relu, mse)).is_ok()
    );
    for (sizes, loss, what) in [
        ([n_in + 1, n_out], mse, "inputs"),
        ([n_in, n_out + 1], mse, "outputs"),
        ([n_in, n_out], Loss::SigmoidBinaryCrossEntropy, "loss"),
    ] {
        let net = exact_network::<f64>(&sizes, Activation::Relu, loss);
        let err = pre.check_network(&net).unwrap_err();
        assert!(matches!(err, TabularError::NetworkMismatch { what: w, .. } if w == what));
    }
}

#[test]
fn hostile_preprocessing_json_is_an_error_never_a_panic() {
    let good = fitted_examples().remove(0).to_json();
    let replace = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replacen(from, to, 1)
    };
    let cases = [
        "not json".to_owned(),
        "{}".to_owned(),
        replace("nn-tabular-preprocessing", "something-else"),
        replace("\"task\":\"classification\"", "\"task\":\"regression\""),
        replace("\"task\":\"classification\"", "\"task\":\"clustering\""),
        replace("\"imputation\":\"mean\"", "\"imputation\":\"median\""),
        replace("\"classes\":[\"cat\",\"dog\"]", "\"classes\":[\"cat\"]"),
        replace("\"classes\":[\"cat\",\"dog\"]", "\"classes\":[\"cat\",\"cat\"]"),
        replace("\"categories\":[\"blue\",\"red\"]", "\"categories\":[\"red\",\"red\"]"),
        replace("\"categories\":[\"blue\",\"red\"]", "\"categories\":[\"blue\"]"),
        replace("\"name\":\"color\"", "\"name\":\"x\""),
        replace("\"name\":\"color\"", "\"name\":\"t\""),
        replace("\"name\":\"color\"", "\"name\":\"\""),
        replace("\"column\":\"t\"", "\"column\":\"x\""),
    ];
    for json in &cases {
        let err = Preprocessor::from_json(json).unwrap_err();
        assert!(matches!(err, TabularError::Metadata { .. }), "{json}: {err}");
    }
    let newer = replace("\"version\":1", "\"version\":2");
    assert_eq!(
        Preprocessor::from_json(&newer).unwrap_err(),
        TabularError::UnsupportedVersion { found: 2, supported: 1 }
    );
    // Scales and frequencies out of range.
    let r = fitted_examples().remove(1).to_json();
    let scale = r.find("\"scale\":").unwrap() + "\"scale\":".len();
    let end = scale + r[scale..].find([',', '}']).unwrap();
    for bad in ["0", "-1", "1e999"] {
        let json = format!("{}{bad}{}", &r[..scale], &r[end..]);
        assert!(Preprocessor::from_json(&json).is_err(), "{json}");
    }
    let freq = good.find("\"frequencies\":[").unwrap() + "\"frequencies\":[".len();
    let json =
        format!("{}0.9,0.9{}", &good[..freq], &good[good[freq..].find(']').unwrap() + freq..]);
    assert!(matches!(Preprocessor::from_json(&json), Err(TabularError::Metadata { .. })));
    // Every truncation and every byte changed to a quote or a digit: an error or a valid value.
    for cut in 0..good.len() {
        let _ = Preprocessor::from_json(&good[..cut]);
    }
    for i in 0..good.len() {
        for b in [b'"', b'9', b'{', b'-'] {
            let mut bytes = good.clone().into_bytes();
            bytes[i] = b;
            if let Ok(json) = String::from_utf8(bytes)
                && let Ok(pre) = Preprocessor::from_json(&json)
            {
                // What parses is consistent: it serializes and reads back the same.
                assert_eq!(Preprocessor::from_json(&pre.to_json()).unwrap(), pre);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Predictions.

#[test]
fn predictions_are_csv_in_the_targets_terms() {
    let pre = fit("x,species\n1,\"a, b\"\n2,c\n", &classification("species")).unwrap();
    let csv = pre.predictions_csv(&[0.25f32, 0.75, 0.5, 0.5]).unwrap();
    assert_eq!(csv, "species,\"prob_a, b\",prob_c\nc,0.25,0.75\n\"a, b\",0.5,0.5\n");
    let pre = fit("x,y\n1,10\n2,30\n", &regression(&["y"])).unwrap();
    let csv = pre.predictions_csv(&[1.0f64, -1.0, 0.5]).unwrap();
    assert_eq!(csv, "y\n30\n10\n25\n");
    let spec = TabularSpec::new(Task::Multilabel, ["p", "q"]);
    let pre = fit("x,p,q\n1,0,1\n2,1,0\n", &spec).unwrap();
    let csv = pre.predictions_csv(&[0.5f32, 0.25]).unwrap();
    assert_eq!(csv, "p,q,prob_p,prob_q\n1,0,0.5,0.25\n");
    assert!(matches!(pre.predictions_csv(&[0.5f32]), Err(TabularError::OutputShape { .. })));
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input.

/// Text made of the pieces CSV files are made of, so that random draws reach deep paths.
fn csv_like() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        Just(b",".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\"".to_vec()),
        Just(b" ".to_vec()),
        Just(b"1".to_vec()),
        Just(b"-2.5e3".to_vec()),
        Just(b"nan".to_vec()),
        Just(b"inf".to_vec()),
        Just(b"0".to_vec()),
        Just(b"red".to_vec()),
        Just(b"y".to_vec()),
        Just(b"\xff".to_vec()),
        Just("é".as_bytes().to_vec()),
        Just(b"\xef\xbb\xbf".to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    prop::collection::vec(piece, 0..80).prop_map(|pieces| pieces.concat())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
    ))]

    /// Reading, fitting every task, transforming, predicting and the JSON round trip: errors or
    /// consistent values, never a panic, whatever the bytes.
    #[test]
    fn arbitrary_tables_never_panic(bytes in csv_like(), max_record in 1usize..64) {
        let options = CsvOptions::default().with_max_record_bytes(max_record * 8);
        let Ok(t) = parse_csv(&bytes[..], &options) else { return Ok(()) };
        proptest::prop_assert!(t.n_rows() > 0);
        for r in 0..t.n_rows() {
            for c in 0..t.n_columns() {
                proptest::prop_assert!(t.cell(r, c).is_some());
            }
        }
        let last = t.columns().last().cloned().unwrap_or_default();
        for task in [Task::Classification, Task::Regression, Task::Multilabel] {
            for imputation in [Imputation::Off, Imputation::Mean] {
                let spec = TabularSpec::new(task, [last.clone()]).with_imputation(imputation);
                let Ok(pre) = Preprocessor::fit(&t, &spec) else { continue };
                if let Ok(inputs) = pre.transform_inputs::<f32>(&t) {
                    proptest::prop_assert_eq!(inputs.values.len(), pre.n_inputs() * t.n_rows());
                    proptest::prop_assert!(inputs.values.iter().all(|v| v.is_finite()));
                }
                // The training table's targets always encode.
                pre.transform_targets::<f64>(&t).unwrap();
                let outputs = vec![0.5f32; pre.n_outputs() * t.n_rows()];
                let csv = pre.predictions_csv(&outputs).unwrap();
                proptest::prop_assert_eq!(parse_csv(csv.as_bytes(), &CsvOptions::default()).unwrap().n_rows(), t.n_rows());
                proptest::prop_assert_eq!(Preprocessor::from_json(&pre.to_json()).unwrap(), pre);
            }
        }
    }
}
