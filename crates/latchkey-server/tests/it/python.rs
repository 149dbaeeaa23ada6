//! Virtualenvs holding the unmodified Python clients from PyPI.
//!
//! Each is created once under the target directory and reused while it holds the pinned
//! version. A `OnceCell` in each caller serializes the tests of this binary; the `flock`
//! in [`SETUP_SCRIPT`] serializes separate test processes (a SQLite and a PostgreSQL run
//! side by side). Without `python3` or PyPI the tests fail with the reason; they never
//! skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// A pinned package and how to tell that a virtualenv holds it.
pub struct Package {
    /// The folder under the target directory.
    pub folder: &'static str,
    pub distribution: &'static str,
    /// Extras to install with it, such as `[full]`, or `""`.
    pub extras: &'static str,
    pub version: &'static str,
    /// Python statements that must run in the virtualenv once it is ready.
    pub imports: &'static str,
}

/// The virtualenv with `package`, created if it does not hold it yet.
pub async fn venv(package: &Package) -> PathBuf {
    // Cargo sets CARGO_TARGET_TMPDIR to `<target>/tmp` for integration tests.
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join(package.folder);
    let pinned = format!("{}=={}", package.distribution, package.version);
    let mut command = Command::new("python3");
    command
        .args(["-c", SETUP_SCRIPT])
        .arg(&venv)
        .args([
            package.distribution,
            package.extras,
            package.version,
            package.imports,
        ])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(INSTALL_TIMEOUT, command.output()).await {
        Err(_) => panic!(
            "installing {pinned} from PyPI took longer than {INSTALL_TIMEOUT:?}; is PyPI \
             reachable?"
        ),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "python3 was not found on PATH: the tests of {pinned} need it (install the \
             Debian packages python3 and python3-venv)"
        ),
        Ok(Err(error)) => panic!("could not run python3: {error}"),
        Ok(Ok(output)) => output,
    };
    assert!(
        output.status.success(),
        "could not create {} with {pinned} from PyPI ({}). The tests need python3 with the \
         venv module (Debian: python3-venv) and access to PyPI.\n--- stdout\n{}\n--- \
         stderr\n{}",
        venv.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    venv
}

/// Creates the virtualenv unless it already holds the pinned package, under an exclusive
/// lock that the kernel releases even if this process dies.
const SETUP_SCRIPT: &str = r#"
import fcntl
import subprocess
import sys
from pathlib import Path

venv, distribution, extras, version, imports = Path(sys.argv[1]), *sys.argv[2:6]
python = venv / "bin" / "python"
check = [
    str(python),
    "-c",
    imports + "\n"
    "from importlib.metadata import version\n"
    f"assert version({distribution!r}) == {version!r}, version({distribution!r})\n",
]

venv.parent.mkdir(parents=True, exist_ok=True)
with open(venv.parent / (venv.name + ".lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        print(f"reusing {venv}")
        sys.exit(0)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         f"{distribution}{extras}=={version}"],
        check=True,
    )
    subprocess.run(check, check=True)
    print(f"installed {distribution}=={version} into {venv}")
"#;
