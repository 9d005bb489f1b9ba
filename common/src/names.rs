//! Player names: 1 to 32 characters after trimming; no control characters, no
//! bidirectional controls (they could make a name read as another), something visible,
//! and not a name the service speaks as (`bot`, `system`, in any case).

/// Longest accepted name, in characters (not bytes).
pub const MAX_NAME_CHARS: usize = 32;

/// The sender of operators' messages in rooms.
pub const SYSTEM: &str = "system";

/// Names only the service may show as a sender, compared without regard to case.
pub const RESERVED: [&str; 2] = ["bot", SYSTEM];

/// Characters that change the direction of the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing: whitespace, format characters (zero-width spaces and
/// joiners, soft hyphen, word joiner, byte-order mark, tags), variation selectors, the
/// combining grapheme joiner and the blank fillers of Hangul and Braille.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

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
    if name.chars().any(is_bidi_control) {
        return Err("name must not contain bidirectional control characters");
    }
    if name.chars().all(is_invisible) {
        return Err("name must contain something visible");
    }
    if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
        return Err("that name is reserved");
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
        assert_eq!(validate("شادي").unwrap(), "شادي");
        assert_eq!(validate("robot").unwrap(), "robot");
        assert_eq!(
            validate("👩‍💻").unwrap(),
            "👩‍💻",
            "a joiner between visible characters"
        );
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
        assert!(
            validate("\u{00A0}\u{3000}").is_err(),
            "Unicode spaces trim away"
        );
        assert!(validate("al\u{7}ice").is_err());
        assert!(validate("a\nb").is_err());
    }

    #[test]
    fn refuses_names_that_show_nothing() {
        for name in [
            "\u{200B}",
            "\u{200B}\u{2060}\u{FEFF}",
            "\u{3164}",
            "\u{2800}\u{2800}",
            "\u{E0041}",
        ] {
            assert_eq!(
                validate(name),
                Err("name must contain something visible"),
                "{name:?}"
            );
        }
    }

    #[test]
    fn refuses_bidirectional_controls() {
        for name in ["ali\u{202E}ecb", "\u{2066}bob\u{2069}", "a\u{200F}b"] {
            assert_eq!(
                validate(name),
                Err("name must not contain bidirectional control characters"),
                "{name:?}"
            );
        }
    }

    #[test]
    fn refuses_the_services_own_names_in_any_case() {
        for name in ["bot", "BOT", " Bot ", "system", "System"] {
            assert_eq!(validate(name), Err("that name is reserved"), "{name:?}");
        }
    }
}
