use super::*;

const BOUNDARY: &str = "----formBoundary7MA4YWxk";

/// A form as a browser sends it: keywords, an option, a file whose body
/// holds boundary-like bytes, and an empty pasted-text field.
fn sample() -> Vec<u8> {
    let b = BOUNDARY;
    format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\nlord, king\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"case\"\r\n\r\nsensitive\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".txt\"\r\n\
         Content-Type: text/plain\r\n\r\n\
         line one --{b} mid-line is no boundary\r\n--{b2}\r\n\r\n--\r\n-\r\n\r\r\nend\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n\r\n\
         --{b}--\r\nepilogue",
        b2 = &b[..b.len() - 1],
    )
    .into_bytes()
}

fn sample_file_body() -> Vec<u8> {
    let b = BOUNDARY;
    format!(
        "line one --{b} mid-line is no boundary\r\n--{b2}\r\n\r\n--\r\n-\r\n\r\r\nend",
        b2 = &b[..b.len() - 1]
    )
    .into_bytes()
}

/// Events with adjacent body pieces joined, so splits compare equal.
fn read_all(pieces: &[&[u8]]) -> Result<Vec<FormEvent>, MultipartError> {
    let mut reader = MultipartReader::new(BOUNDARY)?;
    let mut events = Vec::new();
    for piece in pieces {
        reader.push(piece, &mut events)?;
    }
    reader.finish()?;
    let mut joined: Vec<FormEvent> = Vec::new();
    for event in events {
        match (joined.last_mut(), event) {
            (Some(FormEvent::Body(previous)), FormEvent::Body(more)) => {
                previous.extend_from_slice(&more)
            }
            (_, event) => joined.push(event),
        }
    }
    Ok(joined)
}

fn field(name: &str) -> FormEvent {
    FormEvent::Part(PartHeaders {
        name: name.into(),
        filename: None,
        content_type: None,
    })
}

fn expected() -> Vec<FormEvent> {
    vec![
        field("k"),
        FormEvent::Body(b"lord, king".to_vec()),
        FormEvent::PartEnd,
        field("case"),
        FormEvent::Body(b"sensitive".to_vec()),
        FormEvent::PartEnd,
        FormEvent::Part(PartHeaders {
            name: "file".into(),
            filename: Some("a \"b\".txt".into()),
            content_type: Some("text/plain".into()),
        }),
        FormEvent::Body(sample_file_body()),
        FormEvent::PartEnd,
        field("text"),
        FormEvent::PartEnd,
        FormEvent::End,
    ]
}

#[test]
fn reads_a_form_in_one_piece() {
    assert_eq!(read_all(&[&sample()]).unwrap(), expected());
}

#[test]
fn reads_a_form_split_at_every_point() {
    let form = sample();
    for split in 0..=form.len() {
        let (a, b) = form.split_at(split);
        assert_eq!(read_all(&[a, b]).unwrap(), expected(), "split at {split}");
    }
}

#[test]
fn reads_a_form_byte_by_byte_and_in_three_pieces() {
    let form = sample();
    let bytes: Vec<&[u8]> = form.chunks(1).collect();
    assert_eq!(read_all(&bytes).unwrap(), expected());
    for first in (0..form.len()).step_by(7) {
        for second in (first..=form.len()).step_by(5) {
            let pieces = [&form[..first], &form[first..second], &form[second..]];
            assert_eq!(read_all(&pieces).unwrap(), expected());
        }
    }
}

#[test]
fn holds_back_no_more_than_a_delimiter() {
    let mut reader = MultipartReader::new(BOUNDARY).unwrap();
    let mut events = Vec::new();
    let head = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n");
    reader.push(head.as_bytes(), &mut events).unwrap();
    let piece = vec![b'a'; 100_000];
    let mut body_bytes = 0;
    for _ in 0..10 {
        reader.push(&piece, &mut events).unwrap();
        assert!(reader.buf.len() < BOUNDARY.len() + 4);
    }
    for event in &events {
        if let FormEvent::Body(bytes) = event {
            body_bytes += bytes.len();
        }
    }
    assert!(body_bytes > 1_000_000 - BOUNDARY.len() - 4);
}

