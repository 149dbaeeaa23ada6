//! Invariants of the source that a test can keep (rust-analyzer's `tidy.rs` is the
//! model): each fails naming the file that broke it.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` without the spans that start with `open` and end at the next `close`.
fn without(text: &str, open: &str, close: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .find(close)
            .map_or("", |end| &rest[start + end + close.len()..]);
    }
    out.push_str(rest);
    out
}

/// No handler or page decides permissions itself: the routes name an `Action` only in
/// their `RouteAccess` declarations, and ask the decision with a declaration's action.
/// The one exception is `/v1/me`, which reports the workspace permissions `decide`
/// grants the caller.
#[test]
fn no_route_decides_permissions_itself() {
    let routes = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut files = Vec::new();
    rust_files(&routes, &mut files);
    assert!(files.len() > 20, "found the route modules");
    let mut offences = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let name = file
            .strip_prefix(&routes)
            .expect("under routes")
            .display()
            .to_string();
        let mut rest = without(&text, "RouteAccess::new(", ");");
        if name == "api.rs" {
            rest = without(&rest, "const WORKSPACE_ACTIONS", "];");
        }
        for (number, line) in rest.lines().enumerate() {
            if line.contains("Action::") {
                offences.push(format!(
                    "{name}: names an action outside a declaration: {line}"
                ));
            }
            // `/v1/me` asks about each of the permissions it reports.
            let reported = name == "api.rs" && line.contains("*action");
            if let Some(at) = line.find("decide(")
                && !reported
                && !line[at..].contains(".action")
                && !rest
                    .lines()
                    .nth(number + 2)
                    .is_some_and(|l| l.contains(".action"))
                && !line.contains("fn decide")
            {
                offences.push(format!(
                    "{name}: asks the decision without a declaration: {line}"
                ));
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}
