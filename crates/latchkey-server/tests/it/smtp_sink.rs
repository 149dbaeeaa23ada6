//! A tiny SMTP server for tests: speaks just enough SMTP (EHLO/HELO, MAIL, RCPT, DATA,
//! RSET, NOOP, QUIT) to accept messages, and keeps them for the test to read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The headers and body as sent, dot-unstuffed, with `\n` line ends.
    pub data: String,
}

impl Mail {
    /// The value of the first header `name`.
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .lines()
            .take_while(|line| !line.is_empty())
            .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
    }

    /// The body, decoded from quoted-printable when the message says so.
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\n\n")
            .map_or("", |(_, body)| body)
            .to_owned();
        let quoted = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if quoted {
            quoted_printable(&body)
        } else {
            body
        }
    }
}

/// RFC 2045 §6.7: `=XX` is a byte, `=` at a line's end joins it with the next.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(byte) = joined
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The running sink; stops when dropped.
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let port = listener.local_addr().expect("sink address").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = mails.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = session(stream, kept).await;
                });
            }
        });
        SmtpSink { port, mails, task }
    }

    /// The `LATCHKEY_SMTP_URL` of the sink.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("mails").clone()
    }

    /// Waits up to ten seconds until `count` messages have arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Mail> {
        for _ in 0..200 {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {count} emails, got {:?}", self.mails());
    }
}

async fn session(stream: TcpStream, mails: Arc<Mutex<Vec<Mail>>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let command = line.to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250 sink\r\n"
        } else if command.starts_with("MAIL FROM:") {
            from = address(&line);
            to.clear();
            b"250 OK\r\n"
        } else if command.starts_with("RCPT TO:") {
            to.push(address(&line));
            b"250 OK\r\n"
        } else if command == "DATA" {
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = Vec::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                // RFC 5321 §4.5.2: a leading dot was doubled by the sender.
                data.push(line.strip_prefix('.').map_or(line.clone(), str::to_owned));
            }
            mails.lock().expect("mails").push(Mail {
                from: from.clone(),
                to: to.clone(),
                data: data.join("\n"),
            });
            b"250 OK: queued\r\n"
        } else if command == "RSET" || command == "NOOP" {
            b"250 OK\r\n"
        } else if command == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

/// `user@example.com` of `MAIL FROM:<user@example.com> SIZE=…`.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or_else(String::new, |(address, _)| address.to_owned())
}
