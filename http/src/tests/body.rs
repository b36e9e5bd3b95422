use super::super::{BodyFramer, BodyFraming, ChunkedDecoder, HttpError, MAX_CHUNK_LINE_BYTES};
use super::frame;

fn decode(bytes: &[u8]) -> Result<(Vec<u8>, usize, bool), HttpError> {
    let mut decoder = ChunkedDecoder::new();
    let mut data = Vec::new();
    let progress = decoder.decode(bytes, &mut data)?;
    // The same bytes one at a time decode to the same data.
    let mut bytewise = ChunkedDecoder::new();
    let mut bytewise_data = Vec::new();
    let mut consumed = 0;
    for byte in &bytes[..progress.consumed] {
        consumed += bytewise
            .decode(std::slice::from_ref(byte), &mut bytewise_data)?
            .consumed;
    }
    assert_eq!(
        (&bytewise_data, consumed, bytewise.is_complete()),
        (&data, progress.consumed, progress.complete)
    );
    Ok((data, progress.consumed, progress.complete))
}

#[test]
fn content_length_bodies_end_after_their_length() {
    assert_eq!(
        frame(BodyFraming::ContentLength(5), b"helloGET"),
        Ok((5, true))
    );
    assert_eq!(frame(BodyFraming::ContentLength(5), b"hel"), Ok((3, false)));
    assert_eq!(frame(BodyFraming::ContentLength(0), b"GET"), Ok((0, true)));
    assert_eq!(frame(BodyFraming::None, b"GET"), Ok((0, true)));
}

#[test]
fn until_close_bodies_take_everything_until_eof() {
    let mut framer = BodyFramer::new(BodyFraming::UntilClose);
    let progress = framer.advance(b"abc").unwrap();
    assert_eq!((progress.consumed, progress.complete), (3, false));
    assert_eq!(framer.finish_at_eof(), Ok(()));
    assert!(framer.is_complete());
}

#[test]
fn eof_before_the_end_of_a_framed_body_is_an_error() {
    let mut framer = BodyFramer::new(BodyFraming::ContentLength(4));
    framer.advance(b"ab").unwrap();
    assert_eq!(framer.finish_at_eof(), Err(HttpError::IncompleteBody));
    let mut framer = BodyFramer::new(BodyFraming::Chunked);
    framer.advance(b"2\r\nab\r\n").unwrap();
    assert_eq!(framer.finish_at_eof(), Err(HttpError::IncompleteBody));
}

#[test]
fn chunked_bodies_end_after_the_last_chunk_and_trailers() {
    let body =
        b"5\r\nhello\r\n6;name=value;flag\r\n world\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\nNEXT";
    let end = body.len() - 4;
    assert_eq!(frame(BodyFraming::Chunked, body), Ok((end, true)));
    assert_eq!(
        frame(BodyFraming::Chunked, &body[..end - 1]),
        Ok((end - 1, false))
    );
    assert_eq!(decode(body), Ok((b"hello world".to_vec(), end, true)));
}

#[test]
fn chunk_sizes_are_hex_with_any_case_and_leading_zeros() {
    let body = b"00A\r\n0123456789\r\nf\r\n0123456789abcde\r\n0000\r\n\r\n";
    let (data, consumed, complete) = decode(body).unwrap();
    assert_eq!(data.len(), 25);
    assert_eq!((consumed, complete), (body.len(), true));
}

#[test]
fn chunk_extensions_follow_the_grammar() {
    for good in [
        &b"1;a\r\nx\r\n0\r\n\r\n"[..],
        b"1 ;a=b\r\nx\r\n0\r\n\r\n",
        b"1; a = \"q\\\"s; x\"\r\nx\r\n0;last\r\n\r\n",
        b"1;a=b;c\r\nx\r\n0\r\n\r\n",
    ] {
        assert!(frame(BodyFraming::Chunked, good).unwrap().1, "{good:?}");
    }
    for bad in [
        &b"1;\r\nx\r\n0\r\n\r\n"[..],
        b"1;a=\r\nx\r\n0\r\n\r\n",
        b"1;a b\r\nx\r\n0\r\n\r\n",
        b"1;a=\"open\r\nx\r\n0\r\n\r\n",
        b"1;a\x00\r\nx\r\n0\r\n\r\n",
    ] {
        assert_eq!(
            frame(BodyFraming::Chunked, bad).unwrap_err(),
            HttpError::InvalidChunkExtension,
            "{bad:?}"
        );
    }
}

