//! `tessera serve` against clients that hold connections: silent sockets, half-sent and
//! dripped request heads, idle keep-alive connections, slow bodies, and more connections than
//! the server has file descriptors. Each used to hold a connection for as long as the client
//! liked (≥ 75 s seen) and, in numbers, to stop the server answering anyone.

use crate::common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::serve::{Server, ServerOptions, TempDir};

/// A memory-store server with these extra arguments.
fn server_with(dir: &TempDir, args: &[&str], descriptor_limit: Option<u64>) -> Server {
    Server::start(&ServerOptions {
        store: "memory://".to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        descriptor_limit,
        ..ServerOptions::sqlite_in(dir.path())
    })
}

/// Reads until the server closes the connection; how long that took, or `None` if it was
/// still open after `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(started.elapsed())
            }
            Err(_) => return None,
        }
    }
}

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(&server.addr).expect("connect")
}

#[test]
fn silent_half_sent_dripped_and_idle_connections_are_closed() {
    let dir = TempDir::new("serve-timeouts");
    let server = server_with(&dir, &["--header-timeout", "1"], None);
    let limit = Duration::from_secs(5);

    let mut silent = connect(&server);
    let mut half = connect(&server);
    half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // A byte every 200 ms: the head is never finished within the timeout.
    let mut dripped = connect(&server);
    let dripper = {
        let mut stream = dripped.try_clone().unwrap();
        std::thread::spawn(move || {
            let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
            for byte in head {
                if stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    // Keep-alive: one answered request, then nothing.
    let mut idle = connect(&server);
    idle.write_all(b"GET /api/session HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    for (what, stream) in [
        ("a silent connection", &mut silent),
        ("a half-sent head", &mut half),
        ("a head dripped a byte at a time", &mut dripped),
        ("an idle keep-alive connection", &mut idle),
    ] {
        let took = closed_within(stream, limit);
        assert!(took.is_some(), "{what} was still open after {limit:?}");
    }
    dripper.join().unwrap();
    // The server still answers.
    assert_eq!(server.request("GET", "/api/session", &[], "").status, 200);
}

#[test]
fn a_slow_body_times_out_and_a_server_full_of_busy_connections_sheds_with_503() {
    let dir = TempDir::new("serve-busy");
    let server = server_with(
        &dir,
        &["--max-connections", "2", "--request-timeout", "1"],
        None,
    );
    // Two requests whose bodies never come: both connections are busy.
    let slow_head = b"PATCH /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    let mut busy: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(slow_head).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // A third is answered at once, without a read: overloaded, try again.
    let mut third = connect(&server);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    let _ = third.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("retry-after: 1"),
        "{answer:?}"
    );
    // The slow bodies are cut off after the request timeout.
    for s in &mut busy {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    }
    drop(busy);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.request("GET", "/api/session", &[], "").status, 200);
}

/// More idle connections than the server has file descriptors: each newcomer past the cap
/// closes the longest-idle connection, so real requests are still answered, `accept` never
/// fails, and the server's descriptors stay under its limit. (Before, the server took
/// connections until `accept` failed with "Too many open files" and answered no one.)
#[test]
fn more_idle_connections_than_descriptors_still_leave_room_for_requests() {
    const LIMIT: u64 = 512;
    const IDLE: usize = 700;
    let _ = rlimit::increase_nofile_limit(4096);
    let dir = TempDir::new("serve-flood");
    let server = server_with(&dir, &[], Some(LIMIT));
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(connect(&server));
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let r = server.request("GET", "/api/session", &[], "");
        assert_eq!(r.status, 200, "{}", r.body);
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(5),
        "a request took {slowest:?}"
    );
    let descriptors = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count();
    assert!(descriptors < LIMIT as usize, "{descriptors} descriptors");
    let log = server.log_text();
    assert!(log.contains("at most 256 connections"), "{log}");
    assert!(!log.contains("accept failed"), "{log}");
    drop(idle);
}
