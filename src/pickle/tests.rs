//! The codec against pickles CPython wrote (3.11, `pickle.dumps`), against
//! malicious ones, and against its own output.

use super::*;

fn s(text: &str) -> Value {
    Value::Str(text.into())
}

fn dict(items: Vec<(&str, Value)>) -> Value {
    Value::Dict(items.into_iter().map(|(k, v)| (s(k), v)).collect())
}

fn put_kv() -> Value {
    dict(vec![
        ("method", s("PUT")),
        ("args", dict(vec![("key", s("k")), ("value", s("v"))])),
    ])
}

// pickle.dumps({"method": "PUT", "args": {"key": "k", "value": "v"}}, protocol=P)
const PUT_PROTOCOL_0: &[u8] =
    b"(dp0\nVmethod\np1\nVPUT\np2\nsVargs\np3\n(dp4\nVkey\np5\nVk\np6\nsVvalue\np7\nVv\np8\nss.";
const PUT_PROTOCOL_2: &[u8] = b"\x80\x02}q\x00(X\x06\x00\x00\x00methodq\x01X\x03\x00\x00\x00PUTq\x02X\x04\x00\x00\x00argsq\x03}q\x04(X\x03\x00\x00\x00keyq\x05X\x01\x00\x00\x00kq\x06X\x05\x00\x00\x00valueq\x07X\x01\x00\x00\x00vq\x08uu.";
const PUT_PROTOCOL_4: &[u8] = b"\x80\x04\x955\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x06method\x94\x8c\x03PUT\x94\x8c\x04args\x94}\x94(\x8c\x03key\x94\x8c\x01k\x94\x8c\x05value\x94\x8c\x01v\x94uu.";
/// The same PUT whose value is an object reducing to os.system("echo hi").
const PUT_WITH_REDUCE_ATTACK: &[u8] = b"\x80\x04\x95R\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x06method\x94\x8c\x03PUT\x94\x8c\x04args\x94}\x94(\x8c\x03key\x94\x8c\x01k\x94\x8c\x05value\x94\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x07echo hi\x94\x85\x94R\x94uu.";

fn scalars() -> Value {
    dict(vec![
        (
            "t",
            Value::Tuple(vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Float(3.5),
                Value::Bool(true),
                Value::Bool(false),
                Value::None,
            ]),
        ),
        ("big", Value::Int(-(1 << 40))),
        ("s", s("é\\\n")),
    ])
}

