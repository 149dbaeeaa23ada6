//! Which credentials a client command uses: the `--credentials` flag shared by the
//! commands on `latchkey-client`. (`tools.rs` has its own copy for `token`, `call` and
//! `doctor`; they can move here once that file is free to change.)

use std::path::PathBuf;

use clap::Args;
use latchkey_client::{Client, Credentials, CredentialsError};

/// Which credentials to use; resolved as [`Credentials::resolve`] documents.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// A credentials file (as downloaded). Without it: LATCHKEY_CREDENTIALS,
    /// KOGNIC_CREDENTIALS, then LATCHKEY_CLIENT_ID + LATCHKEY_CLIENT_SECRET + LATCHKEY_URL.
    #[arg(long, global = true)]
    credentials: Option<PathBuf>,
}

impl ClientArgs {
    /// A client for the resolved credentials.
    pub fn client(&self) -> Result<Client, CredentialsError> {
        let (credentials, _) = Credentials::resolve(self.credentials.as_deref())?;
        Ok(Client::new(credentials))
    }
}
