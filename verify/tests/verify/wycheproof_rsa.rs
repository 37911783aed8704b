//! Wycheproof's RSA PKCS#1 v1.5 SHA-256 2048-bit vectors through the very function every
//! token signature goes through, [`VerifyingKey::verify_signature`].

use jwtd_verify::{Algorithm, VerifyingKey};
use wycheproof::TestResult;
use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};

#[test]
fn wycheproof_rsa_pkcs1_2048_sha256() {
    let set = TestSet::load(TestName::Rsa2048Sha256).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in set.test_groups {
        let key = VerifyingKey::rsa(Algorithm::Rs256, &group.key.n, &group.key.e).unwrap();
        for test in group.tests {
            let outcome = key.verify_signature(&test.msg, &test.sig);
            match test.result {
                TestResult::Valid => {
                    assert!(outcome.is_ok(), "tc {} ({}) must verify", test.tc_id, test.comment);
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(outcome.is_err(), "tc {} ({}) must fail", test.tc_id, test.comment);
                    invalid += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    assert!(valid > 0 && invalid > 100, "the vectors were not all skipped: {valid} valid, {invalid} invalid");
}
