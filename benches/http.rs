//! Costs of the HTTP core on the proxy's hot path: parsing and rewriting a
//! typical browser request head, and decoding a 64 KiB chunked body sent
//! in 1 KiB chunks.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use distloop::http::{
    ChunkedDecoder, HeadLimits, HeadStatus, RequestParser, Scheme, write_request_head,
};

const BROWSER_REQUEST: &[u8] = b"GET /search?q=event+loops&lang=en HTTP/1.1\r\n\
Host: www.example.test\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Referer: https://www.example.test/\r\n\
Cookie: session=4f1c2a9e7b; theme=dark; consent=yes\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Priority: u=0, i\r\n\
\r\n";

fn parse_and_rewrite(c: &mut Criterion) {
    let client: IpAddr = "203.0.113.50".parse().unwrap();
    let mut group = c.benchmark_group("request_head");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(BROWSER_REQUEST.len() as u64));
    let mut out = Vec::with_capacity(1024);
    group.bench_function("parse_and_rewrite_browser_get", |b| {
        b.iter(|| {
            let mut parser = RequestParser::new(HeadLimits::default());
            let HeadStatus::Complete { head, .. } =
                parser.parse(black_box(BROWSER_REQUEST)).unwrap()
            else {
                unreachable!("the head is whole")
            };
            out.clear();
            write_request_head(&head, client, Scheme::Http, &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

fn chunked_body(total: usize, chunk: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(total + total / chunk * 8 + 8);
    for index in 0..total / chunk {
        body.extend_from_slice(format!("{chunk:x}\r\n").as_bytes());
        body.extend(std::iter::repeat_n(b'a' + (index % 26) as u8, chunk));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

fn decode_chunked(c: &mut Criterion) {
    let body = chunked_body(64 * 1024, 1024);
    let mut group = c.benchmark_group("chunked");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(64 * 1024));
    let mut data = Vec::with_capacity(64 * 1024);
    group.bench_function("decode_64KiB_in_1KiB_chunks", |b| {
        b.iter(|| {
            data.clear();
            let mut decoder = ChunkedDecoder::new();
            let progress = decoder.decode(black_box(&body), &mut data).unwrap();
            assert!(progress.complete);
            black_box(data.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parse_and_rewrite, decode_chunked);
criterion_main!(benches);
