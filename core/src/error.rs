//! The one error type of the core crate: every failure a user can cause is a value, not a panic.

/// What went wrong, in words a user can act on. Its message is always one line: file names,
/// specs and other text from the input are shown with line breaks and other control characters
/// escaped (`\n`, `\u{1b}`), so a hostile name cannot split or rewrite the line on a terminal.
#[derive(Debug)]
pub enum Error {
    /// A dataset, image or archive could not be read or understood.
    Data(String),
    /// Weights could not be loaded into the model.
    Weights(String),
    /// An attack specification or parameter is invalid.
    Attack(String),
    /// A model configuration is invalid.
    Model(String),
    /// A training configuration or training input is invalid.
    Train(String),
    /// A tensor could not be read back from the device.
    Device(String),
    /// Reading or writing a file failed.
    Io {
        /// What was being read or written.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}

/// `text` with its control characters escaped as Rust writes them (`\n`, `\t`, `\u{1b}`).
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect::<String>().into()
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, message) = match self {
            Error::Data(m) => ("data", m),
            Error::Weights(m) => ("weights", m),
            Error::Attack(m) => ("attack", m),
            Error::Model(m) => ("model", m),
            Error::Train(m) => ("training", m),
            Error::Device(m) => ("device", m),
            Error::Io { context, source } => return write!(f, "{}: {}", one_line(context), one_line(&source.to_string())),
        };
        write!(f, "{kind}: {}", one_line(message))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line() {
        let e = Error::Attack("'fgsm\nrm -rf': unknown attack".into());
        assert_eq!(e.to_string(), "attack: 'fgsm\\nrm -rf': unknown attack");
        let e = Error::io("reading a\u{1b}[2Jb", std::io::Error::other("gone"));
        assert_eq!(e.to_string(), "reading a\\u{1b}[2Jb: gone");
        assert_eq!(Error::Data("plain é".into()).to_string(), "data: plain é");
    }
}
