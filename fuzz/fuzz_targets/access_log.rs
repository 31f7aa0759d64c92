//! Proxy access logs (nginx/Apache combined and common, nginx JSON, any JSON lines under a
//! configured field map), forced or sniffed, on arbitrary bytes in arbitrary chunks: no
//! panic, and chunking never changes the result. A second mode builds a well-formed request
//! around fuzzer-chosen pieces with a `password=` parameter planted in its query string: the
//! password must not reach any event (it is masked before anything is stored).
#![no_main]

mod common;

use chaudit::parse::AccessLogFields;
use chaudit::InputFormat;
use libfuzzer_sys::fuzz_target;

const FORMATS: [Option<InputFormat>; 3] = [
    None,
    Some(InputFormat::AccessLog),
    Some(InputFormat::AccessLogJson),
];

const PLANTED: &str = "FuzzPlantedPw77";

/// A piece of a request target: printable ASCII without the characters that end a target
/// or a quoted field (`? # "`, space, backslash).
fn piece(raw: &[u8]) -> String {
    raw.iter()
        .filter(|c| c.is_ascii_graphic() && !b"?#\"\\".contains(c))
        .take(200)
        .map(|c| char::from(*c))
        .collect()
}

fn planted(data: &[u8], json: bool) {
    let mut parts = data.split(|b| *b == 0xff);
    let path = piece(parts.next().unwrap_or_default());
    let before = piece(parts.next().unwrap_or_default());
    let after = piece(parts.next().unwrap_or_default());
    let user: String = piece(parts.next().unwrap_or_default())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let target = format!("/{path}?{before}&password={PLANTED}&{after}");
    let line = if json {
        serde_json::json!({
            "time": "2026-11-25T22:26:07+00:00",
            "remote_addr": "198.51.100.7",
            "remote_user": user,
            "request": format!("GET {target} HTTP/1.1"),
            "uri": target,
            "status": "200",
            "body_bytes_sent": "12",
        })
        .to_string()
    } else {
        let user = if user.is_empty() {
            "-".to_owned()
        } else {
            user
        };
        format!(
            "198.51.100.7 - {user} [25/Nov/2026:22:26:07 +0000] \"GET {target} HTTP/1.1\" 200 12 \"-\" \"ua\""
        )
    };
    let out = common::run(line.as_bytes(), &common::options(None), line.len());
    assert_eq!(
        out.collected.events.len(),
        1,
        "{line}: {:?}",
        out.collected.rejected
    );
    for e in &out.collected.events {
        assert!(
            !e.contains(PLANTED),
            "planted password stored: {line} → {e}"
        );
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    if selector >= 0xf0 {
        planted(data, selector & 1 == 1);
        return;
    }
    let mut options = common::options(FORMATS[usize::from(selector) % FORMATS.len()]);
    if selector & 0x80 != 0 {
        // A custom field map, as `[access_log]` in chaudit.toml sets it.
        options.access_log_fields = AccessLogFields {
            time: "ts".into(),
            remote_addr: "client".into(),
            remote_user: "who".into(),
            method: "verb".into(),
            uri: "path".into(),
            request: "req".into(),
            status: "code".into(),
            bytes_sent: "size".into(),
            user_agent: "agent".into(),
            clickhouse_user: "chu".into(),
        };
    }
    let chunk = 1 + usize::from(selector / 3 & 0x1f);
    common::same_in_chunks(data, &options, chunk);
});
