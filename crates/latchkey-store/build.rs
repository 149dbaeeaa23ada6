//! `sqlx::migrate!` embeds the migrations at compile time; rebuilding when one is added
//! keeps the binary's migration set in step with the directory.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
