//! The calculator port's two framings, told apart line by line, and the
//! answer to each: plain data in, bytes to send out, no sockets.
//!
//! - **JSON** (the original wire): a line starting with `{` is one object
//!   `{"v1": 3, "op": "+", "v2": 4}`, answered `{"status": "ok", "result": 7}`
//!   or `{"status": "error", "message": "division by zero"}`. `v1` and `v2`
//!   are numbers or strings holding an expression (`"1/3"`, exact and of any
//!   size); `op` is one of `+ - * / % ^`. Optional `"digits": N` and
//!   `"fraction": true` choose how a non-integer result is shown (a JSON
//!   number, or the string `"1/3"`).
//! - **Text**: any other line is an expression (`2 * (3 + 4)`), answered
//!   `14`, or `error: MESSAGE at column N`. A line may end with `; fraction`
//!   or `; digits N` to choose how the result is shown.

use malachite_q::Rational;
use serde_json::Value;

use super::expression::{CalcError, Operator, apply, evaluate};
use super::number::{MAX_DIGITS, Notation, parse_literal, show};

/// One request line answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The reply, ending in `\n`.
    pub reply: Vec<u8>,
    /// The expression as it was understood, for the log (`3 + 4` for JSON).
    pub expression: String,
    /// The result as shown, or the error message.
    pub outcome: Result<String, String>,
}

/// Answers one request line (without its `\n`), in the framing it came in.
pub fn answer_line(line: &[u8], default_notation: Notation) -> Answer {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(e) => {
            let message = format!("the line is not UTF-8 at column {}", e.valid_up_to() + 1);
            return text_answer(String::from_utf8_lossy(line).into_owned(), Err(message));
        }
    };
    if text.trim_start().starts_with('{') {
        json_answer(text, default_notation)
    } else {
        text_line_answer(text, default_notation)
    }
}

/// The answer to a line cut at `limit` bytes (`start` holds its first
/// bytes), in the framing it began in.
pub fn line_too_long(start: &[u8], limit: usize) -> Answer {
    let message = format!("the line is over {limit} bytes");
    let expression = format!("({limit}+ bytes)");
    if start.trim_ascii_start().starts_with(b"{") {
        return Answer {
            reply: json_error_reply(&message).into_bytes(),
            expression,
            outcome: Err(message),
        };
    }
    text_answer(expression, Err(message))
}

fn json_error_reply(message: &str) -> String {
    format!(
        "{{\"status\": \"error\", \"message\": {}}}\n",
        Value::String(message.to_string())
    )
}

fn text_answer(expression: String, outcome: Result<String, String>) -> Answer {
    let reply = match &outcome {
        Ok(result) => format!("{result}\n"),
        Err(message) => format!("error: {message}\n"),
    };
    Answer {
        reply: reply.into_bytes(),
        expression,
        outcome,
    }
}

fn text_line_answer(text: &str, default_notation: Notation) -> Answer {
    let (expression, options) = match text.split_once(';') {
        Some((expression, options)) => (expression, Some(options.trim())),
        None => (text, None),
    };
    let notation = match options.map(text_notation) {
        None => Ok(default_notation),
        Some(Ok(notation)) => Ok(notation),
        Some(Err(message)) => Err(message),
    };
    let outcome = notation.and_then(|notation| {
        evaluate(expression)
            .map(|value| show(&value, notation))
            .map_err(|e| e.to_string())
    });
    text_answer(expression.trim().to_string(), outcome)
}

fn text_notation(option: &str) -> Result<Notation, String> {
    let words: Vec<&str> = option.split_whitespace().collect();
    match words.as_slice() {
        ["fraction"] => Ok(Notation::Fraction),
        ["digits", n] => match n.parse::<u32>() {
            Ok(digits) if digits <= MAX_DIGITS => Ok(Notation::Decimal { digits }),
            _ => Err(format!("digits takes 0 to {MAX_DIGITS}, not `{n}`")),
        },
        _ => Err(format!(
            "unknown option `{option}` (use `; fraction` or `; digits N`)"
        )),
    }
}

