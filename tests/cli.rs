//! The CLI binary as a user runs it: help and version exit 0, empty data is refused with a
//! typed error and exit code 1.

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

#[test]
fn help_and_version_exit_zero_and_list_every_subcommand() {
    for args in [&["--help"][..], &["train", "--help"], &["compare", "-h"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_shiftaddaug")).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        for sub in ["train", "compare", "trace"] {
            assert!(text.contains(&format!("shiftaddaug {sub}")), "{args:?}: {sub} missing from\n{text}");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_shiftaddaug")).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("shiftaddaug {}", env!("CARGO_PKG_VERSION")));
}