#[test]
fn a_missing_final_boundary_is_an_error() {
    let form = sample();
    let cut = form.len() - b"--\r\nepilogue".len();
    assert_eq!(
        read_all(&[&form[..cut]]),
        Err(MultipartError::NoFinalBoundary)
    );
    let mid = form.len() / 2;
    assert_eq!(
        read_all(&[&form[..mid]]),
        Err(MultipartError::NoFinalBoundary)
    );
    assert_eq!(read_all(&[b""]), Err(MultipartError::NoFinalBoundary));
}

#[test]
fn oversize_headers_are_an_error_whatever_the_split() {
    let filler = "x".repeat(MAX_PART_HEADER_BYTES);
    let form = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"k\"\r\nX-Filler: {filler}\r\n\r\nv\r\n--{BOUNDARY}--"
    );
    assert_eq!(
        read_all(&[form.as_bytes()]),
        Err(MultipartError::HeadersTooLarge)
    );
    let pieces: Vec<&[u8]> = form.as_bytes().chunks(1000).collect();
    assert_eq!(read_all(&pieces), Err(MultipartError::HeadersTooLarge));
}

#[test]
fn too_many_parts_are_an_error() {
    let mut form = String::new();
    for i in 0..=MAX_PARTS {
        form +=
            &format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nv\r\n");
    }
    form += &format!("--{BOUNDARY}--");
    assert_eq!(
        read_all(&[form.as_bytes()]),
        Err(MultipartError::TooManyParts)
    );
}

#[test]
fn malformed_forms_are_clear_errors() {
    let no_boundary = vec![b'a'; MAX_PREAMBLE_BYTES + 100];
    assert_eq!(
        read_all(&[&no_boundary]),
        Err(MultipartError::NoFirstBoundary)
    );
    let garbage = format!("--{BOUNDARY}xyz\r\n");
    assert_eq!(
        read_all(&[garbage.as_bytes()]),
        Err(MultipartError::BadBoundaryLine)
    );
    let no_colon =
        format!("--{BOUNDARY}\r\nContent-Disposition form-data\r\n\r\nv\r\n--{BOUNDARY}--");
    assert!(matches!(
        read_all(&[no_colon.as_bytes()]),
        Err(MultipartError::BadHeader(_))
    ));
    let no_name =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nv\r\n--{BOUNDARY}--");
    assert!(matches!(
        read_all(&[no_name.as_bytes()]),
        Err(MultipartError::BadHeader(_))
    ));
    let no_disposition = format!("--{BOUNDARY}\r\n\r\nv\r\n--{BOUNDARY}--");
    assert!(matches!(
        read_all(&[no_disposition.as_bytes()]),
        Err(MultipartError::BadHeader(_))
    ));
    assert!(MultipartReader::new("").is_err());
    assert!(MultipartReader::new(&"b".repeat(MAX_BOUNDARY_BYTES + 1)).is_err());
}

#[test]
fn a_preamble_and_padding_after_a_boundary_are_skipped() {
    let form = format!(
        "preamble\r\n--{BOUNDARY} \t\r\nContent-Disposition: form-data; name=k\r\n\r\nv\r\n--{BOUNDARY}--"
    );
    assert_eq!(
        read_all(&[form.as_bytes()]).unwrap(),
        vec![
            field("k"),
            FormEvent::Body(b"v".to_vec()),
            FormEvent::PartEnd,
            FormEvent::End
        ]
    );
}

#[test]
fn boundaries_come_from_the_content_type() {
    assert_eq!(
        form_boundary("multipart/form-data; boundary=abc").unwrap(),
        Ok("abc".into())
    );
    assert_eq!(
        form_boundary("Multipart/Form-Data;charset=utf-8; boundary=\"a b:c\"").unwrap(),
        Ok("a b:c".into())
    );
    assert!(form_boundary("multipart/form-data").unwrap().is_err());
    assert!(form_boundary("text/plain").is_none());
    assert!(form_boundary("application/octet-stream; boundary=x").is_none());
}
