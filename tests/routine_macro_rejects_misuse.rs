//! `#[skein::routine]` refuses what cannot be a routine at compile time, with an error
//! at the offending code that says what to write instead.

#[test]
fn misuse_fails_to_compile_with_a_message_that_says_what_to_do() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
