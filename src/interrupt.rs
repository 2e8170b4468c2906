//! Ctrl-C, counted: the first asks every Packer child to clean up, the second kills them.

use tokio::sync::watch;

/// How many SIGINTs this process has received. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Interrupt {
    rx: watch::Receiver<u32>,
}

impl Interrupt {
    /// Starts counting SIGINTs. Call once, inside the runtime, before starting children.
    pub fn install() -> Interrupt {
        let (tx, rx) = watch::channel(0u32);
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                tx.send_modify(|n| *n += 1);
            }
        });
        Interrupt { rx }
    }

    /// An interrupt that never fires (for library callers and tests).
    pub fn never() -> Interrupt {
        let (tx, rx) = watch::channel(0u32);
        std::mem::forget(tx);
        Interrupt { rx }
    }

    pub fn count(&self) -> u32 {
        *self.rx.borrow()
    }

    /// Waits for the next SIGINT and returns the new count; pending forever if none can come.
    pub async fn next(&mut self) -> u32 {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        *self.rx.borrow_and_update()
    }
}
