//! Files of scenes (images, point clouds, IMU data) behind one interface.
//!
//! [`BlobStore`] wraps an [`object_store::ObjectStore`]: a local folder under the data
//! directory by default (`<data_dir>/objects`). Callers only see keys and byte streams,
//! so an S3-compatible store can be configured later without touching them. Writes are
//! multipart and streamed: a 2 GB upload never sits in memory, at most a few chunks do.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

/// Size of the parts a streamed write is cut into. Memory per upload is bounded by a
/// few of these.
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts written concurrently per upload.
const PARTS_IN_FLIGHT: usize = 2;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The body of the request broke off or could not be read.
    #[error("reading the uploaded body failed: {0}")]
    Body(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
}

/// The object store of the service; cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
}

impl BlobStore {
    /// A store in the local folder `root`, created when missing.
    pub fn local(root: &Path) -> std::io::Result<BlobStore> {
        std::fs::create_dir_all(root)?;
        let store = LocalFileSystem::new_with_prefix(root).map_err(std::io::Error::other)?;
        Ok(BlobStore {
            inner: Arc::new(store),
        })
    }

    /// Writes `key` from a stream of chunks, part by part; returns the byte count.
    /// On any error the partial object is discarded and `key` is left as it was.
    pub async fn put_stream<S, E>(&self, key: &str, mut body: S) -> Result<u64, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let upload = self.inner.put_multipart(&ObjectPath::from(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(BlobError::Body(error.to_string()));
                }
            };
            if let Err(error) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(error.into());
            }
            written += chunk.len() as u64;
            writer.put(chunk);
        }
        writer.finish().await?;
        Ok(written)
    }

    /// Writes a small object in one go.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        self.inner
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        match self.inner.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}
