//! Files of scenes (images, point clouds, IMU data) behind one interface.
//!
//! [`BlobStore`] wraps the [`object_store::ObjectStore`] that `LATCHKEY_STORAGE_URL`
//! names: a local folder (`file:///path`; by default `<data_dir>/objects`) or an
//! S3-compatible bucket (`s3://bucket/prefix`, reached with the standard `AWS_*`
//! variables). Callers see keys and byte streams. With a bucket, clients upload
//! straight to it through its own presigned PUT URLs ([`BlobStore::signed_put_url`]),
//! so no replica carries the bytes; with a folder they upload through this service,
//! written multipart and streamed, so a 2 GB upload never sits in memory, at most a few
//! chunks do. Local objects are made 0600 in 0700 folders once written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::signer::{Method, Signer};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart};

use crate::config::Config;
use crate::data_dir;

/// Size of the parts a streamed write is cut into. Memory per upload is bounded by a
/// few of these.
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts written concurrently per upload.
const PARTS_IN_FLIGHT: usize = 2;
/// How long the start-up check may wait for the bucket: an unreachable endpoint should
/// stop the start with a message, not hang it through the client's retries.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

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

/// Where scene files live, parsed from `LATCHKEY_STORAGE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// `file:///absolute/path`.
    Folder(PathBuf),
    /// `s3://bucket` or `s3://bucket/prefix`; objects go under `prefix/`.
    S3 { bucket: String, prefix: String },
}

impl StorageUrl {
    /// Parses a storage URL; the error says what is wrong and what would be right.
    pub fn parse(text: &str) -> Result<StorageUrl, String> {
        let expected = "expected file:///absolute/path or s3://bucket/prefix";
        let url = url::Url::parse(text).map_err(|error| format!("{error}; {expected}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "it carries credentials; give them in AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY instead ({expected})"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("it has a query or fragment; {expected}"));
        }
        match url.scheme() {
            "file" => {
                if url.host_str().is_some_and(|host| !host.is_empty()) {
                    return Err(format!("a file URL names no host; {expected}"));
                }
                let path = url
                    .to_file_path()
                    .map_err(|()| format!("not a local path; {expected}"))?;
                if path == Path::new("/") {
                    return Err(format!(
                        "the root folder is not a storage folder; {expected}"
                    ));
                }
                Ok(StorageUrl::Folder(path))
            }
            "s3" => {
                let bucket = url.host_str().unwrap_or_default().to_owned();
                if bucket.is_empty() {
                    return Err(format!("it names no bucket; {expected}"));
                }
                let prefix = url.path().trim_matches('/').to_owned();
                if !prefix.is_empty()
                    && prefix
                        .split('/')
                        .any(|part| part.is_empty() || part == "." || part == "..")
                {
                    return Err(format!(
                        "the prefix has an empty, `.` or `..` part; {expected}"
                    ));
                }
                Ok(StorageUrl::S3 { bucket, prefix })
            }
            other => Err(format!("unknown scheme `{other}`; {expected}")),
        }
    }
}

/// `text` with any user name and password taken out, for an error message.
fn without_credentials(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => text.to_owned(),
    }
}

/// The object store of the service; cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Folder {
        store: Arc<LocalFileSystem>,
        root: PathBuf,
    },
    S3 {
        store: Arc<AmazonS3>,
        bucket: String,
        prefix: String,
        presigned_uploads: bool,
    },
}

impl BlobStore {
    /// The store `config` names, checked: a folder is created (0700) when missing, a
    /// bucket must answer a listing within [`PROBE_TIMEOUT`].
    pub async fn open(config: &Config) -> anyhow::Result<BlobStore> {
        let location = match &config.storage_url {
            Some(text) => StorageUrl::parse(text).map_err(|why| {
                anyhow::anyhow!(
                    "LATCHKEY_STORAGE_URL `{}` is malformed: {why}",
                    without_credentials(text)
                )
            })?,
            None => StorageUrl::Folder(config.data_dir.join(data_dir::OBJECTS_DIR)),
        };
        match location {
            StorageUrl::Folder(root) => BlobStore::local(&root)
                .with_context(|| format!("opening the object store {}", root.display())),
            StorageUrl::S3 { bucket, prefix } => {
                let store = BlobStore::s3(&bucket, &prefix, config.storage_presigned_uploads)?;
                let probe = tokio::time::timeout(PROBE_TIMEOUT, store.probe()).await;
                match probe {
                    Ok(Ok(())) => Ok(store),
                    Ok(Err(error)) => Err(anyhow::anyhow!(
                        "the bucket of LATCHKEY_STORAGE_URL ({}) cannot be listed: {error}. \
                         Check the bucket name, AWS_ENDPOINT_URL, AWS_REGION and the \
                         credentials.",
                        store.location()
                    )),
                    Err(_) => Err(anyhow::anyhow!(
                        "the bucket of LATCHKEY_STORAGE_URL ({}) did not answer within {} s. \
                         Check AWS_ENDPOINT_URL and the network.",
                        store.location(),
                        PROBE_TIMEOUT.as_secs()
                    )),
                }
            }
        }
    }

