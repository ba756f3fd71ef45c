//! The one error type of the core crate: every failure a user can cause is a value, not a panic.

/// What went wrong, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset, image or archive could not be read or understood.
    #[error("data: {0}")]
    Data(String),
    /// Weights could not be loaded into the model.
    #[error("weights: {0}")]
    Weights(String),
    /// An attack specification or parameter is invalid.
    #[error("attack: {0}")]
    Attack(String),
    /// A model configuration is invalid.
    #[error("model: {0}")]
    Model(String),
    /// A training configuration or training input is invalid.
    #[error("training: {0}")]
    Train(String),
    /// A tensor could not be read back from the device.
    #[error("device: {0}")]
    Device(String),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
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
