//! Files of scenes (images, point clouds, IMU data) behind one interface.
//!
//! [`BlobStore`] wraps an [`object_store::ObjectStore`]: a local folder under the data
//! directory by default (`<data_dir>/objects`). Callers only see keys and byte streams,
//! so an S3-compatible store can be configured later without touching them. Writes are
//! multipart and streamed: a 2 GB upload never sits in memory, at most a few chunks do.
//! Local objects are made 0600 in 0700 folders once written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::data_dir;

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
    #[error("making a written object private: {0}")]
    Permissions(std::io::Error),
}

/// The object store of the service; cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    local: Arc<LocalFileSystem>,
    root: PathBuf,
}

impl BlobStore {
    /// A store in the local folder `root`, created (0700) when missing.
    pub fn local(root: &Path) -> std::io::Result<BlobStore> {
        data_dir::create_private_dir(root)?;
        let store =
            Arc::new(LocalFileSystem::new_with_prefix(root).map_err(std::io::Error::other)?);
        Ok(BlobStore {
            inner: store.clone(),
            local: store,
            root: root.to_owned(),
        })
    }

    /// Makes a written object 0600 and its folders 0700. `object_store` creates them
    /// with the umask's mode; until this runs they sit inside the 0700 objects folder,
    /// out of other users' reach.
    fn make_private(&self, key: &ObjectPath) -> Result<(), BlobError> {
        let file = self.local.path_to_filesystem(key)?;
        data_dir::make_private(&self.root, &file).map_err(BlobError::Permissions)
    }

    /// Writes `key` from a stream of chunks, part by part; returns the byte count.
    /// On any error the partial object is discarded and `key` is left as it was.
    pub async fn put_stream<S, E>(&self, key: &str, mut body: S) -> Result<u64, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let key = ObjectPath::from(key);
        let upload = self.inner.put_multipart(&key).await?;
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
        self.make_private(&key)?;
        Ok(written)
    }

    /// Writes a small object in one go.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        let key = ObjectPath::from(key);
        self.inner.put(&key, PutPayload::from(bytes)).await?;
        self.make_private(&key)
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

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[tokio::test]
    async fn written_objects_and_their_folders_are_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("objects");
        let blobs = BlobStore::local(&root).expect("store");
        blobs
            .put("scenes/a/b.png", Bytes::from_static(b"png"))
            .await
            .expect("put");
        let chunks =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"lidar"))]);
        blobs
            .put_stream("scenes/c/d.csv", chunks)
            .await
            .expect("put_stream");
        assert_eq!(mode(&root), 0o700);
        for folder in ["scenes", "scenes/a", "scenes/c"] {
            assert_eq!(mode(&root.join(folder)), 0o700, "{folder}");
        }
        for file in ["scenes/a/b.png", "scenes/c/d.csv"] {
            assert_eq!(mode(&root.join(file)), 0o600, "{file}");
        }
    }
}