#[test]
fn invalid_chunk_sizes_are_refused() {
    for bad in [
        &b"\r\n"[..],
        b"g\r\n",
        b"-1\r\n",
        b"+1\r\n",
        b" 1\r\n",
        b"0x1\r\n",
        b"1 \r\n",
        b"1 2\r\n",
        b"10000000000000000\r\n",
    ] {
        let error = frame(BodyFraming::Chunked, bad).unwrap_err();
        assert_eq!(error, HttpError::InvalidChunkSize, "{bad:?}");
        assert_eq!(error.status(), 400);
    }
    assert!(frame(BodyFraming::Chunked, b"ffffffffffffffff\r\n").is_ok());
}

#[test]
fn chunk_lines_must_end_with_crlf() {
    for bad in [
        &b"1\nx\r\n0\r\n\r\n"[..],
        b"1\r\nxy\r\n",
        b"1\r\nx\n0\r\n\r\n",
        b"0\r\n\n",
        b"0\r\nA: b\n",
    ] {
        assert_eq!(
            frame(BodyFraming::Chunked, bad).unwrap_err(),
            HttpError::MissingChunkLineEnd,
            "{bad:?}"
        );
    }
}

#[test]
fn malformed_trailers_are_refused() {
    for bad in [
        &b"0\r\n folded\r\n\r\n"[..],
        b"0\r\nA : b\r\n\r\n",
        b"0\r\nA\x01: b\r\n\r\n",
        b"0\r\nA: b\x00\r\n\r\n",
        b"0\r\nnocolon\r\n\r\n",
    ] {
        assert_eq!(
            frame(BodyFraming::Chunked, bad).unwrap_err(),
            HttpError::InvalidTrailer,
            "{bad:?}"
        );
    }
}

#[test]
fn chunk_lines_and_trailers_are_bounded() {
    let mut long_line = b"1;".to_vec();
    long_line.extend(std::iter::repeat_n(b'a', MAX_CHUNK_LINE_BYTES));
    assert_eq!(
        frame(BodyFraming::Chunked, &long_line).unwrap_err(),
        HttpError::ChunkLineTooLong
    );
    let mut long_zeros = vec![b'0'; MAX_CHUNK_LINE_BYTES + 1];
    long_zeros.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        frame(BodyFraming::Chunked, &long_zeros).unwrap_err(),
        HttpError::ChunkLineTooLong
    );
    let mut trailers = b"0\r\n".to_vec();
    while trailers.len() < super::super::MAX_TRAILER_BYTES + 10 {
        trailers.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    assert_eq!(
        frame(BodyFraming::Chunked, &trailers).unwrap_err(),
        HttpError::TrailersTooLarge
    );
}

#[test]
fn a_failed_framer_keeps_failing() {
    let mut framer = BodyFramer::new(BodyFraming::Chunked);
    assert_eq!(
        framer.advance(b"z").unwrap_err(),
        HttpError::InvalidChunkSize
    );
    assert_eq!(
        framer.advance(b"0\r\n\r\n").unwrap_err(),
        HttpError::InvalidChunkSize
    );
}

#[test]
fn a_complete_body_consumes_nothing_more() {
    let mut framer = BodyFramer::new(BodyFraming::Chunked);
    assert_eq!(framer.advance(b"0\r\n\r\n").unwrap().consumed, 5);
    let progress = framer.advance(b"GET / HTTP/1.1").unwrap();
    assert_eq!((progress.consumed, progress.complete), (0, true));
}

#[test]
fn large_chunks_split_across_reads_are_counted_exactly() {
    let mut body = Vec::new();
    for _ in 0..64 {
        body.extend_from_slice(b"400\r\n");
        body.extend(std::iter::repeat_n(b'z', 1024));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let mut decoder = ChunkedDecoder::new();
    let mut data = Vec::new();
    let mut consumed = 0;
    for piece in body.chunks(777) {
        consumed += decoder.decode(piece, &mut data).unwrap().consumed;
    }
    assert_eq!(consumed, body.len());
    assert!(decoder.is_complete());
    assert_eq!(data, vec![b'z'; 64 * 1024]);
}