    /// A store in the local folder `root`, created (0700) when missing.
    pub fn local(root: &Path) -> std::io::Result<BlobStore> {
        data_dir::create_private_dir(root)?;
        let store =
            Arc::new(LocalFileSystem::new_with_prefix(root).map_err(std::io::Error::other)?);
        Ok(BlobStore {
            inner: store.clone(),
            backend: Backend::Folder {
                store,
                root: root.to_owned(),
            },
        })
    }

    /// A store in an S3-compatible bucket, configured from the `AWS_*` variables
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_ALLOW_HTTP`, …).
    fn s3(bucket: &str, prefix: &str, presigned_uploads: bool) -> anyhow::Result<BlobStore> {
        // Fewer and shorter retries than the client's default (10 over 3 minutes): a
        // commit waiting on an unreachable bucket should fail in seconds.
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..RetryConfig::default()
        };
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .build()
            .with_context(|| format!("configuring the bucket s3://{bucket}"))?;
        let store = Arc::new(store);
        Ok(BlobStore {
            inner: store.clone(),
            backend: Backend::S3 {
                store,
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                presigned_uploads,
            },
        })
    }

    /// Where the files are, for logs and the readiness answer: a `file://` or `s3://`
    /// URL, with nothing secret.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Folder { root, .. } => format!("file://{}", root.display()),
            Backend::S3 { bucket, prefix, .. } if prefix.is_empty() => format!("s3://{bucket}"),
            Backend::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// The store's path of `key`: under the bucket's prefix, if any.
    fn path(&self, key: &str) -> ObjectPath {
        match &self.backend {
            Backend::S3 { prefix, .. } if !prefix.is_empty() => {
                ObjectPath::from(format!("{prefix}/{key}"))
            }
            _ => ObjectPath::from(key),
        }
    }

    /// Lists at most one object under the prefix: fails when the bucket is missing,
    /// unreachable or refuses the credentials.
    async fn probe(&self) -> Result<(), BlobError> {
        let prefix = match &self.backend {
            Backend::S3 { prefix, .. } if !prefix.is_empty() => {
                Some(ObjectPath::from(prefix.as_str()))
            }
            _ => None,
        };
        match self.inner.list(prefix.as_ref()).next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(error)) => Err(error.into()),
        }
    }

    /// A URL through which a client sends `key` itself with a PUT, valid for
    /// `expires_in` and for any number of PUTs until then (each replaces the object
    /// whole). `None` for a local folder, or a bucket with presigned uploads off:
    /// uploads then go through this service.
    pub async fn signed_put_url(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<Option<String>, BlobError> {
        match &self.backend {
            Backend::Folder { .. }
            | Backend::S3 {
                presigned_uploads: false,
                ..
            } => Ok(None),
            Backend::S3 { store, .. } => {
                let url = store
                    .signed_url(Method::PUT, &self.path(key), expires_in)
                    .await?;
                Ok(Some(url.to_string()))
            }
        }
    }

    /// Makes a written object 0600 and its folders 0700. `object_store` creates them
    /// with the umask's mode; until this runs they sit inside the 0700 objects folder,
    /// out of other users' reach. Nothing to do in a bucket.
    fn make_private(&self, key: &ObjectPath) -> Result<(), BlobError> {
        let Backend::Folder { store, root } = &self.backend else {
            return Ok(());
        };
        let file = store.path_to_filesystem(key)?;
        data_dir::make_private(root, &file).map_err(BlobError::Permissions)
    }

    /// Writes `key` from a stream of chunks, part by part; returns the byte count.
    /// On any error the partial object is discarded and `key` is left as it was.
    pub async fn put_stream<S, E>(&self, key: &str, mut body: S) -> Result<u64, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let key = self.path(key);
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
        let key = self.path(key);
        self.inner.put(&key, PutPayload::from(bytes)).await?;
        self.make_private(&key)
    }

    /// The size of `key` in bytes; `None` when there is no such object.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, BlobError> {
        match self.inner.head(&self.path(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes `key`; one that is not there is no error.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.inner.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
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

    #[test]
    fn storage_urls_are_parsed_or_refused_with_a_reason() {
        assert_eq!(
            StorageUrl::parse("file:///srv/latchkey/objects"),
            Ok(StorageUrl::Folder(PathBuf::from("/srv/latchkey/objects")))
        );
        assert_eq!(
            StorageUrl::parse("s3://scenes"),
            Ok(StorageUrl::S3 {
                bucket: "scenes".to_owned(),
                prefix: String::new()
            })
        );
        assert_eq!(
            StorageUrl::parse("s3://scenes/prod/eu/"),
            Ok(StorageUrl::S3 {
                bucket: "scenes".to_owned(),
                prefix: "prod/eu".to_owned()
            })
        );
        for (bad, why) in [
            ("objects", "relative URL"),
            ("/srv/objects", "relative URL"),
            ("file://host/srv", "names no host"),
            ("file:///", "root folder"),
            ("s3:///prefix", "no bucket"),
            ("s3://bucket/a//b", "empty"),
            ("s3://key:secret@bucket", "credentials"),
            ("s3://bucket?region=eu", "query"),
            ("gs://bucket", "unknown scheme `gs`"),
        ] {
            let error = StorageUrl::parse(bad).expect_err(bad);
            assert!(error.contains(why), "{bad}: {error}");
            assert!(error.contains("s3://bucket/prefix"), "{bad}: {error}");
        }
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
