//! The password rules (DOMAIN.md §10, MLPS "password complexity"): at least 12 characters,
//! three of the four classes (lowercase, uppercase, digits, others), not containing the
//! username, and not a common password. Applied wherever a password is set.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::error::ApiError;

pub const MIN_CHARS: usize = 12;
/// Longer than this is refused too: argon2 would hash it, but nobody types it.
pub const MAX_CHARS: usize = 256;

/// The rule a password breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyViolation {
    TooShort,
    TooLong,
    TooFewClasses,
    ContainsUsername,
    Common,
}

impl PolicyViolation {
    pub fn message(self) -> String {
        match self {
            PolicyViolation::TooShort => format!("must be at least {MIN_CHARS} characters"),
            PolicyViolation::TooLong => format!("must be at most {MAX_CHARS} characters"),
            PolicyViolation::TooFewClasses => "must mix three of: lowercase letters, \
                 uppercase letters, digits, other characters"
                .into(),
            PolicyViolation::ContainsUsername => "must not contain the username".into(),
            PolicyViolation::Common => "is a commonly used password".into(),
        }
    }

    pub fn message_zh(self) -> String {
        match self {
            PolicyViolation::TooShort => format!("密码至少 {MIN_CHARS} 个字符"),
            PolicyViolation::TooLong => format!("密码最多 {MAX_CHARS} 个字符"),
            PolicyViolation::TooFewClasses => {
                "密码须包含小写字母、大写字母、数字、其他字符中的至少三类".into()
            }
            PolicyViolation::ContainsUsername => "密码不能包含用户名".into(),
            PolicyViolation::Common => "密码过于常见".into(),
        }
    }

    /// The 422 `validation_failed` answer naming the rule, on `field`.
    pub fn into_api_error(self, field: &str) -> ApiError {
        let mut e = ApiError::invalid(field, self.message());
        e.message_zh = format!("{field} 不符合要求：{}", self.message_zh());
        e
    }
}

impl std::fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the password {}", self.message())
    }
}

impl std::error::Error for PolicyViolation {}

fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("# "))
            .collect()
    })
}

/// Checks `password` for `username`; the first rule broken, in the order documented above.
pub fn check(username: &str, password: &str) -> Result<(), PolicyViolation> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PolicyViolation::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PolicyViolation::TooLong);
    }
    let classes = [
        password.chars().any(char::is_lowercase),
        password.chars().any(char::is_uppercase),
        password.chars().any(|c| c.is_ascii_digit()),
        password
            .chars()
            .any(|c| !c.is_lowercase() && !c.is_uppercase() && !c.is_ascii_digit()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return Err(PolicyViolation::TooFewClasses);
    }
    let lower = password.to_lowercase();
    let username = username.trim().to_lowercase();
    if !username.is_empty() && lower.contains(&username) {
        return Err(PolicyViolation::ContainsUsername);
    }
    if common_passwords().contains(lower.as_str()) {
        return Err(PolicyViolation::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_mixed_password_passes() {
        assert_eq!(check("chen", "Tide-pool 42 lantern"), Ok(()));
        // Three classes are enough: lowercase, digits, others.
        assert_eq!(check("chen", "tide-pool-42-lantern"), Ok(()));
        // Non-ASCII letters count as letters; CJK (neither case) counts as "other".
        assert_eq!(check("chen", "网格安全Grid2026"), Ok(()));
    }

    #[test]
    fn eleven_characters_are_too_short_and_twelve_are_enough() {
        assert_eq!(check("chen", "Ab1-Ab1-Ab1"), Err(PolicyViolation::TooShort));
        assert_eq!(check("chen", "Ab1-Ab1-Ab1-"), Ok(()));
        assert_eq!(
            check("chen", &"Ab1-".repeat(65)),
            Err(PolicyViolation::TooLong)
        );
    }

    #[test]
    fn two_classes_are_not_enough() {
        assert_eq!(
            check("chen", "correct horse battery"),
            Err(PolicyViolation::TooFewClasses)
        );
        assert_eq!(
            check("chen", "CorrectHorseBattery"),
            Err(PolicyViolation::TooFewClasses)
        );
        assert_eq!(
            check("chen", "123456789012345"),
            Err(PolicyViolation::TooFewClasses)
        );
    }

    #[test]
    fn the_username_may_not_appear_in_any_case() {
        assert_eq!(
            check("Chen.Wei", "xx-CHEN.WEI-2026"),
            Err(PolicyViolation::ContainsUsername)
        );
        assert_eq!(check("chen.wei", "xx-Chen-Wei-2026"), Ok(()));
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for p in [
            "P@ssw0rd1234",
            "Password1234!",
            "Qwerty123456!",
            "Admin@123456",
        ] {
            assert_eq!(check("chen", p), Err(PolicyViolation::Common), "{p}");
        }
    }

    #[test]
    fn the_embedded_list_is_a_few_hundred_long_passwords() {
        let list = common_passwords();
        assert!(list.len() >= 300, "{}", list.len());
        assert!(list.iter().all(|p| p.chars().count() >= MIN_CHARS));
        assert!(list.iter().all(|p| *p == p.to_lowercase()));
    }

    #[test]
    fn the_message_names_the_rule() {
        let e = PolicyViolation::TooFewClasses.into_api_error("new_password");
        assert_eq!(e.code, crate::error::Code::ValidationFailed);
        assert!(e.message.contains("three of"), "{}", e.message);
        assert!(PolicyViolation::Common
            .to_string()
            .contains("commonly used"));
    }
}
