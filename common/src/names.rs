//! Player names: 1 to 32 characters after trimming, no control characters.

/// Longest accepted name, in characters (not bytes).
pub const MAX_NAME_CHARS: usize = 32;

/// Trims `raw` and checks it; returns the name to store, or why it was refused.
pub fn validate(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("name must not be empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("name must be at most 32 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters");
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn trims_and_accepts_ordinary_names() {
        assert_eq!(validate("  alice ").unwrap(), "alice");
        assert_eq!(validate("Zoë Ω").unwrap(), "Zoë Ω");
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(validate(&"é".repeat(32)).is_ok());
        assert!(validate(&"é".repeat(33)).is_err());
        assert!(validate(&"a".repeat(33)).is_err());
    }

    #[test]
    fn refuses_empty_and_control_characters() {
        assert!(validate("").is_err());
        assert!(validate(" \t ").is_err());
        assert!(validate("al\u{7}ice").is_err());
        assert!(validate("a\nb").is_err());
    }
}
