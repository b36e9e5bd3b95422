//! File names in the backup catalogue: which are accepted, and why the others
//! are refused. Names are relative, `/`-separated paths such as `docs/a.txt`;
//! they never reach a file system path on a server (content is stored under
//! its SHA-256), but a client writes them back to disk on `get`, so anything
//! that could climb out of a folder is refused here, on both sides.

use std::fmt;

/// The longest name accepted, in bytes (as PATH_MAX on Linux).
pub const MAX_NAME_BYTES: usize = 4096;

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The empty string.
    Empty,
    /// Longer than [`MAX_NAME_BYTES`].
    TooLong(usize),
    /// Holds a NUL byte.
    Nul,
    /// Holds another control character (newline, tab, ...).
    Control,
    /// Starts with `/`.
    Absolute,
    /// Has a `..` component.
    ParentDir,
    /// Has an empty or `.` component (`a//b`, `a/./b`, a trailing `/`).
    EmptyComponent,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "the name is empty"),
            NameError::TooLong(len) => {
                write!(f, "the name is {len} bytes long (at most {MAX_NAME_BYTES})")
            }
            NameError::Nul => write!(f, "the name holds a NUL byte"),
            NameError::Control => write!(f, "the name holds a control character"),
            NameError::Absolute => write!(f, "the name is an absolute path (it starts with /)"),
            NameError::ParentDir => write!(f, "the name climbs out of its folder with `..`"),
            NameError::EmptyComponent => {
                write!(
                    f,
                    "the name has an empty or `.` part (`//`, `/./` or a final `/`)"
                )
            }
        }
    }
}

impl std::error::Error for NameError {}

/// Accepts a relative, normalized, `/`-separated name of at most
/// [`MAX_NAME_BYTES`] bytes without NUL or control characters.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong(name.len()));
    }
    if name.contains('\0') {
        return Err(NameError::Nul);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    if name.starts_with('/') {
        return Err(NameError::Absolute);
    }
    for part in name.split('/') {
        match part {
            ".." => return Err(NameError::ParentDir),
            "" | "." => return Err(NameError::EmptyComponent),
            _ => {}
        }
    }
    Ok(())
}

/// The last part of a name: where `get` writes it when no `-o` is given.
pub fn file_part(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_with_folders_are_accepted() {
        for name in [
            "a.txt",
            "docs/a.txt",
            "deep/er/still/file",
            "spaces are fine",
            "é/ü",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        assert_eq!(check_name("../etc/passwd"), Err(NameError::ParentDir));
        assert_eq!(check_name("a/../../b"), Err(NameError::ParentDir));
        assert_eq!(check_name(".."), Err(NameError::ParentDir));
        assert_eq!(check_name("/etc/passwd"), Err(NameError::Absolute));
    }

    #[test]
    fn nul_control_and_empty_parts_are_refused() {
        assert_eq!(check_name("a\0b"), Err(NameError::Nul));
        assert_eq!(check_name("a\nb"), Err(NameError::Control));
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name("a//b"), Err(NameError::EmptyComponent));
        assert_eq!(check_name("a/./b"), Err(NameError::EmptyComponent));
        assert_eq!(check_name("a/"), Err(NameError::EmptyComponent));
        assert_eq!(check_name("."), Err(NameError::EmptyComponent));
    }

    #[test]
    fn names_over_the_limit_are_refused() {
        assert_eq!(check_name(&"a".repeat(MAX_NAME_BYTES)), Ok(()));
        assert_eq!(
            check_name(&"a".repeat(MAX_NAME_BYTES + 1)),
            Err(NameError::TooLong(MAX_NAME_BYTES + 1))
        );
    }

    #[test]
    fn file_part_is_the_last_component() {
        assert_eq!(file_part("docs/a.txt"), "a.txt");
        assert_eq!(file_part("a.txt"), "a.txt");
    }
}
