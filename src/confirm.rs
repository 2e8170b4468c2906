//! Asking before a change to live infrastructure: on a terminal the user answers; without one
//! (CI, a pipe) `--yes` must say it up front, checked before any AWS call.

use std::io::IsTerminal;

use crate::exit::UsageError;
use crate::printer::Printer;

/// How a command gets its go-ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// `--yes`: go ahead without asking.
    Given,
    /// Ask on the terminal.
    Ask,
}

impl Confirm {
    /// `--yes`, or a terminal on stdin to ask on; else one line saying `--yes` is needed.
    pub fn from_flag(yes: bool, command: &str) -> Result<Confirm, UsageError> {
        Confirm::decide(yes, std::io::stdin().is_terminal(), command)
    }

    fn decide(yes: bool, terminal: bool, command: &str) -> Result<Confirm, UsageError> {
        match (yes, terminal) {
            (true, _) => Ok(Confirm::Given),
            (false, true) => Ok(Confirm::Ask),
            (false, false) => Err(UsageError::new(format!(
                "{command} changes live infrastructure and stdin is not a terminal to ask on: pass --yes"
            ))),
        }
    }

    /// Whether to go ahead: always with `--yes`, else the user's answer.
    pub fn go_ahead(self, printer: &Printer, question: &str) -> std::io::Result<bool> {
        match self {
            Confirm::Given => Ok(true),
            Confirm::Ask => printer.ask(question),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_is_needed_only_without_a_terminal() {
        assert_eq!(Confirm::decide(true, false, "x").unwrap(), Confirm::Given);
        assert_eq!(Confirm::decide(false, true, "x").unwrap(), Confirm::Ask);
        assert_eq!(
            Confirm::decide(false, false, "stack deploy").unwrap_err().0,
            "stack deploy changes live infrastructure and stdin is not a terminal to ask on: pass --yes"
        );
    }
}
