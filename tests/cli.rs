//! The CLI binary as a user runs it: empty data is refused with a typed error and exit code 1.

use std::process::Command;

#[test]
fn empty_training_or_test_data_is_refused() {
    for (flag, what) in [("--train-limit", "no training images"), ("--test-limit", "no test images")] {
        let out = Command::new(env!("CARGO_BIN_EXE_shiftaddaug")).args(["train", flag, "0", "--out", "none"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag} 0: {err}");
        assert!(err.contains("INVALID_DATASET") && err.contains(what), "{flag} 0: {err}");
    }
}