// pickle.dumps({'t': (1, -2, 3.5, True, False, None), 'big': -2**40, 's': 'é\\\n'}, protocol=P)
const SCALARS_PROTOCOL_0: &[u8] = b"(dp0\nVt\np1\n(I1\nI-2\nF3.5\nI01\nI00\nNtp2\nsVbig\np3\nL-1099511627776L\nsVs\np4\nV\xe9\\u005c\\u000a\np5\ns.";
const SCALARS_PROTOCOL_2: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00tq\x01(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00\x88\x89Ntq\x02X\x03\x00\x00\x00bigq\x03\x8a\x06\x00\x00\x00\x00\x00\xffX\x01\x00\x00\x00sq\x04X\x04\x00\x00\x00\xc3\xa9\\\nq\x05u.";
const SCALARS_PROTOCOL_4: &[u8] = b"\x80\x04\x958\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01t\x94(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00\x88\x89Nt\x94\x8c\x03big\x94\x8a\x06\x00\x00\x00\x00\x00\xff\x8c\x01s\x94\x8c\x04\xc3\xa9\\\n\x94u.";

#[test]
fn cpython_pickles_of_protocols_0_2_and_4_decode_to_the_same_dict() {
    for bytes in [PUT_PROTOCOL_0, PUT_PROTOCOL_2, PUT_PROTOCOL_4] {
        assert_eq!(decode(bytes).unwrap(), put_kv());
    }
    for bytes in [SCALARS_PROTOCOL_0, SCALARS_PROTOCOL_2, SCALARS_PROTOCOL_4] {
        assert_eq!(decode(bytes).unwrap(), scalars());
    }
}

#[test]
fn plain_data_of_protocol_4_decodes_with_its_tuples_and_lists_apart() {
    // pickle.dumps({'a': [1, 2.5, 'x', None, True], 'b': (300, -5, 2**40)})
    let bytes = b"\x80\x04\x954\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00\x8c\x01x\x94N\x88e\x8c\x01b\x94M,\x01J\xfb\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01\x87\x94u.";
    assert_eq!(
        decode(bytes).unwrap(),
        dict(vec![
            (
                "a",
                Value::List(vec![
                    Value::Int(1),
                    Value::Float(2.5),
                    s("x"),
                    Value::None,
                    Value::Bool(true)
                ])
            ),
            (
                "b",
                Value::Tuple(vec![Value::Int(300), Value::Int(-5), Value::Int(1 << 40)])
            ),
        ])
    );
}

#[test]
fn small_ints_of_protocol_4_decode() {
    let get = b"\x80\x04\x95&\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x06method\x94\x8c\x03GET\x94\x8c\x04args\x94}\x94\x8c\x03key\x94K\x07su.";
    let value = decode(get).unwrap();
    assert_eq!(value.get("args").unwrap().get("key"), Some(&Value::Int(7)));
}

#[test]
fn bytes_of_protocol_3_decode_as_bytes() {
    // pickle.dumps({'k': b'\x00\x01'}, protocol=3)
    let bytes = b"\x80\x03}q\x00X\x01\x00\x00\x00kq\x01C\x02\x00\x01q\x02s.";
    assert_eq!(
        decode(bytes).unwrap(),
        dict(vec![("k", Value::Bytes(vec![0, 1]))])
    );
}

#[test]
fn protocol_0_unicode_escapes_decode() {
    assert_eq!(decode(b"V\\u00e9t\\u00e9\np0\n.").unwrap(), s("été"));
}

#[test]
fn a_list_memoized_before_it_is_filled_is_shared_filled() {
    // x = [1]; pickle.dumps([x, x])
    let bytes = b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94(]\x94K\x01ah\x01e.";
    let inner = Value::List(vec![Value::Int(1)]);
    assert_eq!(
        decode(bytes).unwrap(),
        Value::List(vec![inner.clone(), inner])
    );
    // The same through protocol 0's text PUT and GET, and through DUP.
    let text = b"(lp0\n(lp1\nI1\naag1\na.";
    assert_eq!(decode(text).unwrap(), decode(bytes).unwrap());
    assert_eq!(
        decode(b"]2K\x01a\x86.").unwrap(),
        Value::Tuple(vec![
            Value::List(vec![Value::Int(1)]),
            Value::List(vec![Value::Int(1)])
        ])
    );
}

#[test]
fn every_code_loading_opcode_is_refused_by_name() {
    let cases: [(&[u8], u8, &str); 13] = [
        (b"cos\nsystem\n.", b'c', "GLOBAL"),
        (
            b"\x80\x04\x8c\x02os\x8c\x06system\x93.",
            0x93,
            "STACK_GLOBAL",
        ),
        (b"\x80\x02N)R.", b'R', "REDUCE"),
        (b"}Nb.", b'b', "BUILD"),
        (b"(ios\nsystem\n.", b'i', "INST"),
        (b"(No.", b'o', "OBJ"),
        (b"N)\x81.", 0x81, "NEWOBJ"),
        (b"N)}\x92.", 0x92, "NEWOBJ_EX"),
        (b"\x82\x01.", 0x82, "EXT1"),
        (b"\x83\x01\x00.", 0x83, "EXT2"),
        (b"\x84\x01\x00\x00\x00.", 0x84, "EXT4"),
        (b"P1\n.", b'P', "PERSID"),
        (b"NQ.", b'Q', "BINPERSID"),
    ];
    for (bytes, opcode, name) in cases {
        let err = decode(bytes).unwrap_err();
        assert_eq!(err, PickleError::Refused { opcode, name });
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn os_system_and_reduce_tricks_are_refused_before_anything_runs() {
    assert_eq!(
        decode(PUT_WITH_REDUCE_ATTACK),
        Err(PickleError::Refused {
            opcode: 0x93,
            name: "STACK_GLOBAL"
        })
    );
    // pickle.dumps(os.system)
    let bytes =
        b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94.";
    assert!(matches!(
        decode(bytes),
        Err(PickleError::Refused { opcode: 0x93, .. })
    ));
    // class E: __reduce__ = lambda self: (os.system, ('echo pwned',)); pickle.dumps(E(), protocol=P)
    let protocol_0 = b"cposix\nsystem\np0\n(Vecho pwned\np1\ntp2\nRp3\n.";
    let protocol_2 = b"\x80\x02cposix\nsystem\nq\x00X\n\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.";
    for bytes in [&protocol_0[..], &protocol_2[..]] {
        assert!(matches!(
            decode(bytes),
            Err(PickleError::Refused { opcode: b'c', .. })
        ));
    }
}

#[test]
fn data_opcodes_without_a_value_here_are_unsupported_by_name() {
    assert_eq!(
        decode(b"\x80\x04\x8f."),
        Err(PickleError::Unsupported {
            opcode: 0x8f,
            name: "EMPTY_SET"
        })
    );
    assert_eq!(
        decode(b"S'py2'\n."),
        Err(PickleError::Unsupported {
            opcode: b'S',
            name: "STRING"
        })
    );
    assert_eq!(
        decode(b"\xff"),
        Err(PickleError::Unsupported {
            opcode: 0xff,
            name: "unknown"
        })
    );
}

#[test]
fn a_self_referencing_list_or_tuple_is_refused_not_looped() {
    // x = []; x.append(x); pickle.dumps(x)
    let list = b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94h\x00a.";
    // a = []; t = (a,); a.append(t); pickle.dumps(t, protocol=2)
    let tuple = b"\x80\x02]q\x00h\x00\x85q\x01a0h\x01.";
    for bytes in [&list[..], &tuple[..]] {
        assert_eq!(
            decode(bytes),
            Err(PickleError::TooDeep { limit: MAX_DEPTH })
        );
    }
}

#[test]
fn a_memo_reference_bomb_is_refused() {
    // Each level is a list holding the previous level twice: 2^40 leaves.
    let mut bytes = b"\x80\x04K\x00\x94".to_vec();
    for level in 0..40u8 {
        bytes.extend_from_slice(&[b'(', b'h', level, b'h', level, b'l', 0x94]);
    }
    bytes.push(b'.');
    assert_eq!(
        decode(&bytes),
        Err(PickleError::TooLarge { limit: MAX_VALUES })
    );
}

#[test]
fn limits_are_the_callers_to_choose() {
    let nested = encode(&Value::List(vec![Value::List(vec![Value::Int(1)])]));
    let tight = Limits {
        max_depth: 1,
        ..Limits::default()
    };
    assert_eq!(
        decode_with(&nested, &tight),
        Err(PickleError::TooDeep { limit: 1 })
    );
    let few = Limits {
        max_values: 2,
        ..Limits::default()
    };
    assert_eq!(
        decode_with(&nested, &few),
        Err(PickleError::TooLarge { limit: 2 })
    );
    assert!(decode(&nested).is_ok());
}

#[test]
fn a_long_str_shared_through_the_memo_counts_once_per_reference() {
    // A 250-byte str memoized once and referenced 400 times: 100 000 bytes of text.
    let mut bytes = b"\x80\x04]\x94(\x8c".to_vec();
    bytes.push(250);
    bytes.extend_from_slice(&[b'x'; 250]);
    bytes.push(0x94);
    for _ in 0..399 {
        bytes.extend_from_slice(b"h\x01");
    }
    bytes.extend_from_slice(b"e.");
    let limits = Limits {
        max_text_bytes: 99_999,
        ..Limits::default()
    };
    assert_eq!(
        decode_with(&bytes, &limits),
        Err(PickleError::TooManyTextBytes { limit: 99_999 })
    );
    let Value::List(items) = decode(&bytes).unwrap() else {
        panic!("a list")
    };
    assert_eq!(items.len(), 400);
}

#[test]
fn truncated_and_malformed_pickles_are_errors() {
    assert_eq!(decode(&PUT_PROTOCOL_4[..20]), Err(PickleError::Truncated));
    assert_eq!(decode(b""), Err(PickleError::Truncated));
    assert_eq!(decode(b"\x80\x04J\x01\x00"), Err(PickleError::Truncated));
    assert_eq!(decode(b"\x80\x04K\x01"), Err(PickleError::Truncated));
    assert_eq!(decode(b"Vno newline"), Err(PickleError::Truncated));
    assert!(matches!(decode(b"s."), Err(PickleError::Malformed(_))));
    assert_eq!(decode(b"\x8a\x09"), Err(PickleError::Truncated));
    // 2**64: a whole int, but not one a Value holds (a Document does).
    assert!(matches!(
        decode(b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01."),
        Err(PickleError::Malformed(_))
    ));
    assert!(matches!(
        decode(b")K\x01a."),
        Err(PickleError::Malformed(_))
    ));
    assert!(matches!(decode(b"N.N"), Err(PickleError::Malformed(_))));
    assert_eq!(decode(b"h\x07."), Err(PickleError::EmptyMemoSlot(7)));
    assert_eq!(decode(b"\x80\x06N."), Err(PickleError::UnknownProtocol(6)));
    assert_eq!(decode(b"\x80\x05N.").unwrap(), Value::None);
}

#[test]
fn a_repeated_key_replaces_the_value_in_place_as_in_python() {
    // {'a': 1, 'b': 2, 'a': 3} built with SETITEMS, then SETITEM.
    let bytes = b"}(X\x01\x00\x00\x00aK\x01X\x01\x00\x00\x00bK\x02uX\x01\x00\x00\x00aK\x03s.";
    assert_eq!(
        decode(bytes).unwrap(),
        dict(vec![("a", Value::Int(3)), ("b", Value::Int(2))])
    );
}

#[test]
fn tuple_keys_are_kept_and_list_keys_refused() {
    // pickle.dumps({(1, 'a'): 2})
    let bytes =
        b"\x80\x04\x95\x0e\x00\x00\x00\x00\x00\x00\x00}\x94K\x01\x8c\x01a\x94\x86\x94K\x02s.";
    assert_eq!(
        decode(bytes).unwrap(),
        Value::Dict(vec![(
            Value::Tuple(vec![Value::Int(1), s("a")]),
            Value::Int(2)
        )])
    );
    assert!(matches!(
        decode(b"}]K\x01s."),
        Err(PickleError::Malformed(_))
    ));
}

#[test]
fn every_kind_of_value_round_trips() {
    let value = dict(vec![
        ("method", s("ACK")),
        (
            "args",
            Value::List(vec![
                Value::Int(-5),
                Value::Int(i64::MIN),
                Value::Int(1 << 40),
                Value::Float(2.5),
                Value::Bytes(vec![0, 1]),
                Value::Tuple(vec![]),
                Value::Tuple(vec![Value::None, Value::Bool(true)]),
                Value::Tuple((0..5).map(Value::Int).collect()),
                Value::Dict(vec![]),
                Value::List(vec![]),
                s("a<b & \"c\" ünï"),
            ]),
        ),
        (
            "shared",
            Value::Dict(vec![(Value::Int(1), Value::Bool(false))]),
        ),
    ]);
    assert_eq!(decode(&encode(&value)).unwrap(), value);
}

#[test]
fn the_protocol_is_2_unless_the_value_holds_bytes() {
    // The payload of docs/broker-protocol.md's example exchange.
    assert_eq!(encode(&Value::Int(42)), b"\x80\x02J\x2a\x00\x00\x00.");
    let with_bytes = encode(&Value::List(vec![Value::Bytes(b"x".to_vec())]));
    assert_eq!(&with_bytes[..2], b"\x80\x03");
    let mut out = b"prefix".to_vec();
    encode_into(&Value::Bytes(vec![]), &mut out);
    assert_eq!(out, b"prefix\x80\x03B\x00\x00\x00\x00.");
}

// pickle.dumps(b'\x00\xffbytes', 2) and pickle.dumps(b'', 2): Python 3 spells
// bytes as calls in protocol 2.
const BYTES_PROTOCOL_2: &[u8] = b"\x80\x02c_codecs\nencode\nq\x00X\x08\x00\x00\x00\x00\xc3\xbfbytesq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.";
const EMPTY_BYTES_PROTOCOL_2: &[u8] = b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01.";
// pickle.dumps([2**64, -2**70, (1,)], 2)
const BIG_INTS_PROTOCOL_2: &[u8] = b"\x80\x02]q\x00(\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00\x01\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00\xc0K\x01\x85q\x01e.";

#[test]
fn a_document_keeps_ints_of_any_size_and_writes_them_back() {
    let document = decode_document(BIG_INTS_PROTOCOL_2, &Limits::default()).unwrap();
    assert_eq!(
        document.repr(document.root()),
        "[18446744073709551616, -1180591620717411303424, (1,)]"
    );
    let again = document.canonical(document.root()).unwrap();
    let reread = decode_document(&again, &Limits::default()).unwrap();
    assert_eq!(reread.repr(reread.root()), document.repr(document.root()));
    assert!(
        document.value(document.root()).is_err(),
        "a Value holds 64 bits"
    );
    assert!(
        decode(BIG_INTS_PROTOCOL_2).is_err(),
        "decode refuses what it cannot hold"
    );
}

#[test]
fn a_document_reads_protocol_2_bytes_and_refuses_every_other_call() {
    let limits = Limits::default();
    let document = decode_document(BYTES_PROTOCOL_2, &limits).unwrap();
    assert_eq!(
        document.value(document.root()).unwrap(),
        Value::Bytes(b"\x00\xffbytes".to_vec())
    );
    let empty = decode_document(EMPTY_BYTES_PROTOCOL_2, &limits).unwrap();
    assert_eq!(empty.value(empty.root()).unwrap(), Value::Bytes(Vec::new()));
    assert!(matches!(
        decode(BYTES_PROTOCOL_2),
        Err(PickleError::Refused { opcode: b'c', .. })
    ));
    for hostile in [
        &b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00id\x85R."[..],
        b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00utf_8\x86R.",
        b"\x80\x02c_codecs\nencode\n.",
        PUT_WITH_REDUCE_ATTACK,
    ] {
        assert!(decode_document(hostile, &limits).is_err(), "{hostile:?}");
    }
}

#[test]
fn a_document_entry_finds_a_str_key_and_writes_a_part_alone() {
    let document = decode_document(PUT_PROTOCOL_4, &Limits::default()).unwrap();
    let args = document.entry(document.root(), "args").unwrap();
    let value = document.entry(args, "value").unwrap();
    assert_eq!(document.canonical(value).unwrap(), encode(&s("v")));
    assert!(document.entry(args, "missing").is_none());
    assert!(document.entry(value, "v").is_none(), "not a dict");
}

#[test]
fn writing_a_document_is_bounded_like_reading() {
    // A list holding itself through the memo.
    let cycle = b"\x80\x02]q\x00h\x00a.";
    assert!(decode_document(cycle, &Limits::default()).is_err());
    let limits = Limits {
        max_values: 3,
        ..Limits::default()
    };
    assert!(decode_document(BIG_INTS_PROTOCOL_2, &limits).is_err());
}
