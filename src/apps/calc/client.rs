//! `distloop calc client`: sends expressions one line each over one
//! connection and prints one answer per line; exit code 1 when any answer
//! was an error (or the server could not be reached).

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use super::expression::Operator;
use super::number::parse_literal;

/// What the client is asked to do.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server or balancer.
    pub server: SocketAddr,
    /// Speak the original JSON wire.
    pub json: bool,
    /// Ask for exact fractions.
    pub fraction: bool,
    /// Connect and answer timeout.
    pub timeout: Duration,
    /// Expressions from the command line; none means stdin.
    pub expressions: Vec<String>,
}

/// Splits `V1 OP V2` (two number literals around one operator) for the
/// JSON wire.
///
/// ```
/// use distloop::apps::calc::client::split_operation;
/// assert_eq!(split_operation("-3 * 4.5"), Some(("-3".into(), "*", "4.5".into())));
/// assert_eq!(split_operation("1e-3 - -2"), Some(("1e-3".into(), "-", "-2".into())));
/// assert_eq!(split_operation("2 ** 8"), Some(("2".into(), "**", "8".into())));
/// assert_eq!(split_operation("1 + 2 + 3"), None);
/// ```
pub fn split_operation(text: &str) -> Option<(String, &str, String)> {
    let text = text.trim();
    let (first, rest) = number_prefix(text)?;
    let rest = rest.trim_start();
    let width = if rest.starts_with("**") { 2 } else { 1 };
    let symbol = rest.get(..width)?;
    Operator::from_symbol(symbol)?;
    let (second, tail) = number_prefix(rest[width..].trim_start())?;
    tail.trim()
        .is_empty()
        .then(|| (first.to_string(), symbol, second.to_string()))
}

/// A signed number literal at the front of `text`, and what follows it.
fn number_prefix(text: &str) -> Option<(&str, &str)> {
    let sign = usize::from(text.starts_with('-'));
    let (_, used) = parse_literal(&text.as_bytes()[sign..]).ok()?;
    Some(text.split_at(sign + used))
}

/// The JSON request for `V1 OP V2`: operands as JSON numbers when JSON can
/// write them as they are, otherwise as strings (`".5"`), which the server
/// reads exactly.
pub fn json_request(text: &str, fraction: bool) -> Result<String, String> {
    let (v1, op, v2) = split_operation(text)
        .ok_or_else(|| format!("the JSON wire takes one operation `V1 OP V2`, not `{text}`"))?;
    let operand = |literal: String| match serde_json::from_str::<Value>(&literal) {
        Ok(Value::Number(_)) => literal,
        _ => Value::String(literal).to_string(),
    };
    let extra = if fraction { ", \"fraction\": true" } else { "" };
    Ok(format!(
        "{{\"v1\": {}, \"op\": {}, \"v2\": {}{extra}}}",
        operand(v1),
        Value::String(op.to_string()),
        operand(v2)
    ))
}

/// Whether an answer line reports an error, in either framing.
pub fn is_error_answer(answer: &str, json: bool) -> bool {
    if json {
        serde_json::from_str::<Value>(answer)
            .map(|value| value["status"] != "ok")
            .unwrap_or(true)
    } else {
        answer.starts_with("error:")
    }
}

/// Runs the client; exit code 0, or 1 when any answer was an error or the
/// server failed.
pub fn run_client(config: &ClientConfig) -> ExitCode {
    match session(config) {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("distloop calc client: {}: {error}", config.server);
            ExitCode::FAILURE
        }
    }
}

/// Sends every expression; answers whether any answer was an error.
fn session(config: &ClientConfig) -> io::Result<bool> {
    let stream = TcpStream::connect_timeout(&config.server, config.timeout)?;
    stream.set_read_timeout(Some(config.timeout))?;
    stream.set_write_timeout(Some(config.timeout))?;
    stream.set_nodelay(true)?;
    let mut answers = BufReader::new(&stream);
    let mut writer = &stream;
    let interactive = config.expressions.is_empty() && io::stdin().is_terminal();
    let mut lines: Box<dyn Iterator<Item = io::Result<String>>> = if config.expressions.is_empty() {
        Box::new(io::stdin().lock().lines())
    } else {
        Box::new(config.expressions.clone().into_iter().map(Ok))
    };
    let mut any_error = false;
    loop {
        if interactive {
            eprint!("calc> ");
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let request = if config.json {
            match json_request(&line, config.fraction) {
                Ok(request) => request,
                Err(message) => {
                    println!("error: {message}");
                    any_error = true;
                    continue;
                }
            }
        } else if config.fraction && !line.contains(';') {
            format!("{line} ; fraction")
        } else {
            line.clone()
        };
        writer.write_all(format!("{request}\n").as_bytes())?;
        let mut answer = String::new();
        if answers.read_line(&mut answer)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        let answer = answer.trim_end();
        any_error |= is_error_answer(answer, config.json);
        writeln!(crate::cli::stdout(), "{answer}")?;
    }
    Ok(any_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_requests_keep_operands_exact() {
        assert_eq!(
            json_request("3 + 4", false).unwrap(),
            r#"{"v1": 3, "op": "+", "v2": 4}"#
        );
        assert_eq!(
            json_request(".5 / 3", true).unwrap(),
            r#"{"v1": ".5", "op": "/", "v2": 3, "fraction": true}"#
        );
        assert!(json_request("(1 + 2) * 3", false).is_err());
    }

    #[test]
    fn errors_are_recognised_in_both_framings() {
        assert!(is_error_answer(
            "error: division by zero at column 3",
            false
        ));
        assert!(!is_error_answer("14", false));
        assert!(!is_error_answer(r#"{"status": "ok", "result": 7}"#, true));
        assert!(is_error_answer(
            r#"{"status": "error", "message": "x"}"#,
            true
        ));
        assert!(is_error_answer("not json", true));
    }
}
