//! `distloop lb --check`: every problem of a configuration, found without
//! binding a port or connecting to a backend (as `haproxy -c`, `nginx -t`).
//!
//! The file is parsed (a syntax error or an unknown key stops there, as TOML
//! can say no more after it), then each value is parsed on its own, then the
//! merged configuration's invariants are checked; each problem is named with
//! the file and line that set it, or `command line` when a flag did.

use super::LbArgs;
use super::config_file::ConfigFile;
use crate::lb::config::Setting;

/// What `--check` prints when nothing is wrong.
pub const VALID: &str = "configuration is valid";

/// Every problem of the configuration `args` describe, one line each; empty
/// when it is valid.
pub fn problems(args: &LbArgs) -> Vec<String> {
    let file = match args.read_file() {
        Ok(file) => file,
        Err(problem) => return vec![problem.to_string()],
    };
    let mut parse_problems = Vec::new();
    let config = args.merge(&file, &mut parse_problems);
    let mut found: Vec<String> = parse_problems.iter().map(ToString::to_string).collect();
    for (setting, problem) in config.problems() {
        // Backends that did not parse are already listed; "no backend"
        // would only repeat them.
        if setting == Setting::Backends && !file.settings.backend.is_empty() {
            continue;
        }
        found.push(format!("{}: {problem}", where_set(args, &file, setting)));
    }
    found
}

/// `lb.toml:7` when the file set it, `command line` when a flag did (or no
/// one did and the default is at fault).
fn where_set(args: &LbArgs, file: &ConfigFile, setting: Setting) -> String {
    let from_file = args.config.is_some();
    let line = match setting {
        Setting::Key(key) if !args.flag_given(key) => file.line_of_key(key),
        Setting::Backend(index) if args.backends.is_empty() => file.line_of_backend(index),
        Setting::Backends if args.backends.is_empty() && from_file => {
            return file.path.clone();
        }
        _ => None,
    };
    match line {
        Some(line) => format!("{}:{line}", file.path),
        None => "command line".to_string(),
    }
}

impl LbArgs {
    /// Whether the flag of config-file key `key` was given (and so wins over the file).
    pub(super) fn flag_given(&self, key: &str) -> bool {
        match key {
            "listen" => self.listen.is_some(),
            "mode" => self.mode.is_some(),
            "strategy" => self.strategy.is_some(),
            "hash_on" => self.hash_on.is_some(),
            "workers" => self.workers.is_some(),
            "admin" => self.admin.is_some(),
            "access_log" => self.access_log.is_some(),
            "connect_timeout" => self.connect_timeout.is_some(),
            "idle_timeout" => self.idle_timeout.is_some(),
            "backoff" => self.backoff.is_some(),
            "drain_timeout" => self.drain_timeout.is_some(),
            "buffer_bytes" => self.buffer_bytes.is_some(),
            "max_connections" => self.max_connections.is_some(),
            "head_timeout" => self.head_timeout.is_some(),
            "response_timeout" => self.response_timeout.is_some(),
            "max_head_bytes" => self.max_head_bytes.is_some(),
            "max_body_bytes" => self.max_body_bytes.is_some(),
            "max_idle_per_backend" => self.max_idle_per_backend.is_some(),
            "pool_idle_timeout" => self.pool_idle_timeout.is_some(),
            "queue_timeout" => self.queue_timeout.is_some(),
            "max_buffers" => self.max_buffers.is_some(),
            "health.check" => self.health_check.is_some(),
            "health.interval" => self.health_interval.is_some(),
            "health.timeout" => self.health_timeout.is_some(),
            "health.rise" => self.rise.is_some(),
            "health.fall" => self.fall.is_some(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::args;
    use super::*;
    use std::path::PathBuf;

    fn with_file(name: &str, text: &str, flags: &[&str]) -> (LbArgs, PathBuf) {
        let path =
            std::env::temp_dir().join(format!("distloop-check-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let mut a = args(flags);
        a.config = Some(path.clone());
        (a, path)
    }

    #[test]
    fn a_good_file_has_no_problem() {
        let (a, path) = with_file(
            "good",
            "listen = \"127.0.0.1:0\"\n[[backend]]\naddress = \"127.0.0.1:5000\"\n",
            &[],
        );
        assert_eq!(problems(&a), Vec::<String>::new());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn every_bad_value_is_listed_with_its_line() {
        let (a, path) = with_file(
            "many",
            "listen = \"not an address\"\n\
             connect_timeout = \"soon\"\n\
             idle_timeout = \"90000h\"\n\
             [[backend]]\naddress = \"127.0.0.1:5000\"\nname = \"a\"\n\
             [[backend]]\naddress = \"127.0.0.1:5001\"\nname = \"a\"\n\
             [health]\nrise = 0\n",
            &[],
        );
        let found = problems(&a);
        let file = path.display().to_string();
        let expect = [
            format!("{file}:1: listen"),
            format!("{file}:2: connect_timeout"),
            format!("{file}:3: --idle-timeout must be at most 24h"),
            format!("{file}:11: --rise must be at least 1"),
            format!("{file}:7: two backends are named `a`"),
        ];
        for line in &expect {
            assert!(
                found.iter().any(|p| p.starts_with(line)),
                "{line} in {found:?}"
            );
        }
        assert_eq!(found.len(), 5, "{found:?}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_flag_is_blamed_on_the_command_line_not_the_file() {
        let (a, path) = with_file(
            "flag",
            "drain_timeout = \"1s\"\n[[backend]]\naddress = \"127.0.0.1:5000\"\n",
            &["--drain-timeout", "25h"],
        );
        assert_eq!(
            problems(&a),
            vec!["command line: --drain-timeout must be at most 24h".to_string()]
        );
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn unknown_keys_stop_the_check_with_their_line() {
        let (a, path) = with_file("unknown", "\nstrategee = \"random\"\n", &[]);
        let found = problems(&a);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(&format!("{}:2: ", path.display())),
            "{found:?}"
        );
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn no_backend_at_all_is_a_problem() {
        assert_eq!(
            problems(&args(&[])),
            vec!["command line: no backend given (use --backend ADDR)".to_string()]
        );
    }
}
