//! An error and its causes as one line, for the messages and logs of both binaries: the SDKs,
//! reqwest and Tera keep the useful part (connection refused, the template line) in the sources.

use std::error::Error;

/// `outer: cause: root cause`.
pub fn one_line(err: &dyn Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn joins_every_cause_in_order() {
        let root = std::io::Error::other("connection refused");
        let outer = std::io::Error::other(Wrapped(root));
        assert_eq!(
            super::one_line(&outer),
            "dispatch failure: connection refused"
        );
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("dispatch failure")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
