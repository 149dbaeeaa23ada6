//! Password hashing for requests: at most a few hashes at once, each in one of a fixed
//! set of reused buffers, off the async threads.
//!
//! An argon2id hash takes 19 MiB and tens of milliseconds of one core, and anyone may
//! ask for one (a sign-in with any email). Unbounded, a flood of sign-ins ran dozens at
//! once and the allocator kept every buffer. Here a hash first takes one of `permits`
//! permits, waiting at most `wait` (then the request is answered 503, try again), and
//! computes in the buffer that comes with the permit; so memory stays at `permits` ×
//! 19 MiB, and the cores keep serving everything else between hashes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use latchkey_core::password::HashingMemory;
use secrecy::SecretString;
use tokio::sync::Semaphore;

/// All permits were taken for longer than the configured wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// When to try again: the wait, in whole seconds, at least one.
    pub retry_after_secs: u64,
}

#[derive(Debug)]
pub struct PasswordHashing {
    permits: Arc<Semaphore>,
    /// One buffer per hash running or done; never more than the permits.
    memories: Arc<Mutex<Vec<HashingMemory>>>,
    wait: Duration,
}

impl PasswordHashing {
    /// `permits` is raised to at least one.
    pub fn new(permits: usize, wait: Duration) -> Self {
        PasswordHashing {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            memories: Arc::default(),
            wait,
        }
    }

    /// Whether `password` matches the PHC string `hash`.
    pub async fn verify(&self, password: SecretString, hash: String) -> Result<bool, Busy> {
        self.run(move |memory| memory.verify_password(&password, &hash))
            .await
    }

    /// A new argon2id hash of `password`.
    pub async fn hash(&self, password: SecretString) -> Result<String, Busy> {
        self.run(move |memory| memory.hash_password(&password))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut HashingMemory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let busy = Busy {
            retry_after_secs: self.wait.as_secs().max(1),
        };
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| busy)?
            .map_err(|_| busy)?;
        let memories = self.memories.clone();
        // The permit and the buffer go into the blocking task, so a request cancelled
        // while it hashes (the client hung up) still holds both until the hash is done.
        let task = tokio::task::spawn_blocking(move || {
            let mut memory = memories
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .unwrap_or_default();
            let result = work(&mut memory);
            memories
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            drop(permit);
            result
        });
        match task.await {
            Ok(result) => Ok(result),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // Only at shutdown, when the runtime cancels blocking tasks not yet started.
            Err(_) => Err(busy),
        }
    }
}