fn json_answer(text: &str, default_notation: Notation) -> Answer {
    let mut expression = text.trim().to_string();
    let outcome = serde_json::from_str::<Value>(text)
        .map_err(|e| format!("malformed JSON: {e}"))
        .and_then(|request| {
            let (v1, op, v2, notation) = json_request(&request, default_notation)?;
            expression = format!(
                "{} {} {}",
                show(&v1, Notation::Fraction),
                op.1,
                show(&v2, Notation::Fraction)
            );
            apply(op.0, &v1, &v2, 0)
                .map(|value| json_result(&value, notation))
                .map_err(|e| e.message())
        });
    let reply = match &outcome {
        Ok(result) => format!("{{\"status\": \"ok\", \"result\": {result}}}\n"),
        Err(message) => json_error_reply(message),
    };
    Answer {
        reply: reply.into_bytes(),
        expression,
        outcome,
    }
}

type JsonRequest<'a> = (Rational, (Operator, &'a str), Rational, Notation);

fn json_request(request: &Value, default_notation: Notation) -> Result<JsonRequest<'_>, String> {
    let object = request
        .as_object()
        .ok_or("the request is not a JSON object")?;
    let operand = |key: &str| -> Result<Rational, String> {
        match object.get(key) {
            None => Err(format!("`{key}` is missing")),
            Some(Value::Number(number)) => {
                // A number's shortest text that reads back the same value:
                // 0.1 means one tenth, not the binary double nearest to it.
                let text = number.to_string();
                match parse_literal(text.trim_start_matches('-').as_bytes()) {
                    Ok((value, used))
                        if used + usize::from(text.starts_with('-')) == text.len() =>
                    {
                        Ok(if text.starts_with('-') { -value } else { value })
                    }
                    _ => Err(format!("`{key}` is out of range: {text}")),
                }
            }
            Some(Value::String(text)) => {
                evaluate(text).map_err(|e: CalcError| format!("`{key}`: {e}"))
            }
            Some(_) => Err(format!("`{key}` is not a number")),
        }
    };
    let v1 = operand("v1")?;
    let v2 = operand("v2")?;
    let symbol = object
        .get("op")
        .ok_or("`op` is missing")?
        .as_str()
        .ok_or("`op` is not a string")?;
    let op = Operator::from_symbol(symbol)
        .ok_or_else(|| format!("unknown op `{symbol}` (use + - * / % ^)"))?;
    let mut notation = default_notation;
    if let Some(digits) = object.get("digits") {
        match digits.as_u64() {
            Some(digits) if digits <= u64::from(MAX_DIGITS) => {
                notation = Notation::Decimal {
                    digits: digits as u32,
                }
            }
            _ => return Err(format!("`digits` takes 0 to {MAX_DIGITS}")),
        }
    }
    if object.get("fraction") == Some(&Value::Bool(true)) {
        notation = Notation::Fraction;
    }
    Ok((v1, (op, symbol), v2, notation))
}

/// A result as a JSON value: a number, or a string for an exact fraction.
fn json_result(value: &Rational, notation: Notation) -> String {
    let shown = show(value, notation);
    if shown.contains('/') {
        Value::String(shown).to_string()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(line: &str) -> String {
        String::from_utf8(answer_line(line.as_bytes(), Notation::default()).reply).unwrap()
    }

    #[test]
    fn the_original_json_wire_is_answered_in_json() {
        assert_eq!(
            reply(r#"{"v1": 3, "op": "+", "v2": 4}"#),
            "{\"status\": \"ok\", \"result\": 7}\n"
        );
        assert_eq!(
            reply(r#"{"v1": 1, "op": "/", "v2": 3}"#),
            "{\"status\": \"ok\", \"result\": 0.33333333333333333333}\n"
        );
        assert_eq!(
            reply(r#"{"v1": 0.1, "op": "+", "v2": 0.2}"#),
            "{\"status\": \"ok\", \"result\": 0.3}\n"
        );
        assert_eq!(
            reply(r#"{"v1": -2.5, "op": "*", "v2": "10^30"}"#),
            format!(
                "{{\"status\": \"ok\", \"result\": -25{}}}\n",
                "0".repeat(29)
            )
        );
        assert_eq!(
            reply(r#"{"v1": 1, "op": "/", "v2": 3, "fraction": true}"#),
            "{\"status\": \"ok\", \"result\": \"1/3\"}\n"
        );
        assert_eq!(
            reply(r#"{"v1": 2, "op": "/", "v2": 3, "digits": 3}"#),
            "{\"status\": \"ok\", \"result\": 0.667}\n"
        );
    }

    #[test]
    fn json_errors_are_json_answers() {
        assert_eq!(
            reply(r#"{"v1": 1, "op": "/", "v2": 0}"#),
            "{\"status\": \"error\", \"message\": \"division by zero\"}\n"
        );
        for bad in [
            r#"{"v1": 1, "op": "?", "v2": 0}"#,
            r#"{"v1": 1, "op": "+"}"#,
            r#"{"v1": true, "op": "+", "v2": 1}"#,
            r#"{"v1": 1, "op": "+", "v2": 1, "digits": -1}"#,
            r#"{"v1": 3,"#,
            "{",
        ] {
            let answer = reply(bad);
            assert!(
                answer.starts_with("{\"status\": \"error\", \"message\": \""),
                "{bad} -> {answer}"
            );
            let parsed: Value = serde_json::from_str(&answer).unwrap();
            assert_eq!(parsed["status"], "error");
        }
    }

    #[test]
    fn text_lines_are_answered_in_text() {
        assert_eq!(reply("2 * (3 + 4)"), "14\n");
        assert_eq!(reply("2 * (3 + 4)\r"), "14\n");
        assert_eq!(reply("1/3 ; fraction"), "1/3\n");
        assert_eq!(reply("2/3 ; digits 2"), "0.67\n");
        assert_eq!(reply("1 / 0"), "error: division by zero at column 3\n");
        assert!(reply("1 ; sideways").starts_with("error: unknown option"));
        assert!(reply("").starts_with("error: expected a number"));
    }

    #[test]
    fn garbage_bytes_get_an_error_line() {
        let answer = answer_line(b"1 + \xff\xfe", Notation::default());
        assert_eq!(answer.reply, b"error: the line is not UTF-8 at column 5\n");
        assert!(answer.outcome.is_err());
    }

    #[test]
    fn the_log_sees_the_expression_and_the_result() {
        let answer = answer_line(br#"{"v1": 3, "op": "*", "v2": 4}"#, Notation::default());
        assert_eq!(answer.expression, "3 * 4");
        assert_eq!(answer.outcome, Ok("12".into()));
    }

    #[test]
    fn any_bytes_get_exactly_one_answer_line() {
        // Random lines built from the characters that matter to both
        // framings, and from arbitrary bytes: never a panic, always one line.
        let alphabet = b"0123456789.eE+-*/%^() {}[]\":,;xv12opdigtsfracn\xff\x00";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..20_000 {
            let len = next(40);
            let line: Vec<u8> = (0..len)
                .map(|_| {
                    if next(10) == 0 {
                        next(256) as u8
                    } else {
                        alphabet[next(alphabet.len())]
                    }
                })
                .filter(|&b| b != b'\n')
                .collect();
            let answer = answer_line(&line, Notation::default());
            assert_eq!(answer.reply.iter().filter(|&&b| b == b'\n').count(), 1);
            assert_eq!(answer.reply.last(), Some(&b'\n'));
            if line.trim_ascii_start().starts_with(b"{") && std::str::from_utf8(&line).is_ok() {
                let reply: Value = serde_json::from_slice(&answer.reply).expect("a JSON reply");
                assert!(reply["status"] == "ok" || reply["status"] == "error");
            }
        }
    }
}
